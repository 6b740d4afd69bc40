"""W3C Bitstring Status List v1.0 (revocation): index allocation, bit flips, the published list.

The bits are kept in ``credential_status_lists.bits`` (131,072 per list, the specification's minimum
for group privacy). An index is handed out by an atomic ``UPDATE … RETURNING`` of ``next_index`` and
is unique per list (a constraint on ``credentials``), so no index is ever given twice, even after the
credential holding it is erased. Bit 0 is the most significant bit of the first byte (§ 3.2).
"""

from __future__ import annotations

import base64
import gzip

from sqlalchemy import select, update

from portfolio.extensions import db
from portfolio.models import StatusList
from portfolio.models.base import utcnow
from portfolio.services.locks import lock

LIST_SIZE = 131072


def _open_list() -> StatusList:
    found = db.session.scalar(select(StatusList).where(StatusList.next_index < StatusList.size)
                              .order_by(StatusList.id).limit(1))
    if found is None:
        found = StatusList(purpose="revocation", size=LIST_SIZE, next_index=0, bits=bytes(LIST_SIZE // 8))
        db.session.add(found)
        db.session.flush()
    return found


def allocate_index() -> tuple[StatusList, int]:
    """A fresh (list, index) pair for a new credential; a full list makes the next one."""
    while True:
        status_list = _open_list()
        taken = db.session.execute(
            update(StatusList).where(StatusList.id == status_list.id, StatusList.next_index < StatusList.size)
            .values(next_index=StatusList.next_index + 1).returning(StatusList.next_index)
        ).scalar()
        if taken is not None:
            db.session.refresh(status_list)
            return status_list, taken - 1


def set_revoked(status_list: StatusList, index: int) -> None:
    """Set the bit of ``index`` (under the list's row lock: two revocations never lose one another)."""
    lock(status_list)
    bits = bytearray(status_list.bits)
    bits[index // 8] |= 0x80 >> (index % 8)
    status_list.bits = bytes(bits)
    status_list.updated_at = utcnow()
    db.session.flush()


def is_set(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def encode_list(bits: bytes) -> str:
    """``encodedList``: GZIP, then base64url without padding, with the multibase prefix ``u``."""
    compressed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def decode_list(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise ValueError("encodedList is not multibase base64url")
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
