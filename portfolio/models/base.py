"""Shared column helpers."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def str_enum(cls: type[enum.Enum], name: str, length: int = 20) -> Enum:
    """A Python enum stored as its values in a VARCHAR with a CHECK, the same on SQLite and PostgreSQL.

    The CHECK is named ``ck_<table>_<name>``; adding a value to the enum needs a migration that
    drops and re-creates it (tests/test_schema_rules.py compares the database's CHECKs with these)."""
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=length,
                create_constraint=True)
