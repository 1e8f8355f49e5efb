"""The one error hierarchy: every failure envman expects carries its exit status."""

from __future__ import annotations

from typing import Optional


class EnvmanError(Exception):
    """Base of every expected failure; `cli` prints it as one line and exits."""

    exit_code = 1

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class OperationFailed(EnvmanError):
    """An install, a subprocess or a filesystem operation failed (status 1)."""

    exit_code = 1


class RegistryError(EnvmanError):
    """The registry cannot be read or written safely (status 1)."""

    exit_code = 1


class UnreadableRegistry(RegistryError):
    """The registry file exists but does not hold a registry envman can trust."""

    HINT = ("fix it by hand, or run `envman doctor --fix`: it keeps the file aside and "
            "rebuilds the registry from the store's markers")

    def __init__(self, message: str, hint: Optional[str] = HINT) -> None:
        super().__init__(message, hint)


class UsageError(EnvmanError):
    """Bad input: an invalid name, a missing file, no matching interpreter (status 2)."""

    exit_code = 2


class NotFound(EnvmanError):
    """No such environment, or none for this project (status 3)."""

    exit_code = 3
