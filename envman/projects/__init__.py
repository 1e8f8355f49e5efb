"""The project and environment mapping: identity, moved projects, the `.venv` link, lookup."""
