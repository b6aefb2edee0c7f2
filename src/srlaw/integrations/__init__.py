"""srlaw's artifacts in other systems: the MLflow model registry (:mod:`mlflow`, optional extra ``srlaw[mlflow]``)."""
