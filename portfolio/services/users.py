"""Accounts: creation, roles, passwords, authentication."""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import Role, User, UserRole
from portfolio.models.base import utcnow
from portfolio.services import passwords
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)


def normalise_email(email: str) -> str:
    """Validate syntax (no DNS lookup) and lowercase, so that one person has one account."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise DomainError(_("Adresse e-mail invalide : %(email)s", email=email), field="email") from exc


def parse_roles(values: Iterable[str]) -> set[Role]:
    roles = set()
    for value in values:
        try:
            roles.add(Role(value))
        except ValueError as exc:
            allowed = ", ".join(r.value for r in Role)
            raise DomainError(
                _("Rôle inconnu : %(role)s (rôles possibles : %(allowed)s)", role=value, allowed=allowed),
                field="roles",
            ) from exc
    return roles


def check_password_strength(password: str, *, email: str = "", name: str = "") -> None:
    """Refuse a short, common or guessable password (every place a password is set calls this)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            _("Le mot de passe doit contenir au moins %(n)d caractères.", n=MIN_PASSWORD_LENGTH),
            field="password",
        )
    weakness = passwords.password_weakness(password, user_inputs=[email, name, *email.split("@")[:1]])
    if weakness == "common":
        raise DomainError(_("Ce mot de passe fait partie des mots de passe les plus courants : choisissez-en un "
                            "autre, par exemple une phrase de plusieurs mots sans rapport entre eux."),
                          field="password")
    if weakness == "personal":
        raise DomainError(_("Ce mot de passe reprend votre nom ou votre adresse e-mail : choisissez-en un autre."),
                          field="password")
    if weakness == "guessable":
        raise DomainError(_("Ce mot de passe est trop facile à deviner (mots courants, suites de touches, dates "
                            "ou répétitions) : allongez-le ou choisissez une phrase de plusieurs mots sans "
                            "rapport entre eux."), field="password")


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    email: str,
    name: str,
    roles: Iterable[Role],
    *,
    password: str | None = None,
    locale: str = "fr",
    actor: User | None = None,
) -> User:
    """Create an account; refuses a duplicate e-mail, an empty name or no role."""
    email = normalise_email(email)
    name = name.strip()
    roles = set(roles)
    if not name:
        raise DomainError(_("Le nom est obligatoire."), field="name")
    if not roles:
        raise DomainError(_("Choisissez au moins un rôle."), field="roles")
    if find_user_by_email(email) is not None:
        raise Conflict(_("Un compte existe déjà pour %(email)s.", email=email), field="email")
    user = User(email=email, name=name, locale=locale)
    if password is not None:
        check_password_strength(password, email=email, name=name)
        user.password_hash = hash_password(password)
    user.role_rows = [UserRole(role=role) for role in sorted(roles)]
    db.session.add(user)
    db.session.flush()
    record_event(
        "user.create", actor=actor, subject_type="user", subject_id=user.id,
        data={"roles": sorted(r.value for r in roles)},
    )
    return user


def set_roles(user: User, roles: Iterable[Role], *, actor: User | None) -> None:
    """Replace a user's roles; an administrator cannot remove their own admin role."""
    roles = set(roles)
    if not roles:
        raise DomainError(_("Choisissez au moins un rôle."), field="roles")
    if actor is not None and actor.id == user.id and Role.ADMIN in user.roles and Role.ADMIN not in roles:
        raise DomainError(_("Vous ne pouvez pas retirer votre propre rôle d'administrateur."), field="roles")
    before = sorted(r.value for r in user.roles)
    if user.roles - roles:
        user.end_sessions()  # a removed role must not live on in an open session
    current = {row.role: row for row in user.role_rows}
    user.role_rows = [current.get(role) or UserRole(role=role) for role in sorted(roles)]
    db.session.flush()
    after = sorted(r.value for r in roles)
    if before != after:
        record_event("user.roles", actor=actor, subject_type="user", subject_id=user.id,
                     data={"before": before, "after": after})


def update_profile(user: User, *, name: str, locale: str, is_enabled: bool | None = None,
                   actor: User | None = None) -> None:
    name = name.strip()
    if not name:
        raise DomainError(_("Le nom est obligatoire."), field="name")
    user.name = name
    user.locale = locale
    if is_enabled is not None and is_enabled != user.is_enabled:
        if actor is not None and actor.id == user.id and not is_enabled:
            raise DomainError(_("Vous ne pouvez pas désactiver votre propre compte."), field="is_enabled")
        user.is_enabled = is_enabled
        if not is_enabled:
            user.end_sessions()
        record_event("user.enabled" if is_enabled else "user.disabled", actor=actor,
                     subject_type="user", subject_id=user.id)
    db.session.flush()


def set_password(user: User, password: str, *, actor: User | None = None) -> None:
    """Set a new password (an administrator's reset, or the person's own change): every session and
    remember-me cookie of the person ends."""
    check_password_strength(password, email=user.email, name=user.name)
    user.password_hash = hash_password(password)
    user.end_sessions()
    db.session.flush()
    record_event("user.password", actor=actor, subject_type="user", subject_id=user.id,
                 data={"by": "self" if actor is not None and actor.id == user.id else "other"})


def change_own_password(user: User, current: str, new: str) -> None:
    """The person changes their password, giving the current one."""
    if not verify_password(user.password_hash, current or ""):
        raise DomainError(_("Le mot de passe actuel est incorrect."), field="current")
    if current == new:
        raise DomainError(_("Choisissez un mot de passe différent de l'actuel."), field="password")
    set_password(user, new, actor=user)


def sign_out_everywhere(user: User) -> None:
    """Sign-out: this session and every other one of the person, remember-me cookies included."""
    user.end_sessions()
    db.session.flush()
    record_event("user.logout", actor=user, subject_type="user", subject_id=user.id)


def authenticate(email: str, password: str) -> User | None:
    """Return the user for these credentials, or None; never says which of the two was wrong."""
    user = find_user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_enabled:
        return None
    if needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user
