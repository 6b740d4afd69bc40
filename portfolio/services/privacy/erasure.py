"""Right to erasure: a person asks, the data protection officer (an administrator) decides with a reason,
and the erasure removes the person's data and content while keeping, pseudonymised, the records the
certification rules require.

What a person *owns* is read from the schema: the rows that deleting their account would remove
(foreign keys ``ON DELETE CASCADE`` from ``users``, and from those rows on). Of those, the kinds in
:data:`KEPT` stay, attached to the pseudonymised account; every other owned row is deleted, references
to it (``ON DELETE SET NULL``) are cleared, and the stored files nobody else's record needs are deleted
from the store after the commit. Messages the person wrote on other people's records are replaced by a
notice. The audit trail is not rewritten: its events carry identifiers only, and the account they point
at is pseudonymised, so the chain stays verifiable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Table, func, or_, select, update

from portfolio.dml import rowcount
from portfolio.extensions import db
from portfolio.models import User
from portfolio.models.base import utcnow
from portfolio.models.privacy import PrivacyRequest, RequestKind, RequestStatus
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.privacy.policy import REQUEST_DEADLINE
from portfolio.services.privacy.records import CHUNK, _chunks
from portfolio.services.privacy.storage_refs import release_unreferenced_keys, storage_keys_of

#: Owned records kept after an erasure, and why (said in the answer to the person).
KEPT: dict[str, str] = {
    "assessments": "Évaluations : trace exigée par les règles de la certification (pseudonymisée).",
    "competency_states": "Niveaux acquis : découlent des évaluations conservées.",
    "block_decisions": "Décisions de validation des blocs : trace exigée par la certification.",
    "dossiers": "Dossier VAE : seule la fiche vide est gardée, pour rattacher les décisions du jury.",
    "dossier_versions": "Versions envoyées au jury : le contenu est effacé, le numéro et la date restent.",
    "jury_block_decisions": "Décisions du jury par bloc : trace exigée par la certification.",
    "jury_outcomes": "Décisions finales du jury : trace exigée par la certification.",
}
#: Text columns of other people's records that the person wrote: replaced by a notice.
AUTHORED_TEXT = {"comments": ("author_id", "body")}
ERASED_NOTICE = "[message effacé à la demande de son auteur·rice]"


class ErasureRefused(DomainError):
    code = "erasure_refused"


def open_request(user: User) -> PrivacyRequest | None:
    return db.session.scalar(select(PrivacyRequest).where(
        PrivacyRequest.user_id == user.id, PrivacyRequest.kind == RequestKind.ERASURE,
        PrivacyRequest.status == RequestStatus.OPEN))


def request_erasure(user: User, message: str) -> PrivacyRequest:
    """Record the person's request (answered within a month); one open request at a time."""
    message = (message or "").strip()
    if len(message) > 2000:
        raise DomainError(_("Votre message ne doit pas dépasser %(n)d caractères.", n=2000), field="message")
    if open_request(user) is not None:
        raise Conflict(_("Votre demande d'effacement est déjà enregistrée : elle sera traitée avant son "
                         "échéance."))
    now = utcnow()
    request = PrivacyRequest(user_id=user.id, kind=RequestKind.ERASURE, status=RequestStatus.OPEN,
                             message=message, created_at=now, due_at=now + REQUEST_DEADLINE)
    db.session.add(request)
    db.session.flush()  # the partial unique index refuses a second open request made at the same moment
    record_event("privacy.erasure_request", actor=user, subject_type="user", subject_id=user.id,
                 data={"request": request.id})
    return request


def open_requests() -> list[PrivacyRequest]:
    """What the data protection officer must answer, the nearest deadline first."""
    return list(db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.status == RequestStatus.OPEN)
                                   .order_by(PrivacyRequest.due_at, PrivacyRequest.id)))


def handle_request(request: PrivacyRequest, *, officer: User | None, approve: bool, reason: str) -> dict[str, Any]:
    """Answer a request: erase (``approve``) or refuse, always with a reason; returns the outcome.
    ``officer`` is None from the command line (the operator is then named by the system's own logs)."""
    if officer is not None and officer.id == request.user_id:
        raise ErasureRefused(_("Une autre personne doit traiter votre propre demande."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Indiquez le motif de votre décision : il figure dans la réponse."), field="reason")
    claimed = rowcount(db.session.execute(
        update(PrivacyRequest).where(PrivacyRequest.id == request.id, PrivacyRequest.status == RequestStatus.OPEN)
        .values(status=RequestStatus.DONE if approve else RequestStatus.REFUSED,
                handled_by_id=officer.id if officer is not None else None,
                handled_at=utcnow(), reason=reason)))
    if not claimed:
        raise Conflict(_("Cette demande a déjà été traitée."))
    db.session.refresh(request)
    outcome: dict[str, Any] = {"decision": "erased" if approve else "refused", "reason": reason}
    if approve and request.user is not None:
        outcome.update(erase_user(request.user, actor=officer))
    request.outcome = outcome
    record_event("privacy.request_handled", actor=officer, subject_type="privacy_request", subject_id=request.id,
                 data={"decision": outcome["decision"]})
    db.session.flush()
    return outcome


def owned_rows(user_id: int) -> dict[str, set[Any]]:
    """Primary keys of the rows that deleting the account would remove, per table (see module doc)."""
    tables = db.metadata.sorted_tables
    owned: dict[str, set[Any]] = {"users": {user_id}}
    grown = True
    while grown:
        grown = False
        for table in tables:
            if table.name == "users":
                continue
            for fk in table.foreign_keys:
                if (fk.ondelete or "").upper() != "CASCADE":
                    continue
                parents = owned.get(fk.column.table.name)
                if not parents or fk.column.name not in _key_names(fk.column.table):
                    continue
                for batch in _chunks(sorted(parents, key=str)):
                    for key in _keys(table, fk.parent.in_(batch)):
                        if key not in owned.setdefault(table.name, set()):
                            owned[table.name].add(key)
                            grown = True
    return owned


def _key_names(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _keys(table: Table, where: Any) -> Iterable[Any]:
    names = _key_names(table)
    for row in db.session.execute(select(*[table.c[n] for n in names]).where(where)):
        yield row[0] if len(names) == 1 else tuple(row)


def _key_clause(table: Table, keys: list[Any]) -> Any:
    names = _key_names(table)
    if len(names) == 1:
        return table.c[names[0]].in_(keys)
    return or_(*[_tuple_match(table, names, k) for k in keys])


def _tuple_match(table: Table, names: list[str], key: tuple) -> Any:
    clause = None
    for name, value in zip(names, key, strict=True):
        term = table.c[name] == value
        clause = term if clause is None else clause & term
    return clause


def erase_user(user: User, *, actor: User | None) -> dict[str, Any]:
    """Erase the person's data (see module doc); a second run finds nothing to do and writes nothing."""
    if user.erased_at is not None:
        return {"removed": {}, "kept": [], "files_deleted": 0, "already_erased": True}
    tables = {t.name: t for t in db.metadata.sorted_tables}
    owned = owned_rows(user.id)
    owned.pop("users")
    db.session.flush()
    keys_before = storage_keys_of(owned)
    removed: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    for table in reversed(db.metadata.sorted_tables):  # children first
        found = sorted(owned.get(table.name, ()), key=str)
        if not found:
            continue
        if table.name in KEPT:
            kept.append({"kind": table.name, "count": len(found), "why": KEPT[table.name]})
            continue
        for batch in _chunks(found):
            _clear_references(table, batch, tables)
            db.session.execute(table.delete().where(_key_clause(table, batch)))
        removed[table.name] = len(found)
    _redact_kept(user.id, owned, tables)
    for name, (author_column, text_column) in AUTHORED_TEXT.items():
        table = tables.get(name)
        if table is not None:
            count = rowcount(db.session.execute(update(table).where(table.c[author_column] == user.id)
                                                .values({text_column: ERASED_NOTICE})))
            if count:
                removed[f"{name} (texte)"] = count
    db.session.expire_all()  # the rows deleted above in SQL are gone from the session's view too
    _pseudonymise(user)
    released = release_unreferenced_keys(keys_before)
    record_event("privacy.erase", actor=actor, subject_type="user", subject_id=user.id,
                 data={"removed": removed, "kept": {k["kind"]: k["count"] for k in kept},
                       "files": len(released)})
    db.session.flush()
    return {"removed": removed, "kept": kept, "files_deleted": len(released)}


def _clear_references(table: Table, keys: list[Any], tables: dict[str, Table]) -> None:
    """What the database does for ``ON DELETE SET NULL`` / ``CASCADE``, done explicitly (whatever the
    connection's foreign-key setting)."""
    names = _key_names(table)
    if len(names) != 1:
        return
    for other in tables.values():
        for fk in other.foreign_keys:
            if fk.column.table is not table:
                continue
            rule = (fk.ondelete or "").upper()
            if rule == "SET NULL":
                db.session.execute(update(other).where(fk.parent.in_(keys)).values({fk.parent.name: None}))
            elif rule == "CASCADE":
                db.session.execute(other.delete().where(fk.parent.in_(keys)))


def _redact_kept(user_id: int, owned: dict[str, set[Any]], tables: dict[str, Table]) -> None:
    dossiers = tables.get("dossiers")
    if dossiers is not None and owned.get("dossiers"):
        for batch in _chunks(sorted(owned["dossiers"])):
            db.session.execute(update(dossiers).where(dossiers.c.id.in_(batch)).values(presentation=""))
    versions = tables.get("dossier_versions")
    if versions is not None and owned.get("dossier_versions"):
        for batch in _chunks(sorted(owned["dossier_versions"])):
            for row in db.session.execute(select(versions.c.id, versions.c.snapshot, versions.c.number,
                                                 versions.c.sent_at).where(versions.c.id.in_(batch))):
                snapshot = row.snapshot or {}
                db.session.execute(update(versions).where(versions.c.id == row.id).values(snapshot={
                    "erased": True,
                    "version": snapshot.get("version", row.number),
                    "certification": {k: v for k, v in (snapshot.get("certification") or {}).items()
                                      if k in ("code", "title")},
                    "blocks": [{"code": b.get("code"), "title": b.get("title")} for b in snapshot.get("blocks", [])],
                }))


def _pseudonymise(user: User) -> None:
    user.email = f"efface-{user.id}@invalid.invalid"
    user.name = _("Compte effacé n° %(id)d", id=user.id)
    user.password_hash = None
    user.is_enabled = False
    user.last_login_at = None
    user.erased_at = utcnow()  # (its roles went with the owned rows)
    db.session.flush()


def erasure_deadline_count() -> int:
    """Open requests whose deadline has passed (shown in red to the officer)."""
    return db.session.scalar(select(func.count()).select_from(PrivacyRequest).where(
        PrivacyRequest.status == RequestStatus.OPEN, PrivacyRequest.due_at < utcnow())) or 0


__all__ = ["CHUNK", "KEPT", "erase_user", "handle_request", "open_request", "open_requests", "owned_rows",
           "request_erasure"]
