"""What each person's evidence files weigh, held by the database so that parallel uploads share it."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from portfolio.extensions import Model


class StorageUsage(Model):
    """One row per person: ``used_bytes`` is the size of their evidence files (one count per file, as
    the quota is shown) plus the bytes of uploads in flight, reserved while they stream
    (``portfolio.services.quota``). A reservation is a conditional UPDATE, so two uploads can never
    pass the quota together."""

    __tablename__ = "storage_usage"
    # The key is the person's id (no id of its own to reuse), hence no sqlite_autoincrement here.
    __table_args__ = (CheckConstraint("used_bytes >= 0", name="used_bytes_not_negative"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
