"""What one request streamed into the store: the batch of its stored blobs and its quota reservation,
and the ``stream`` each streamed file part leaves in the form (:class:`StoredFile`).

Shared by the multipart parser (``portfolio.uploads``) and the evidence service, which records the
files and hands their bytes over; neither imports the other for it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import g
from sqlalchemy import select

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import Blob
from portfolio.storage import PendingBlob, StorageError, StoredBlob, get_storage

log = logging.getLogger("portfolio")

BATCH_KEY = "portfolio_upload_batch"  # in flask.g, for the request


class StoredFile:
    """The ``stream`` of a streamed file part: its bytes are in the store already, or the store is
    making the blob from them (``confirm``)."""

    def __init__(self, batch: UploadBatch, pending: PendingBlob | None, error: BaseException | None) -> None:
        self._batch = batch
        self._pending = pending
        self._error = error

    @property
    def batch(self) -> UploadBatch:
        """The request's batch: the service that records the file hands its bytes over to it."""
        return self._batch

    def finish_upload(self) -> StoredBlob:
        """The blob (the store may still be making it: ``confirm`` before the commit); raises the
        request's refusal, or this part's own error."""
        self._batch.check()
        if self._error is not None:
            raise self._error
        assert self._pending is not None
        return self._pending.blob

    def confirm(self) -> None:
        """Wait until the store has made the blob; raises its error (nothing of the file is left then)."""
        if self._pending is not None:
            self._pending.result()

    def read(self, n: int = -1) -> bytes:
        raise OSError("this upload was streamed to the evidence store")

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def close(self) -> None:
        return None


class UploadBatch:
    """What one request stored and reserved; the refusal, if a limit was passed."""

    def __init__(self, owner_id: int | None, reservation: Any) -> None:
        self.owner_id = owner_id
        self.reservation = reservation
        self.stored: list[StoredBlob] = []
        self.pending: list[PendingBlob] = []  # blobs the store may still be making
        self.refusal: BaseException | None = None
        self.bytes = 0
        self.kept = False

    def refuse(self, exc: BaseException) -> None:
        if self.refusal is None:
            self.refusal = exc

    def check(self) -> None:
        if self.refusal is not None:
            raise self.refusal

    def hand_over(self, used: int) -> None:
        """The service records the files in the current transaction: keep them if it commits."""
        if self.reservation is not None:
            self.reservation.hand_over(used)
        unit_of_work.after_commit(self._kept)

    def _kept(self) -> None:
        self.kept = True

    def clean_up(self) -> None:
        """The request ends without its files: delete what it stored, release what it reserved."""
        for pending in self.pending:
            # A blob still being made would appear after its delete below, and stay for good.
            with contextlib.suppress(Exception):  # it failed: the store left nothing of it
                pending.result()
        if self.kept:
            return
        if self.reservation is not None:
            self.reservation.release()
        created = [blob for blob in self.stored if blob.created]
        if not created:
            return
        db.session.rollback()
        referenced = set(db.session.scalars(select(Blob.storage_key).where(
            Blob.storage_key.in_([blob.key for blob in created]))))
        storage = get_storage()
        for blob in created:
            if blob.key in referenced:
                continue
            try:
                storage.delete(blob.key)
            except StorageError:
                log.warning("could not delete %s of a refused upload; left for the sweep", blob.key)


def current_batch() -> UploadBatch | None:
    return g.get(BATCH_KEY)
