"""The rows an UPDATE or DELETE matched, with a type.

``Session.execute()`` and ``Connection.execute()`` return a ``CursorResult`` for DML statements, but
SQLAlchemy types them as the generic ``Result``, which has no ``rowcount``."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows the UPDATE or DELETE that gave ``result`` matched."""
    return cast("CursorResult[*tuple[Any, ...]]", result).rowcount
