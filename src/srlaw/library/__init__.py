"""The law library: the shared-shape law, its index, calibration on a user's data, validation and release."""
