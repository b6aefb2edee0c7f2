"""Grids of training runs: one run's folder, lock and training, and Ray that trains many of them on one machine or a
cluster (:mod:`engine`); the ``srlaw grid`` command (:mod:`command`)."""
