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
from portfolio.models import (
    ApiToken,
    Cohort,
    CohortMembership,
    Dossier,
    DossierExport,
    DossierVersion,
    Evidence,
    Internship,
    MemberRole,
    Role,
    User,
    VaeEnrolment,
)

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
    """Evidence is read by its owner, the tutors of the owner's cohorts, and administrators; a VAE
    candidate's, also by their adviser, and by the members of a jury a version citing it is assigned to."""
    if can_view_learner(user, evidence.owner):
        return True
    if is_vae_adviser(user, evidence.owner):
        return True
    return user.has_role(Role.JURY) and any(
        evidence.id in _snapshot_evidence_ids(version.snapshot) for version in _juror_versions(user, evidence.owner))


def can_edit_evidence(user: User, evidence: Evidence) -> bool:
    """Only the owner changes their evidence (whether it is still a draft is a service rule)."""
    return user.id == evidence.owner_id


def can_view_internship(user: User, internship: Internship) -> bool:
    """An internship and its logbook are read by the learner, the tutors of their cohorts and administrators."""
    return can_view_learner(user, internship.learner)


def can_edit_internship(user: User, internship: Internship) -> bool:
    """Only the learner writes their logbook and sends it for sign-off."""
    return user.id == internship.learner_id


# --- VAE -------------------------------------------------------------------------------------------

def _snapshot_evidence_ids(snapshot: dict) -> set[int]:
    return {e["id"] for b in snapshot.get("blocks", []) for c in b.get("competencies", []) for e in c["evidence"]}


def _is_juror(user: User, jury_id: int | None) -> bool:
    if jury_id is None or not user.has_role(Role.JURY):
        return False
    from portfolio.models.vae import jury_members

    return bool(db.session.scalar(select(exists().where(jury_members.c.jury_id == jury_id,
                                                         jury_members.c.user_id == user.id))))


def _juror_versions(user: User, candidate: User) -> list[DossierVersion]:
    """The sent versions of ``candidate``'s dossiers assigned to a jury ``user`` sits on."""
    from portfolio.models.vae import jury_members

    return list(db.session.scalars(
        select(DossierVersion).join(Dossier, Dossier.id == DossierVersion.dossier_id)
        .join(jury_members, jury_members.c.jury_id == DossierVersion.jury_id)
        .where(Dossier.candidate_id == candidate.id, jury_members.c.user_id == user.id)))


def is_vae_adviser(user: User, candidate: User) -> bool:
    """The tutor assigned as the candidate's accompanying adviser (accompagnateur)."""
    if not user.has_role(Role.TUTOR):
        return False
    enrolment = db.session.get(VaeEnrolment, candidate.id)
    return enrolment is not None and enrolment.adviser_id == user.id


def can_view_dossier(user: User, dossier: Dossier) -> bool:
    """The draft and its versions: the candidate, their adviser, administrators; a jury member sees
    the dossier only through the sent versions assigned to their jury (``can_view_version``)."""
    if user.id == dossier.candidate_id or user.has_role(Role.ADMIN):
        return True
    return is_vae_adviser(user, dossier.candidate)


def can_view_version(user: User, version: DossierVersion) -> bool:
    return can_view_dossier(user, version.dossier) or _is_juror(user, version.jury_id)


def can_edit_dossier(user: User, dossier: Dossier) -> bool:
    """Only the candidate writes their dossier."""
    return user.id == dossier.candidate_id


def can_comment_dossier(user: User, dossier: Dossier) -> bool:
    """The candidate and their adviser discuss the draft."""
    return user.id == dossier.candidate_id or is_vae_adviser(user, dossier.candidate)


def can_decide_version(user: User, version: DossierVersion) -> bool:
    """Only the members of the jury the version is assigned to decide (never the candidate)."""
    return user.id != version.dossier.candidate_id and _is_juror(user, version.jury_id)


def can_view_export(user: User, export: DossierExport) -> bool:
    """An export of a sent version is read by whoever reads that version; of the draft, by whoever reads the draft."""
    if export.version_id is not None:
        version = db.session.get(DossierVersion, export.version_id)
        return version is not None and can_view_version(user, version)
    dossier = db.session.get(Dossier, export.dossier_id)
    return dossier is not None and can_view_dossier(user, dossier)


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
