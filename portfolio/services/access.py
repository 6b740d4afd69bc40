"""Authorization: the one place that decides who may see or change what.

Two layers, both here:
* *permissions* — what a role may do at all (``has_permission``, ``permission_required``);
* *object rules* — whether this person may see this object (``can_view_*``). A refused object
  answers 404, not 403, so that nobody learns what exists outside their reach.

Nothing outside this module compares roles to decide what someone may do (tests/security/test_access_rules.py
greps): views and services call these functions, templates ``can("name", obj)`` (``RULES`` at the end,
the one registry of the names a page may ask about). Where a rule also depends on an object's state
(a draft may change), the state is asked of the service that owns that rule.

Over 400 lines: every permission and object rule in one module is the point (one place decides).
"""

from __future__ import annotations

import enum
import functools
import hmac
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, current_app, flash, has_request_context, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from sqlalchemy import exists, select

from portfolio.extensions import db, login_manager
from portfolio.models import (
    ApiToken,
    Cohort,
    CohortMembership,
    ContextRole,
    Dossier,
    DossierExport,
    DossierVersion,
    Evidence,
    EvidenceFile,
    Internship,
    MemberRole,
    Notification,
    PersonalDataExport,
    Role,
    ShareLink,
    User,
    VaeEnrolment,
)
from portfolio.models.vae import jury_members
from portfolio.services import evidence as evidence_service
from portfolio.services.references import snapshot_evidence_ids
from portfolio.services.share import reaches_file

P = ParamSpec("P")
R = TypeVar("R")


class Permission(enum.StrEnum):
    ADMINISTER = "administer"                # users, roles, cohorts, certifications
    VIEW_OWN_CERTIFICATION = "view_own_certification"
    VIEW_COHORTS = "view_cohorts"            # tutors: the cohorts they teach
    KEEP_EVIDENCE = "keep_evidence"          # learners and VAE candidates: their own evidence
    ASSESS = "assess"                        # tutors (their cohorts) and administrators
    HANDLE_PRIVACY = "handle_privacy"        # administrators act as the data protection officer
    FOLLOW_TRAINING = "follow_training"      # learners: their progress and internship logbooks
    KEEP_VAE_DOSSIER = "keep_vae_dossier"    # VAE candidates: their dossier and experiences
    TEACH = "teach"                          # tutors: the cohorts they teach; an adviser is a tutor
    SEE_VAE_CANDIDATES = "see_vae_candidates"  # tutors (those they accompany) and administrators (all)
    SIT_ON_JURY = "sit_on_jury"              # jury members: the versions assigned to their juries


ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.ADMINISTER: frozenset({Role.ADMIN}),
    Permission.VIEW_OWN_CERTIFICATION: frozenset({Role.LEARNER, Role.VAE_CANDIDATE}),
    Permission.VIEW_COHORTS: frozenset({Role.TUTOR, Role.ADMIN}),
    Permission.KEEP_EVIDENCE: frozenset({Role.LEARNER, Role.VAE_CANDIDATE}),
    Permission.ASSESS: frozenset({Role.TUTOR, Role.ADMIN}),
    Permission.HANDLE_PRIVACY: frozenset({Role.ADMIN}),
    Permission.FOLLOW_TRAINING: frozenset({Role.LEARNER}),
    Permission.KEEP_VAE_DOSSIER: frozenset({Role.VAE_CANDIDATE}),
    Permission.TEACH: frozenset({Role.TUTOR}),
    Permission.SEE_VAE_CANDIDATES: frozenset({Role.TUTOR, Role.ADMIN}),
    Permission.SIT_ON_JURY: frozenset({Role.JURY}),
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
                return login_manager.unauthorized()
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        # An attribute of the function (read by the permission matrix tests), which Callable cannot declare.
        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def ensure(allowed: bool) -> None:
    """Refuse with 404 when an object rule says no."""
    if not allowed:
        abort(404)


# --- object rules -------------------------------------------------------------------------------

def lti_scope_cohort_id(user: User) -> int | None:
    """The one cohort an LTI session grants, when ``user`` is the person signed in by an LTI launch.

    A session opened by a launch grants what the launched person may see in that course, and no more:
    other cohorts stay out of reach even if the same account belongs to them."""
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return None
    scope = session.get("lti")
    if not isinstance(scope, dict) or getattr(current_user, "id", None) != user.id \
            or scope.get("user_id") != user.id:  # a scope left by someone else's launch grants nothing
        return None
    return scope.get("cohort_id") or -1


def is_lti_session(user: User) -> bool:
    return lti_scope_cohort_id(user) is not None


def can_view_cohort(user: User, cohort: Cohort) -> bool:
    """Administrators see every cohort; a tutor only those they teach; an LTI session only its own."""
    scoped = lti_scope_cohort_id(user)
    if scoped is not None and scoped != cohort.id:
        return False
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
    """A learner sees themself; a tutor, the learners of their cohorts; an administrator, everyone.
    In an LTI session, a tutor sees only the learners of the launched course's cohort."""
    if user.id == learner.id:
        return True
    scoped = lti_scope_cohort_id(user)
    if scoped is None and user.has_role(Role.ADMIN):
        return True
    if not user.has_role(Role.TUTOR):
        return False
    tutor = db.aliased(CohortMembership)
    member = db.aliased(CohortMembership)
    return bool(db.session.scalar(select(exists().where(
        tutor.user_id == user.id, tutor.role == MemberRole.TUTOR,
        member.cohort_id == tutor.cohort_id, member.user_id == learner.id,
        member.role == MemberRole.LEARNER, *([tutor.cohort_id == scoped] if scoped is not None else []),
    ))))


def can_assess_learner(user: User, learner: User) -> bool:
    """Only the tutors of a learner's cohorts, and administrators, assess them; never themselves."""
    if user.id == learner.id:
        return False
    if user.has_role(Role.ADMIN) and not is_lti_session(user):
        return True
    return user.has_role(Role.TUTOR) and can_view_learner(user, learner)


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


def can_change_evidence(user: User, evidence: Evidence) -> bool:
    """What the pages offer to change: the owner's evidence while it is a draft (``ensure_mutable``
    decides again under lock, and also freezes evidence a sent dossier cites)."""
    return can_edit_evidence(user, evidence) and evidence_service.is_draft(evidence)


def can_comment_evidence(user: User, evidence: Evidence) -> bool:
    """The owner and those who assess the owner discuss a piece of evidence."""
    return user.id == evidence.owner_id or can_assess_learner(user, evidence.owner)


def can_view_evidence_review(user: User, evidence: Evidence) -> bool:
    """The assessments of a piece of evidence, once it was submitted: its owner and its assessors."""
    return not evidence_service.is_draft(evidence) and can_comment_evidence(user, evidence)


def sees_every_cohort(user: User) -> bool:
    """Administrators see every cohort and learner (outside an LTI session, where callers also narrow)."""
    return has_permission(user, Permission.ADMINISTER)


def can_self_assess(user: User, evidence: Evidence) -> bool:
    """Only the owner rates their own evidence's competencies (whether it is still a draft is a service rule)."""
    return user.id == evidence.owner_id


def can_view_self_assessment(user: User, evidence: Evidence) -> bool:
    """A self-assessment is read by the owner and by those who assess the owner."""
    return user.id == evidence.owner_id or can_assess_learner(user, evidence.owner)


def can_view_internship(user: User, internship: Internship) -> bool:
    """An internship and its logbook are read by the learner, the tutors of their cohorts and administrators."""
    return can_view_learner(user, internship.learner)


def can_edit_internship(user: User, internship: Internship) -> bool:
    """Only the learner writes their logbook and sends it for sign-off."""
    return user.id == internship.learner_id


# --- VAE -------------------------------------------------------------------------------------------

_snapshot_evidence_ids = snapshot_evidence_ids


def _is_juror(user: User, jury_id: int | None) -> bool:
    if jury_id is None or not user.has_role(Role.JURY):
        return False
    return bool(db.session.scalar(select(exists().where(jury_members.c.jury_id == jury_id,
                                                         jury_members.c.user_id == user.id))))


def _juror_versions(user: User, candidate: User) -> list[DossierVersion]:
    """The sent versions of ``candidate``'s dossiers assigned to a jury ``user`` sits on."""
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


# --- share links ------------------------------------------------------------------------------------

def can_share(user: User) -> bool:
    """Learners and VAE candidates share parts of their own portfolio by link."""
    return has_permission(user, Permission.KEEP_EVIDENCE)


def can_manage_share(user: User, link: ShareLink) -> bool:
    """A share link, its log of openings and its revocation are its owner's alone."""
    return getattr(user, "is_authenticated", False) and link.owner_id == user.id


def share_reaches_file(link: ShareLink, file: EvidenceFile) -> bool:
    """Whether an open share link reaches this evidence file: only what its selection shows (a block's
    submitted or assessed evidence; the files a sent dossier version names; nothing from a progress link)."""
    return reaches_file(link, file)


# --- Flask-Login wiring ---------------------------------------------------------------------------

def init_login(manager: LoginManager) -> None:
    manager.login_view = "auth.login"
    manager.login_message = _l("Connectez-vous pour accéder à cette page.")
    manager.login_message_category = "info"
    manager.session_protection = "strong"

    @manager.user_loader
    def load_user(user_id: str) -> User | None:
        # "<id>:<session token>": a session or remember-me cookie of a token since replaced (sign-out,
        # password change or reset, role removal, deactivation) opens nothing.
        number, _sep, token = (user_id or "").partition(":")
        if not number.isdigit() or not token:
            return None
        user = db.session.get(User, int(number))
        if user is None or not user.is_enabled or not user.session_token \
                or not hmac.compare_digest(user.session_token.encode(), token.encode()):
            return None
        return user

    @manager.unauthorized_handler
    def unauthorized():
        if request.blueprint == "api" or request.accept_mimetypes.best == "application/json":
            abort(401)
        flash(str(manager.login_message), "info")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


# --- LTI ------------------------------------------------------------------------------------------------

def can_configure_lti_context(user: User, context, role) -> bool:
    """The tutors and administrators of a course (as the launch said) choose its certification and
    what its links open; a learner never does."""
    return role in (ContextRole.TUTOR, ContextRole.ADMIN) and user.has_role(Role.TUTOR)


def can_sync_lti_roster(user: User, cohort: Cohort) -> bool:
    """The cohort's tutors (and administrators outside an LTI session) synchronise its course roster."""
    return can_view_cohort(user, cohort) and user.has_role(Role.TUTOR, Role.ADMIN)


def can_manage_token(user: User, token: ApiToken) -> bool:
    """A token is listed and revoked by its owner; an administrator may revoke anyone's."""
    return user.id == token.user_id or user.has_role(Role.ADMIN)


def can_download_credential(user: User, credential) -> bool:
    """A badge is downloaded by the person it was issued to only (others verify what they are given)."""
    return bool(user.is_authenticated and credential.user_id == user.id)


def can_view_personal_export(user: User, export: PersonalDataExport) -> bool:
    """An archive of someone's data is theirs alone (not even an administrator downloads it)."""
    return getattr(user, "is_authenticated", False) and export.user_id == user.id


def can_see_email(user: User | None, person: User) -> bool:
    """Minimal disclosure: an address is shown to its owner and to administrators; others see it masked."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.id == person.id or has_permission(user, Permission.ADMINISTER)


def mask_email(address: str) -> str:
    """``l***@example.org``: enough to recognise one's own address, not to write to someone else's."""
    local, at, domain = (address or "").partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def can_open_notification(user: User, notification: Notification) -> bool:
    """A notification is opened (and so marked read) by the person it was sent to, only."""
    return notification.user_id == user.id


# --- what templates ask: can("name", obj) ---------------------------------------------------------

Rule = Callable[..., bool]


def _has(permission: Permission, user: User) -> bool:
    return has_permission(user, permission)

#: Every name a template may pass to ``can``: a permission (no object) or an object rule (``obj``).
RULES: dict[str, Rule] = {
    **{permission.value: functools.partial(_has, permission) for permission in Permission},
    "view_evidence": can_view_evidence,
    "change_evidence": can_change_evidence,
    "comment_evidence": can_comment_evidence,
    "view_evidence_review": can_view_evidence_review,
    "assess_learner": can_assess_learner,
    "view_internship": can_view_internship,
    "edit_internship": can_edit_internship,
    "view_dossier": can_view_dossier,
    "edit_dossier": can_edit_dossier,
    "comment_dossier": can_comment_dossier,
    "decide_version": can_decide_version,
    "see_email": can_see_email,
}


class UnknownRule(KeyError):
    """A template asked ``can`` about a name that is not in ``RULES`` (a typo would hide a page part)."""


def can(user: User | None, name: str, obj: object = None) -> bool:
    """``RULES[name]`` for ``user`` (and ``obj`` when the rule is about an object); anonymous: no.

    An unknown name raises in tests and development; in production it is logged and refused."""
    rule = RULES.get(name)
    if rule is None:
        if current_app.testing or current_app.debug:
            raise UnknownRule(name)
        current_app.logger.error("can(): unknown rule %r, refused", name)
        return False
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return rule(user) if obj is None else rule(user, obj)
