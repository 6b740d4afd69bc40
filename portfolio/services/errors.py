"""Domain exceptions that views turn into messages or 4xx answers."""

from __future__ import annotations


class DomainError(Exception):
    """A refused operation; ``message`` is for a person (already translated), ``field`` names a form field."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"
