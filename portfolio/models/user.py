"""People and their roles."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum


class Role(enum.StrEnum):
    LEARNER = "learner"
    VAE_CANDIDATE = "vae_candidate"
    TUTOR = "tutor"
    JURY = "jury"
    ADMIN = "admin"


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, TimestampMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(8), default="fr")
    is_enabled: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Part of the id that sessions and remember-me cookies carry (``get_id``): replacing it ends them all.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    #: Set when the account was erased (GDPR): the row stays, pseudonymised, for the records kept.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    @property
    def roles(self) -> set[Role]:
        return {row.role for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_active(self) -> bool:  # Flask-Login refuses disabled accounts
        return self.is_enabled

    def get_id(self) -> str:
        """What the session and the remember-me cookie hold: the id and the current session token, so
        that a cookie is not a fixed function of the id and dies when the token is replaced."""
        if not self.session_token:
            self.session_token = new_session_token()
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        """Invalidate every session and remember-me cookie of this person, on every device."""
        self.session_token = new_session_token()

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class UserRole(Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(
        str_enum(Role, "role"),
        primary_key=True,
    )
    user: Mapped[User] = relationship(back_populates="role_rows")


class LoginAttempt(Model):
    """One sign-in attempt, counted against an address or an account (``services/login_limits``); the key
    is an HMAC of the address, e-mail or share link, never the value. Used when no Redis is configured."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        CheckConstraint("scope IN ('address', 'account', 'share')", name="scope"),
        Index("ix_login_attempts_scope_key_at", "scope", "key", "attempted_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
