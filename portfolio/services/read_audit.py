"""The audit of reads: every time someone reads a file that is not theirs — a download, an inline
image, an archive entry, a viewer, a PDF, an export — whatever the route, one event says who read what.

The event is written through ``audit.record_read`` (the one write a GET may make, committed by the
request's unit of work); reading one's own files is not recorded.
"""

from __future__ import annotations

from typing import Any

from portfolio.models import User
from portfolio.services.audit import record_read


def audit_read(actor: User | None, owner_id: int | None, action: str, *, subject_type: str,
               subject_id: int | str, data: dict[str, Any] | None = None) -> bool:
    """Record ``action`` when ``actor`` reads what belongs to ``owner_id``; return whether it did."""
    if actor is None or owner_id is None or actor.id == owner_id:
        return False
    record_read(action, actor=actor, subject_type=subject_type, subject_id=subject_id, data=data or {})
    return True
