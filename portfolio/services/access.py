"""Authorization: the one place that decides who may see or change what.

Two layers, both here:
* *permissions* — what a role may do at all (``has_permission``, ``permission_required``);
* *object rules* — whether this person may see this object (``can_view_*``). A refused object
  answers 404, not 403, so that nobody learns what exists outside their reach.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, request
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from sqlalchemy import exists, select

from portfolio.extensions import db
from portfolio.models import ApiToken, Cohort, CohortMembership, Evidence, Internship, MemberRole, Role, User

P = ParamSpec("P")
R = TypeVar("R")


class Permission(enum.StrEnum):
    ADMINISTER = "administer"                # users, roles, cohorts, certifications
    VIEW_OWN_CERTIFICATION = "view_own_certification"
    VIEW_COHORTS = "view_cohorts"            # tutors: the cohorts they teach
    KEEP_EVIDENCE = "keep_evidence"          # learners and VAE candidates: their own evidence
    ASSESS = "assess"                        # tutors (their cohorts) and administrators


ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.ADMINISTER: frozenset({Role.ADMIN}),
    Permission.VIEW_OWN_CERTIFICATION: frozenset({Role.LEARNER, Role.VAE_CANDIDATE}),
    Permission.VIEW_COHORTS: frozenset({Role.TUTOR, Role.ADMIN}),
    Permission.KEEP_EVIDENCE: frozenset({Role.LEARNER, Role.VAE_CANDIDATE}),
    Permission.ASSESS: frozenset({Role.TUTOR, Role.ADMIN}),
}


def has_permission(user: User | None, permission: Permission) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.has_role(*ROLE_PERMISSIONS[permission])


def permission_required(permission: Permission) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view: anonymous → the login page; signed in without the permission → 403."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not current_user.is_authenticated:
                from portfolio.extensions import login_manager

                return login_manager.unauthorized()
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def ensure(allowed: bool) -> None:
    """Refuse with 404 when an object rule says no."""
    if not allowed:
        abort(404)


# --- object rules -------------------------------------------------------------------------------

def can_view_cohort(user: User, cohort: Cohort) -> bool:
    """Administrators see every cohort; a tutor only those they teach."""
    if user.has_role(Role.ADMIN):
        return True
    if not user.has_role(Role.TUTOR):
        return False
    return bool(db.session.scalar(select(exists().where(
        CohortMembership.cohort_id == cohort.id,
        CohortMembership.user_id == user.id,
        CohortMembership.role == MemberRole.TUTOR,
    ))))


def can_view_learner(user: User, learner: User) -> bool:
    """A learner sees themself; a tutor, the learners of their cohorts; an administrator, everyone."""
    if user.id == learner.id or user.has_role(Role.ADMIN):
        return True
    if not user.has_role(Role.TUTOR):
        return False
    tutor = db.aliased(CohortMembership)
    member = db.aliased(CohortMembership)
    return bool(db.session.scalar(select(exists().where(
        tutor.user_id == user.id, tutor.role == MemberRole.TUTOR,
        member.cohort_id == tutor.cohort_id, member.user_id == learner.id,
        member.role == MemberRole.LEARNER,
    ))))


def can_assess_learner(user: User, learner: User) -> bool:
    """Only the tutors of a learner's cohorts, and administrators, assess them; never themselves."""
    if user.id == learner.id:
        return False
    return user.has_role(Role.ADMIN) or (user.has_role(Role.TUTOR) and can_view_learner(user, learner))


def can_view_evidence(user: User, evidence: Evidence) -> bool:
    """Evidence is read by its owner, the tutors of the owner's cohorts, and administrators."""
    return can_view_learner(user, evidence.owner)


def can_edit_evidence(user: User, evidence: Evidence) -> bool:
    """Only the owner changes their evidence (whether it is still a draft is a service rule)."""
    return user.id == evidence.owner_id


def can_view_internship(user: User, internship: Internship) -> bool:
    """An internship and its logbook are read by the learner, the tutors of their cohorts and administrators."""
    return can_view_learner(user, internship.learner)


def can_edit_internship(user: User, internship: Internship) -> bool:
    """Only the learner writes their logbook and sends it for sign-off."""
    return user.id == internship.learner_id


# --- Flask-Login wiring ---------------------------------------------------------------------------

def init_login(manager: LoginManager) -> None:
    manager.login_view = "auth.login"
    manager.login_message = _l("Connectez-vous pour accéder à cette page.")
    manager.login_message_category = "info"
    manager.session_protection = "strong"

    @manager.user_loader
    def load_user(user_id: str) -> User | None:
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        return user if user is not None and user.is_enabled else None

    @manager.unauthorized_handler
    def unauthorized():  # type: ignore[no-untyped-def]
        from flask import flash, redirect, url_for

        if request.blueprint == "api" or request.accept_mimetypes.best == "application/json":
            abort(401)
        flash(str(manager.login_message), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def can_manage_token(user: User, token: ApiToken) -> bool:
    """A token is listed and revoked by its owner; an administrator may revoke anyone's."""
    return user.id == token.user_id or user.has_role(Role.ADMIN)
