"""What every wing stands on: errors, atomic writes, ownership of output folders, provenance and manifests, model
sizes, settings checks, reading back its own files to resume, and the generated blocks of pages."""
