"""All models, importable from one place (Alembic autogenerate sees them through here)."""

from portfolio.models.assessment import (
    Assessment,
    BlockDecision,
    CompetencyState,
    DecisionKind,
    EvidenceComment,
    Level,
    Notification,
)
from portfolio.models.audit import AuditEvent
from portfolio.models.cohort import Cohort, CohortMembership, MemberRole
from portfolio.models.evidence import (
    ApiToken,
    Blob,
    Claim,
    Evidence,
    EvidenceContext,
    EvidenceFile,
    EvidenceKind,
    EvidenceStatus,
)
from portfolio.models.framework import Block, Certification, CertificationLink, Competency
from portfolio.models.logbook import EntryStatus, Internship, LogbookEntry, SignoffLink
from portfolio.models.user import Role, User, UserRole

__all__ = [
    "Assessment",
    "BlockDecision",
    "CompetencyState",
    "DecisionKind",
    "EvidenceComment",
    "Level",
    "Notification",
    "ApiToken",
    "Blob",
    "Claim",
    "Evidence",
    "EvidenceContext",
    "EvidenceFile",
    "EvidenceKind",
    "EvidenceStatus",
    "AuditEvent",
    "Block",
    "Certification",
    "CertificationLink",
    "Cohort",
    "CohortMembership",
    "Competency",
    "EntryStatus",
    "Internship",
    "LogbookEntry",
    "SignoffLink",
    "MemberRole",
    "Role",
    "User",
    "UserRole",
]
