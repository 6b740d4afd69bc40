"""What reading a stored file once told us: a test report's or an archive's summary, kept per blob.

A blob's bytes never change (it is addressed by its SHA-256), so what was read from it stays true:
it is computed on first need and kept. ``version`` names the analysers' output; a row written by an
older version is computed again.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import UTCDateTime, str_enum, utcnow
from portfolio.models.evidence import Blob


class AnalysisKind(enum.StrEnum):
    REPORT = "report"  # JUnit or Cobertura XML (summary None: an XML file that is not a report)
    ARCHIVE = "archive"  # zip, tar, tar.gz listing (or its refusal)


class BlobAnalysis(Model):
    __tablename__ = "blob_analyses"

    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[AnalysisKind] = mapped_column(str_enum(AnalysisKind, "analysis_kind"))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    # The database deletes the analysis with its blob (ON DELETE CASCADE, enforced on SQLite too), and
    # blob ids are never reused, so no file can inherit another file's summary.
    blob: Mapped[Blob] = relationship(
        backref=backref("analysis", uselist=False, cascade="all, delete-orphan", passive_deletes=True))
