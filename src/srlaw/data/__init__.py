"""From a user's file to a prepared dataset: readers, preparation, the evaluation protocol, data-quality scores."""
