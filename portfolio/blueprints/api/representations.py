"""JSON shapes of the API's resources (described, field by field, in ``openapi.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime

from flask import url_for

from portfolio.markdown import render_markdown
from portfolio.models import (
    Assessment,
    Block,
    BlockDecision,
    Certification,
    Claim,
    Cohort,
    Competency,
    Evidence,
    EvidenceFile,
    User,
)
from portfolio.services import viewers
from portfolio.services.assessment import Matrix


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def evidence_digest(file_hashes: Sequence[str]) -> str | None:
    """One SHA-256 for a whole piece of evidence: that of its files' hashes, sorted, joined by newlines.

    The order files were added in does not change it, and a client can recompute it from the
    ``files`` array alone. Evidence with no file (a link) has none: ``None``.
    """
    if not file_hashes:
        return None
    return hashlib.sha256("\n".join(sorted(file_hashes)).encode("ascii")).hexdigest()


def file_json(file: EvidenceFile, analyses: dict[int, viewers.Analysis] | None = None) -> dict:
    """A file; ``report``/``archive`` carry what reading it told (``analyses``: see :func:`evidence_json`)."""
    blob = file.blob
    if analyses is None:
        analyses = viewers.file_analyses([file])
    return {
        "id": file.id,
        "filename": file.filename,
        "media_type": blob.media_type,
        "size": blob.size,
        "sha256": blob.sha256,
        "download_url": url_for("api.download_file", evidence_id=file.evidence_id, file_id=file.id,
                                _external=True),
        "created_at": _iso(file.created_at),
        **viewers.api_summaries(file, analyses),
    }


def tag_json(claim: Claim) -> dict:
    return {"code": claim.competency.code, "justification": claim.justification}


def evidence_json(evidence: Evidence, analyses: dict[int, viewers.Analysis] | None = None) -> dict:
    """A piece of evidence. ``analyses`` (from :func:`viewers.file_analyses`, for a whole list at once)
    is computed here when not given; those computed for the first time are committed with the request."""
    if analyses is None:
        analyses = viewers.file_analyses(evidence.files)
    files = [file_json(f, analyses) for f in evidence.files]
    return {
        "id": evidence.id,
        "title": evidence.title,
        "kind": evidence.kind.value,
        "context": evidence.context.value,
        "occurred_on": _iso(evidence.occurred_on),
        "description": evidence.description,
        "description_html": str(render_markdown(evidence.description)),
        "url": evidence.url,
        "status": evidence.status.value,
        "submitted_at": _iso(evidence.submitted_at),
        "previous_version_id": evidence.previous_version_id,
        "size": sum(f["size"] for f in files),
        "sha256": evidence_digest([f["sha256"] for f in files]),
        "files": files,
        "tags": [tag_json(c) for c in evidence.claims],
        "created_at": _iso(evidence.created_at),
        "updated_at": _iso(evidence.updated_at),
    }


def competency_json(competency: Competency) -> dict:
    return {"code": competency.code, "statement": competency.statement, "position": competency.position}


def block_json(block: Block) -> dict:
    return {
        "code": block.code,
        "title": block.title,
        "position": block.position,
        "competencies": [competency_json(c) for c in block.competencies],
    }


def certification_json(cert: Certification) -> dict:
    return {
        "id": cert.id,
        "code": cert.code,
        "registration": cert.registration,
        "title": cert.title,
        "level": cert.level,
        "is_active": cert.is_active,
        "blocks": [block_json(b) for b in cert.blocks],
    }


def person_json(user: User | None) -> dict | None:
    """Someone named in a record: enough to display them, not their account."""
    return {"id": user.id, "name": user.name} if user is not None else None


def queued_evidence_json(evidence: Evidence, analyses: dict[int, viewers.Analysis] | None = None) -> dict:
    return {**evidence_json(evidence, analyses), "owner": person_json(evidence.owner)}


def assessment_json(assessment: Assessment) -> dict:
    return {
        "id": assessment.id,
        "learner": person_json(assessment.learner),
        "competency": assessment.competency.code,
        "level": assessment.level.value,
        "comment": assessment.comment,
        "assessor": person_json(assessment.assessor),
        "evidence": assessment.evidence_id,
        "supersedes": assessment.supersedes_id,
        "created_at": _iso(assessment.created_at),
    }


def decision_json(decision: BlockDecision) -> dict:
    return {
        "id": decision.id,
        "learner": person_json(decision.learner),
        "block": decision.block.code,
        "kind": decision.kind.value,
        "comment": decision.comment,
        "decided_by": person_json(decision.decided_by),
        "created_at": _iso(decision.created_at),
    }


def cohort_json(cohort: Cohort) -> dict:
    return {"id": cohort.id, "name": cohort.name, "year": cohort.year, "certification": cohort.certification.code}


def matrix_json(matrix: Matrix) -> dict:
    competencies = matrix.competencies()
    learners = []
    for learner in matrix.learners:
        levels = {c.code: (level.value if (level := matrix.level(learner, c)) else None) for c in competencies}
        learners.append({
            "id": learner.id,
            "name": learner.name,
            "email": learner.email,
            "levels": levels,
            "acquired": matrix.acquired(learner),
            "validated_blocks": [b.code for b in matrix.blocks if (learner.id, b.id) in matrix.validated],
        })
    return {
        "cohort": cohort_json(matrix.cohort),
        "blocks": [{"code": b.code, "title": b.title,
                    "competencies": [{"code": c.code, "statement": c.statement} for c in b.competencies]}
                   for b in matrix.blocks],
        "learners": learners,
    }


