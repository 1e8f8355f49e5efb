"""envman: one place for every Python virtual environment on the machine."""

__version__ = "0.1.0"


def package_parent() -> str:
    """The directory that holds the `envman` package: what the `python -I -S` fast paths
    put first on `sys.path`."""
    import os  # here, not above: every fast path imports this package

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
