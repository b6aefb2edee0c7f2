"""What every wing stands on: errors, atomic writes, provenance and manifests, model sizes and settings checks."""
