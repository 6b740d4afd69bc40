"""Names and Role Provisioning Services 2.0: a course's members become the cohort's learners and tutors.

Paged answers are followed (``Link: <…>; rel="next"``). A member the platform no longer lists (or lists
as Inactive/Deleted) leaves the cohort; their account and their evidence stay. Synchronised on launch
(at most every ``LTI_ROSTER_SYNC_INTERVAL`` seconds, in the background) and on demand (tutor's button,
``flask --app wsgi lti sync COHORT``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from portfolio.dml import rowcount
from portfolio.extensions import db
from portfolio.formatting import count_fr
from portfolio.models import Cohort, CohortMembership, LtiContext, LtiContextMember, User
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError
from portfolio.services.lti import SCOPE_NRPS
from portfolio.services.lti.ags import access_token
from portfolio.services.lti.http import PlatformHttpError, request_json
from portfolio.services.lti.launch import link_user, map_roles, set_context_member, set_membership

MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 200
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass
class SyncReport:
    context: LtiContext
    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    seen: int = 0
    pages: int = 0

    def summary(self) -> str:
        return (f"{self.context.title or self.context.context_id} : {count_fr(self.seen, 'membre lu', 'membres lus')} "
                f"en {count_fr(self.pages, 'page')}, {count_fr(len(self.added), 'ajouté')}, "
                f"{count_fr(len(self.updated), 'modifié')}, {count_fr(len(self.removed), 'retiré')}")


def _members(context: LtiContext) -> tuple[list[dict], int]:
    token = access_token(context.platform, [SCOPE_NRPS])
    url: str | None = context.memberships_url
    members: list[dict] = []
    pages = 0
    while url and pages < MAX_PAGES:
        data, headers = request_json("GET", url, headers={"Authorization": f"Bearer {token}"},
                                     accept=MEMBERSHIP_TYPE)
        pages += 1
        members.extend(m for m in (data or {}).get("members", []) if isinstance(m, dict))
        match = _NEXT.search(headers.get("Link", "") or "")
        url = match.group(1) if match else None
    return members, pages


def sync_context(context: LtiContext, *, actor: User | None = None) -> SyncReport:
    """Bring the context's cohort in line with the platform's membership (flushes; the caller commits)."""
    if not context.memberships_url:
        raise DomainError(_("La plateforme ne fournit pas la liste des participant·es de ce cours."))
    if context.cohort is None:
        raise DomainError(_("Ce cours n'est pas encore relié à une certification."))
    asked_at = utcnow()
    try:
        members, pages = _members(context)
    except PlatformHttpError as exc:
        raise DomainError(_("La liste des participant·es est injoignable : %(error)s", error=str(exc)[:200])) from exc
    # Two synchronisations of one course may overlap (a launch's and the tutor's button): the list asked
    # for last wins. Claiming the context row first takes its lock until the commit, and refuses a list
    # older than the one a synchronisation already applied.
    claimed = db.session.execute(
        update(LtiContext).where(LtiContext.id == context.id,
                                 or_(LtiContext.roster_synced_at.is_(None), LtiContext.roster_synced_at < asked_at))
        .values(roster_synced_at=asked_at).execution_options(synchronize_session=False))
    if rowcount(claimed) != 1:
        raise DomainError(_("Une synchronisation plus récente de ce cours vient d'être faite : rien n'a changé."))
    db.session.refresh(context, ["roster_synced_at"])
    report = SyncReport(context, pages=pages)
    cohort: Cohort = context.cohort
    platform = context.platform
    active: set[int] = set()
    for member in members:
        sub = member.get("user_id")
        role = map_roles([r for r in member.get("roles") or [] if isinstance(r, str)])
        if not isinstance(sub, str) or not sub or role is None:
            continue
        report.seen += 1
        if str(member.get("status") or "Active") != "Active":
            continue
        claims = {k: member.get(k) for k in ("name", "given_name", "family_name", "email") if member.get(k)}
        user, created = link_user(platform, sub, claims)
        before = db.session.scalar(select(CohortMembership.role).where(CohortMembership.cohort_id == cohort.id,
                                                                       CohortMembership.user_id == user.id))
        set_membership(cohort, user, role)
        set_context_member(context, user, role)
        active.add(user.id)
        after = db.session.scalar(select(CohortMembership.role).where(CohortMembership.cohort_id == cohort.id,
                                                                      CohortMembership.user_id == user.id))
        if before is None:
            report.added.append(user.id)
        elif before != after:
            report.updated.append(user.id)
    # An empty answer removes nobody: a platform glitch must not empty a cohort.
    leaving: Iterable[LtiContextMember] = db.session.scalars(select(LtiContextMember).where(
        LtiContextMember.context_id == context.id, LtiContextMember.is_active.is_(True))) if report.seen else []
    for former in leaving:
        if former.user_id in active:
            continue
        former.is_active = False
        membership = db.session.scalar(select(CohortMembership).where(CohortMembership.cohort_id == cohort.id,
                                                                      CohortMembership.user_id == former.user_id))
        if membership is not None:
            db.session.delete(membership)  # the account and its evidence stay
        report.removed.append(former.user_id)
    db.session.flush()
    record_event("lti.roster.sync", actor=actor, subject_type="lti_context", subject_id=context.id,
                 data={"cohort": cohort.id, "seen": report.seen, "pages": pages, "added": report.added,
                       "updated": report.updated, "removed": report.removed})
    return report


def sync_cohort(cohort: Cohort, *, actor: User | None = None) -> list[SyncReport]:
    contexts = list(db.session.scalars(select(LtiContext).where(LtiContext.cohort_id == cohort.id,
                                                                LtiContext.memberships_url.is_not(None))))
    if not contexts:
        raise DomainError(_("Cette promotion n'est reliée à aucun cours d'une plateforme LTI."))
    return [sync_context(context, actor=actor) for context in contexts]


def contexts_of(cohort: Cohort) -> list[LtiContext]:
    return list(db.session.scalars(select(LtiContext).where(LtiContext.cohort_id == cohort.id,
                                                            LtiContext.memberships_url.is_not(None))))


def sync_due(context: LtiContext) -> bool:
    interval = timedelta(seconds=int(current_app.config.get("LTI_ROSTER_SYNC_INTERVAL", 3600)))
    return bool(context.memberships_url and context.cohort_id
                and (context.roster_synced_at is None or utcnow() - context.roster_synced_at > interval))


def sync_job(context_id: int, *, attempt: int = 1, last: bool = True) -> int:
    """The background synchronisation after a launch; a failure is logged, the next launch tries again."""
    context = db.session.get(LtiContext, context_id)
    if context is None or not sync_due(context):
        return 0
    try:
        return len(sync_context(context).added)
    except DomainError as exc:
        current_app.logger.warning("LTI roster sync of context %s failed: %s", context_id, exc.message)
        return 0
