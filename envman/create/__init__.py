"""Making a venv and putting pip in: in this process, with `python -m venv`, or with uv."""
