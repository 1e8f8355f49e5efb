"""envman: one place for every Python virtual environment on the machine."""

__version__ = "0.1.0"
