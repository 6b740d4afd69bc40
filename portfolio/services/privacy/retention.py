"""Retention: what is deleted once its period is over (``flask --app wsgi privacy sweep``, dry run first).

Each rule selects what its period has expired at ``now`` (a parameter, so that tests and a cautious
administrator can look ahead) and, unless it is a dry run, deletes it in the caller's unit of work;
stored objects go after the commit, and only those no other record needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from portfolio.extensions import db
from portfolio.models import (
    Blob,
    DossierExport,
    Evidence,
    EvidenceFile,
    EvidenceStatus,
    LogbookEntry,
    Notification,
    OutboxMessage,
    ShareLink,
    SignoffLink,
    User,
)
from portfolio.models.outbox import OutboxStatus
from portfolio.models.privacy import PersonalDataExport, PrivacyRequest, RequestStatus
from portfolio.services.audit import record_event
from portfolio.services.privacy.policy import retention_days, retention_rules
from portfolio.services.privacy.records import _chunks
from portfolio.services.privacy.storage_refs import release_unreferenced_keys


@dataclass
class SweepLine:
    key: str
    label: Any
    days: int
    count: int


def _expired(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


def _personal_exports(cutoff: datetime, now: datetime, apply: bool) -> int:
    rows = list(db.session.scalars(select(PersonalDataExport).where(
        or_(PersonalDataExport.expires_at <= now,
            and_(PersonalDataExport.expires_at.is_(None), PersonalDataExport.finished_at <= cutoff)))))
    if apply:
        keys = {r.storage_key for r in rows if r.storage_key}
        for row in rows:
            db.session.delete(row)
        release_unreferenced_keys(keys)
    return len(rows)


def _dossier_exports(cutoff: datetime, now: datetime, apply: bool) -> int:
    rows = list(db.session.scalars(select(DossierExport).where(DossierExport.finished_at <= cutoff)))
    if apply:
        keys = {r.storage_key for r in rows if r.storage_key}
        for row in rows:
            db.session.delete(row)
        release_unreferenced_keys(keys)
    return len(rows)


def _read_notifications(cutoff: datetime, now: datetime, apply: bool) -> int:
    where = and_(Notification.read_at.is_not(None), Notification.read_at <= cutoff)
    count = db.session.scalar(select(func.count()).select_from(Notification).where(where)) or 0
    if apply and count:
        db.session.execute(delete(Notification).where(where))
    return count


def _departed_drafts(cutoff: datetime, now: datetime, apply: bool) -> int:
    departed = select(User.id).where(User.is_enabled.is_(False),
                                     func.coalesce(User.last_login_at, User.created_at) <= cutoff)
    drafts = list(db.session.scalars(select(Evidence).where(Evidence.status == EvidenceStatus.DRAFT,
                                                            Evidence.owner_id.in_(departed))))
    if apply and drafts:
        keys: set[str] = set()
        for batch in _chunks([d.id for d in drafts]):
            keys.update(db.session.scalars(select(Blob.storage_key).join(EvidenceFile, EvidenceFile.blob_id == Blob.id)
                                           .where(EvidenceFile.evidence_id.in_(batch))))
        for draft in drafts:
            db.session.delete(draft)
        release_unreferenced_keys(keys)
    return len(drafts)


def _signoff_links(cutoff: datetime, now: datetime, apply: bool) -> int:
    where = or_(SignoffLink.expires_at <= cutoff, SignoffLink.revoked_at <= cutoff)
    rows = list(db.session.scalars(select(SignoffLink).where(where)))
    if apply and rows:
        for batch in _chunks([r.id for r in rows]):  # what ON DELETE SET NULL does, whatever the FK setting
            db.session.execute(update(LogbookEntry).where(LogbookEntry.current_link_id.in_(batch))
                               .values(current_link_id=None))
        for row in rows:
            db.session.delete(row)
    return len(rows)


def _share_links(cutoff: datetime, now: datetime, apply: bool) -> int:
    """Share links closed long enough, with the log of their openings (which cascades)."""
    where = or_(ShareLink.expires_at <= cutoff, ShareLink.revoked_at <= cutoff)
    count = db.session.scalar(select(func.count()).select_from(ShareLink).where(where)) or 0
    if apply and count:
        db.session.execute(delete(ShareLink).where(where))
    return count


def _privacy_requests(cutoff: datetime, now: datetime, apply: bool) -> int:
    where = and_(PrivacyRequest.status != RequestStatus.OPEN, PrivacyRequest.handled_at <= cutoff)
    count = db.session.scalar(select(func.count()).select_from(PrivacyRequest).where(where)) or 0
    if apply and count:
        db.session.execute(delete(PrivacyRequest).where(where))
    return count


def _sent_emails(cutoff: datetime, now: datetime, apply: bool) -> int:
    """E-mails sent, or given up (failed, no next try), long enough ago; queued ones are never touched."""
    where = or_(and_(OutboxMessage.status == OutboxStatus.SENT.value, OutboxMessage.sent_at <= cutoff),
                and_(OutboxMessage.status == OutboxStatus.FAILED.value, OutboxMessage.next_attempt_at.is_(None),
                     OutboxMessage.created_at <= cutoff))
    count = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(where)) or 0
    if apply and count:
        db.session.execute(delete(OutboxMessage).where(where))
    return count


RULES: dict[str, Callable[[datetime, datetime, bool], int]] = {
    "personal_data_exports": _personal_exports,
    "dossier_exports": _dossier_exports,
    "read_notifications": _read_notifications,
    "departed_drafts": _departed_drafts,
    "signoff_links": _signoff_links,
    "share_links": _share_links,
    "privacy_requests": _privacy_requests,
    "sent_emails": _sent_emails,
}


def sweep(now: datetime, *, dry_run: bool) -> list[SweepLine]:
    """Apply every retention rule at ``now``; with ``dry_run`` only count what would go."""
    days = retention_days()
    lines = []
    for rule in retention_rules():
        count = RULES[rule.key](_expired(days[rule.key], now), now, not dry_run)
        lines.append(SweepLine(rule.key, rule.label, rule.days, count))
    db.session.flush()
    if not dry_run and any(line.count for line in lines):
        record_event("privacy.sweep", actor=None, subject_type="retention", subject_id=None,
                     data={line.key: line.count for line in lines if line.count})
    return lines
