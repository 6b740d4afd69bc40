"""LTI 1.3 Advantage: the platforms (LMS) that launch us, our signing keys, launches in progress,
links between platform users and ours, course contexts mapped to cohorts, grade line items and the
score posts waiting to be sent."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum
from portfolio.models.cohort import Cohort
from portfolio.models.framework import Block, Certification
from portfolio.models.user import User


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"      # signs our messages
    RETIRED = "retired"    # still published in our JWKS until it expires, signs nothing


class KeyPurpose(enum.StrEnum):
    """What a signing key signs: one mechanism (sealed private key, rotation, JWKS), two key sets."""

    LTI = "lti"                  # LTI messages and token assertions (RS256), published at /lti/jwks
    CREDENTIALS = "credentials"  # Open Badges credentials and their status lists (ES256), /credentials/jwks


class RegistrationSource(enum.StrEnum):
    MANUAL = "manual"
    DYNAMIC = "dynamic"


class ContextRole(enum.StrEnum):
    """What a person is in one course context (never more than that context)."""

    LEARNER = "learner"
    TUTOR = "tutor"
    ADMIN = "admin"        # administrator of this context only, never of the application


class LinkTarget(enum.StrEnum):
    """What a resource link opens."""

    PORTFOLIO = "portfolio"   # the learner's whole portfolio for the certification
    BLOCK = "block"           # one block
    QUEUE = "queue"           # the tutor's queue
    MATRIX = "matrix"         # the cohort matrix


class ScoreStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class LtiKey(TimestampMixin, Model):
    """One of our signing key pairs (RSA for LTI, P-256 for credentials); the private key is stored
    encrypted (AES-GCM, key derived from the secret). The table keeps its first name: LTI came first."""

    __tablename__ = "lti_keys"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="RS256")
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    status: Mapped[KeyStatus] = mapped_column(str_enum(KeyStatus, "lti_key_status", length=10),
                                              default=KeyStatus.ACTIVE)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # end of publication once retired
    purpose: Mapped[KeyPurpose] = mapped_column(str_enum(KeyPurpose, "signing_key_purpose", length=12),
                                                default=KeyPurpose.LTI, server_default=KeyPurpose.LTI.value,
                                                index=True)


class LtiPlatform(TimestampMixin, Model):
    """A platform registration: one issuer and one client id we were given."""

    __tablename__ = "lti_platforms"
    __table_args__ = (
        UniqueConstraint("issuer", "client_id"),
        CheckConstraint("source IN ('manual', 'dynamic')", name="source"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    auth_token_audience: Mapped[str | None] = mapped_column(String(1000))
    jwks_url: Mapped[str] = mapped_column(String(1000))
    source: Mapped[RegistrationSource] = mapped_column(str_enum(RegistrationSource, "lti_registration_source",
                                                                length=10), default=RegistrationSource.MANUAL)
    # The certification new course contexts of this platform are mapped to (a link may choose another).
    certification_id: Mapped[int | None] = mapped_column(ForeignKey("certifications.id", ondelete="SET NULL"))
    product: Mapped[str | None] = mapped_column(String(200))   # e.g. "moodle 4.4"
    is_enabled: Mapped[bool] = mapped_column(default=True)
    jwks_cache: Mapped[dict | None] = mapped_column(JSON)
    jwks_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    certification: Mapped[Certification | None] = relationship()
    deployments: Mapped[list[LtiDeployment]] = relationship(back_populates="platform", cascade="all, delete-orphan",
                                                            order_by="LtiDeployment.id")


class LtiDeployment(TimestampMixin, Model):
    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))

    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")


class LtiLaunchState(TimestampMixin, Model):
    """A login initiation in progress: the state and nonce we sent, bound to the browser that asked."""

    __tablename__ = "lti_launch_states"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the browser secret (state cookie, or the value kept by the platform's postMessage storage).
    browser_hash: Mapped[str] = mapped_column(String(64))
    storage_target: Mapped[str | None] = mapped_column(String(100))
    target_link_uri: Mapped[str] = mapped_column(String(1000))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LtiNonce(TimestampMixin, Model):
    """A nonce seen in a valid launch: the unique constraint makes each usable once."""

    __tablename__ = "lti_nonces"
    __table_args__ = (UniqueConstraint("platform_id", "nonce"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LtiUserLink(TimestampMixin, Model):
    """A platform user (issuer, subject) known as one of ours: the only way an LTI launch finds a person."""

    __tablename__ = "lti_user_links"
    __table_args__ = (UniqueConstraint("issuer", "subject"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("lti_platforms.id", ondelete="SET NULL"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    last_launch_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class LtiContext(TimestampMixin, Model):
    """A course of a platform, mapped to one cohort."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("lti_deployments.id", ondelete="SET NULL"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    # SET NULL: deleting a cohort unmaps the course, which asks for a cohort again on the next launch.
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id", ondelete="SET NULL"), index=True)
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    ags_scopes: Mapped[list] = mapped_column(JSON, default=list)
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    roster_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    platform: Mapped[LtiPlatform] = relationship()
    cohort: Mapped[Cohort | None] = relationship()


class LtiContextMember(TimestampMixin, Model):
    """A person's role in one course context, as the platform last told us (launch or roster)."""

    __tablename__ = "lti_context_members"
    __table_args__ = (
        UniqueConstraint("context_id", "user_id"),
        CheckConstraint("role IN ('learner', 'tutor', 'admin')", name="role"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[ContextRole] = mapped_column(str_enum(ContextRole, "lti_context_role", length=10))
    is_active: Mapped[bool] = mapped_column(default=True)   # False once the roster no longer lists them

    context: Mapped[LtiContext] = relationship()
    user: Mapped[User] = relationship()


class LtiResourceLink(TimestampMixin, Model):
    """A placement of the tool in a course and what it opens."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (
        UniqueConstraint("context_id", "resource_link_id"),
        CheckConstraint("target IN ('portfolio', 'block', 'queue', 'matrix')", name="target"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    target: Mapped[LinkTarget] = mapped_column(str_enum(LinkTarget, "lti_link_target", length=10),
                                               default=LinkTarget.PORTFOLIO)
    block_id: Mapped[int | None] = mapped_column(ForeignKey("blocks.id", ondelete="SET NULL"))

    context: Mapped[LtiContext] = relationship()
    block: Mapped[Block | None] = relationship()


class LtiLineItem(TimestampMixin, Model):
    """The gradebook column of one block in one course (found by tag and resource id, or created)."""

    __tablename__ = "lti_line_items"
    __table_args__ = (UniqueConstraint("context_id", "block_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"))
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(1000))


class LtiScorePost(TimestampMixin, Model):
    """A score to send to a course gradebook; the job computes the score when it runs."""

    __tablename__ = "lti_score_posts"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("score_given IS NULL OR (score_given >= 0 AND score_given <= 100)", name="score_range"),
        Index("ix_lti_score_posts_status", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"))
    status: Mapped[ScoreStatus] = mapped_column(str_enum(ScoreStatus, "lti_score_status", length=10),
                                                default=ScoreStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    score_given: Mapped[float | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
