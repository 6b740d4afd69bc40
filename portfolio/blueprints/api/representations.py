"""JSON shapes of the API's resources (described, field by field, in ``openapi.py``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime

from flask import url_for

from portfolio.markdown import render_markdown
from portfolio.models import Block, Certification, Claim, Competency, Evidence, EvidenceFile


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


def file_json(file: EvidenceFile) -> dict:
    blob = file.blob
    return {
        "id": file.id,
        "filename": file.filename,
        "media_type": blob.media_type,
        "size": blob.size,
        "sha256": blob.sha256,
        "download_url": url_for("api.download_file", evidence_id=file.evidence_id, file_id=file.id,
                                _external=True),
        "created_at": _iso(file.created_at),
    }


def tag_json(claim: Claim) -> dict:
    return {"code": claim.competency.code, "justification": claim.justification}


def evidence_json(evidence: Evidence) -> dict:
    files = [file_json(f) for f in evidence.files]
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
