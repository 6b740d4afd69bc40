"""Secret links by which a person shares a read-only selection of their portfolio, and who opened them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.credential import Credential
from portfolio.models.framework import Block
from portfolio.models.user import User
from portfolio.models.vae import DossierVersion


class ShareKind(enum.StrEnum):
    """What a link shows. A new kind adds a value (and a migration re-creating ``ck_share_links_share_kind``),
    its target column, a line in ``ck_share_links_target_matches_kind`` and its branch in ``services/share``."""

    BLOCK = "block"                        # one block: levels and the evidence tagged to it
    PROGRESS = "progress"                  # the learner's progress, block by block
    DOSSIER_VERSION = "dossier_version"    # a VAE dossier version as it was sent to the jury
    CREDENTIAL = "credential"              # an Open Badges credential of a validated block


class ShareOpened(enum.StrEnum):
    PAGE = "page"
    FILE = "file"


#: Exactly the target column of its kind is set (the others are empty).
TARGET_COLUMNS = {"block": "block_id", "dossier_version": "dossier_version_id", "credential": "credential_id"}
TARGET_MATCHES_KIND = " OR ".join(
    f"(kind = '{kind}' AND " + " AND ".join(f"{column} IS {'NOT ' if TARGET_COLUMNS.get(kind) == column else ''}NULL"
                                          for column in TARGET_COLUMNS.values()) + ")"
    for kind in ("block", "progress", "dossier_version", "credential"))


class ShareLink(TimestampMixin, Model):
    """A secret, expiring, revocable link; only the SHA-256 of its token is stored (shown once, at creation)."""

    __tablename__ = "share_links"
    __table_args__ = (
        CheckConstraint(TARGET_MATCHES_KIND, name="target_matches_kind"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ShareKind] = mapped_column(str_enum(ShareKind, "share_kind"))
    # The link dies with what it shows.
    block_id: Mapped[int | None] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"), index=True)
    dossier_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossier_versions.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id", ondelete="CASCADE"), index=True)
    #: The owner's own note (who it was sent to), never shown on the shared page.
    label: Mapped[str] = mapped_column(String(120), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[User] = relationship()
    block: Mapped[Block | None] = relationship()
    dossier_version: Mapped[DossierVersion | None] = relationship()
    credential: Mapped[Credential | None] = relationship()
    views: Mapped[list[ShareView]] = relationship(
        back_populates="link", order_by="ShareView.id.desc()", cascade="all, delete-orphan", passive_deletes=True)


class ShareView(Model):
    """One opening of a link: when, from which network (an address prefix, never the full address),
    which kind of browser, and what was opened."""

    __tablename__ = "share_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"), index=True)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: IPv4 /24 or IPv6 /48, e.g. ``203.0.113.0/24``.
    network: Mapped[str] = mapped_column(String(50), default="")
    #: The browser's family (« Firefox », « Chrome », « Robot »…), not the whole User-Agent.
    agent: Mapped[str] = mapped_column(String(40), default="")
    opened: Mapped[ShareOpened] = mapped_column(str_enum(ShareOpened, "share_opened"))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_files.id", ondelete="SET NULL"),
                                                index=True)
    #: The file's name when it was opened (kept if the file goes).
    filename: Mapped[str] = mapped_column(String(255), default="")

    link: Mapped[ShareLink] = relationship(back_populates="views")
