"""Performance laws: the forms, fitting with held-out validation, and the one law.json builder and schema."""
