"""The internship logbook: internships, entries, the supervisor's sign-off links, totals and exports.

The supervisor has no account. They receive a link carrying a token signed with the app's secret
(``itsdangerous``) that names one ``SignoffLink`` and a nonce; only the nonce's SHA-256 is stored, so a
database leak yields no usable link. The nonce is an HMAC of the link (its id and creation second) under
the app's secret, so the learner can be shown the link again while it is valid (``link_url``).
A link acts only on the entries that were pending
when it was sent and are still pending through it (``LogbookEntry.current_link_id``); it is refused
once expired, revoked, or when nothing is left to sign. A signed entry never changes again.

Like every service: flush, never commit; refusals are ``DomainError`` with a message for a person.

Over 400 lines: internships, entries, sign-off links and exports change under one lock order;
the exports could move out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from io import BytesIO

from flask import current_app, render_template, url_for
from flask_babel import force_locale, format_date, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from portfolio.dml import rowcount
from portfolio.extensions import db
from portfolio.formatting import date_long, slugify
from portfolio.markdown import render_markdown
from portfolio.models import (
    Block,
    Competency,
    EntryStatus,
    Evidence,
    Internship,
    LogbookEntry,
    SignoffCode,
    SignoffLink,
    User,
)
from portfolio.models.base import utcnow
from portfolio.pdf import html_document
from portfolio.services.audit import record_event, record_read
from portfolio.services.errors import DomainError, NotFound
from portfolio.services.evidence import Upload, create_evidence, learner_certification_ids, tag_evidence
from portfolio.services.locks import lock
from portfolio.services.notifications import notify
from portfolio.services.outbox import placeholder as outbox_placeholder
from portfolio.services.outbox import queue_email
from portfolio.services.users import normalise_email

TOKEN_SALT = "portfolio.logbook.signoff"  # noqa: S105 — a salt separates token uses; it is no secret
DEFAULT_VALIDITY = timedelta(days=14)
MAX_TOKEN_LENGTH = 500
MAX_TEXT = 200
MAX_ACTIVITIES = 20_000
MAX_REMARK = 2000
MAX_DAY_MINUTES = 24 * 60
#: Default expected length: 7 h per working day (35 h a week), public holidays not deducted.
HOURS_PER_WORKING_DAY = 7
MAX_INTERNSHIP_DAYS = 3 * 366


class EntryLocked(DomainError):
    code = "entry_locked"


class LinkRefused(DomainError):
    """A sign-off link that opens nothing; ``status`` is the HTTP answer the page gives."""

    code = "link_refused"
    status = 410


class LinkInvalid(LinkRefused):
    code = "link_invalid"
    status = 404


class LinkExpired(LinkRefused):
    code = "link_expired"


class LinkRevoked(LinkRefused):
    code = "link_revoked"


class LinkUsed(LinkRefused):
    code = "link_used"


# --- formatting ----------------------------------------------------------------------------------

def format_minutes(minutes: int) -> str:
    """``450`` → ``7 h 30`` (no-break spaces), ``420`` → ``7 h``."""
    hours, rest = divmod(int(minutes), 60)
    return f"{hours}\u00a0h\u00a0{rest:02d}" if rest else f"{hours}\u00a0h"


_CLOCK_RE = re.compile(r"(\d{1,2})[h:](\d{2})?")
_DECIMAL_RE = re.compile(r"\d{1,3}(?:\.\d{1,4})?")


def parse_hours(value: Decimal | int | float | str | None) -> int:
    """Hours as typed (``7``, ``7,5``, ``7.5``, ``7h30``, ``7 h``, ``7:30``) → minutes, within (0, 24 h]."""
    minutes: int | None = None
    if isinstance(value, str):
        text = value.strip().lower().replace(",", ".").replace(" ", "").replace("\u00a0", "")
        if clock := _CLOCK_RE.fullmatch(text):
            rest = int(clock.group(2) or 0)
            minutes = int(clock.group(1)) * 60 + rest if rest < 60 else None
        elif _DECIMAL_RE.fullmatch(text):
            minutes = round(Decimal(text) * 60)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            minutes = round(Decimal(str(value)) * 60)
        except (InvalidOperation, ValueError):
            minutes = None
    if minutes is None:
        raise DomainError(_("Indiquez les heures en nombre (par exemple 7, 7,5 ou 7h30)."), field="hours")
    if minutes <= 0 or minutes > MAX_DAY_MINUTES:
        raise DomainError(_("Une entrée compte plus de 0 h et au plus 24 h."), field="hours")
    return minutes


def working_days(start: date, end: date) -> int:
    """Monday to Friday between two dates, both included."""
    if end < start:
        return 0
    full_weeks, rest = divmod((end - start).days + 1, 7)
    days = full_weeks * 5
    for offset in range(rest):
        if (start + timedelta(days=full_weeks * 7 + offset)).weekday() < 5:
            days += 1
    return days


def default_expected_hours(start: date, end: date) -> int:
    return working_days(start, end) * HOURS_PER_WORKING_DAY


# --- internships ---------------------------------------------------------------------------------

def _required(value: str | None, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(message, field=field)
    if len(value) > MAX_TEXT:
        raise DomainError(_("%(n)d caractères au plus.", n=MAX_TEXT), field=field)
    return value


def _check_internship(organisation: str, supervisor_name: str, supervisor_email: str, start_date: date | None,
                      end_date: date | None, expected_hours: int | None, learner: User) -> dict:
    organisation = _required(organisation, "organisation", _("Indiquez l'organisme d'accueil."))
    supervisor_name = _required(supervisor_name, "supervisor_name", _("Indiquez le nom du maître de stage."))
    if not (supervisor_email or "").strip():
        raise DomainError(_("Indiquez l'adresse e-mail du maître de stage."), field="supervisor_email")
    try:
        email = normalise_email(supervisor_email)
    except DomainError as exc:
        raise DomainError(exc.message, field="supervisor_email") from None
    if len(email) > 254:
        raise DomainError(_("Adresse e-mail invalide : %(email)s", email=supervisor_email), field="supervisor_email")
    if email == (learner.email or "").strip().lower():
        # The code that confirms the supervisor's signature goes to this address: never the learner's own.
        raise DomainError(_("L'adresse du maître de stage ne peut pas être la vôtre : c'est à elle qu'est envoyé "
                            "le code qui confirme sa signature."), field="supervisor_email")
    if start_date is None:
        raise DomainError(_("Indiquez la date de début."), field="start_date")
    if end_date is None:
        raise DomainError(_("Indiquez la date de fin."), field="end_date")
    if end_date < start_date:
        raise DomainError(_("La date de fin doit suivre la date de début."), field="end_date")
    if (end_date - start_date).days > MAX_INTERNSHIP_DAYS:
        raise DomainError(_("Un stage dure au plus trois ans."), field="end_date")
    if expected_hours is None:
        expected_hours = default_expected_hours(start_date, end_date)
    elif isinstance(expected_hours, bool) or not 1 <= int(expected_hours) <= 10_000:
        raise DomainError(_("La durée prévue doit être comprise entre 1 et 10 000 heures."), field="expected_hours")
    return {"organisation": organisation, "supervisor_name": supervisor_name, "supervisor_email": email,
            "start_date": start_date, "end_date": end_date, "expected_hours": int(expected_hours)}


def create_internship(learner: User, *, organisation: str, supervisor_name: str, supervisor_email: str,
                      start_date: date | None, end_date: date | None,
                      expected_hours: int | None = None) -> Internship:
    """Record an internship; its expected length defaults to 7 h per working day."""
    fields = _check_internship(organisation, supervisor_name, supervisor_email, start_date, end_date,
                               expected_hours, learner)
    internship = Internship(learner=learner, **fields)
    db.session.add(internship)
    db.session.flush()
    record_event("logbook.internship_create", actor=learner, subject_type="internship", subject_id=internship.id,
                 data={"organisation": fields["organisation"], "start": fields["start_date"].isoformat(),
                       "end": fields["end_date"].isoformat(), "expected_hours": fields["expected_hours"]})
    return internship


def update_internship(internship: Internship, *, actor: User, organisation: str, supervisor_name: str,
                      supervisor_email: str, start_date: date | None, end_date: date | None,
                      expected_hours: int | None = None) -> None:
    """Change an internship; its dates must still hold every entry."""
    fields = _check_internship(organisation, supervisor_name, supervisor_email, start_date, end_date,
                               expected_hours, internship.learner)
    outside = [e for e in internship.entries if not fields["start_date"] <= e.day <= fields["end_date"]]
    if outside:
        raise DomainError(_("Des entrées tombent hors de ces dates (la première le %(day)s) : gardez des dates "
                            "qui les contiennent.", day=format_date(outside[0].day, "short")), field="start_date")
    changed = {}
    for name, value in fields.items():
        if getattr(internship, name) != value:
            old = getattr(internship, name)
            changed[name] = [old.isoformat() if isinstance(old, date) else old,
                             value.isoformat() if isinstance(value, date) else value]
            setattr(internship, name, value)
    db.session.flush()
    if changed:
        record_event("logbook.internship_update", actor=actor, subject_type="internship",
                     subject_id=internship.id, data={"changed": changed})


def internships_of(learner: User) -> list[Internship]:
    return list(db.session.scalars(select(Internship).where(Internship.learner_id == learner.id)
                                   .order_by(Internship.start_date.desc(), Internship.id.desc())))


# --- entries -------------------------------------------------------------------------------------

def learner_competencies(learner: User) -> list[Competency]:
    """The competencies an entry may name: those of the learner's certifications, in block order."""
    cert_ids = learner_certification_ids(learner)
    if not cert_ids:
        return []
    return list(db.session.scalars(select(Competency).join(Block).where(Block.certification_id.in_(cert_ids))
                                   .order_by(Block.position, Competency.position)))


def _competencies(learner: User, codes: Iterable[str]) -> list[Competency]:
    wanted = {(c or "").strip().upper() for c in codes if (c or "").strip()}
    if not wanted:
        return []
    known = {c.code: c for c in learner_competencies(learner) if c.code in wanted}
    unknown = sorted(wanted - known.keys())
    if unknown:
        raise DomainError(_("Compétence inconnue dans votre certification : %(code)s", code=", ".join(unknown)),
                          field="competencies")
    return [known[code] for code in sorted(known)]


def locked_reason(entry: LogbookEntry) -> str | None:
    """Why an entry cannot be changed now, or None when it can."""
    if entry.status == EntryStatus.SIGNED:
        return _("Cette entrée a été signée : elle ne peut plus être modifiée.")
    if entry.status == EntryStatus.PENDING:
        return _("Cette entrée attend la signature du maître de stage : révoquez le lien pour la modifier.")
    return None


def _require_editable(entry: LogbookEntry) -> None:
    # Under the internship's row lock, which signing and returning take: a signature that committed
    # after this request read the entry is seen here, and a signed entry is never changed.
    lock(entry.internship)
    db.session.refresh(entry)
    reason = locked_reason(entry)
    if reason:
        raise EntryLocked(reason)


def _check_entry(internship: Internship, day: date | None, hours: Decimal | int | str, activities: str,
                 exclude: LogbookEntry | None = None) -> tuple[date, int, str]:
    if day is None:
        raise DomainError(_("Indiquez le jour."), field="day")
    if not internship.start_date <= day <= internship.end_date:
        raise DomainError(_("Le jour doit être compris dans le stage (du %(start)s au %(end)s).",
                            start=format_date(internship.start_date, "short"),
                            end=format_date(internship.end_date, "short")), field="day")
    if day > utcnow().date() + timedelta(days=1):  # a day of slack for time zones
        raise DomainError(_("Une entrée ne peut pas porter sur un jour à venir."), field="day")
    minutes = parse_hours(hours)
    same_day = sum(e.minutes for e in internship.entries if e.day == day and e is not exclude)
    if same_day + minutes > MAX_DAY_MINUTES:
        raise DomainError(_("Ce jour compterait plus de 24 h (déjà %(done)s dans d'autres entrées).",
                            done=format_minutes(same_day)), field="hours")
    activities = (activities or "").strip()
    if not activities:
        raise DomainError(_("Décrivez les activités de la journée."), field="activities")
    if len(activities) > MAX_ACTIVITIES:
        raise DomainError(_("Les activités ne doivent pas dépasser %(n)d caractères.", n=MAX_ACTIVITIES),
                          field="activities")
    return day, minutes, activities


def add_entry(internship: Internship, *, actor: User, day: date | None, hours: Decimal | int | str,
              activities: str, competency_codes: Sequence[str] = ()) -> LogbookEntry:
    """A new draft entry: a day of the internship, its hours, activities (Markdown), competencies practised."""
    day, minutes, activities = _check_entry(internship, day, hours, activities)
    competencies = _competencies(internship.learner, competency_codes)
    entry = LogbookEntry(internship=internship, day=day, minutes=minutes, activities=activities,
                         status=EntryStatus.DRAFT, competencies=competencies)
    db.session.add(entry)
    db.session.flush()
    record_event("logbook.entry_add", actor=actor, subject_type="internship", subject_id=internship.id,
                 data={"entry": entry.id, "day": day.isoformat(), "minutes": minutes,
                       "competencies": [c.code for c in competencies]})
    return entry


def update_entry(entry: LogbookEntry, *, actor: User, day: date | None, hours: Decimal | int | str,
                 activities: str, competency_codes: Sequence[str] = ()) -> None:
    """Change a draft or returned entry (a returned one stays returned until it is sent again)."""
    _require_editable(entry)
    day, minutes, activities = _check_entry(entry.internship, day, hours, activities, exclude=entry)
    competencies = _competencies(entry.internship.learner, competency_codes)
    entry.day, entry.minutes, entry.activities, entry.competencies = day, minutes, activities, competencies
    db.session.flush()
    record_event("logbook.entry_update", actor=actor, subject_type="internship", subject_id=entry.internship_id,
                 data={"entry": entry.id, "day": day.isoformat(), "minutes": minutes,
                       "competencies": [c.code for c in competencies]})


def delete_entry(entry: LogbookEntry, *, actor: User) -> None:
    """Delete a draft or returned entry."""
    _require_editable(entry)
    record_event("logbook.entry_delete", actor=actor, subject_type="internship", subject_id=entry.internship_id,
                 data={"entry": entry.id, "day": entry.day.isoformat(), "minutes": entry.minutes})
    entry.internship.entries.remove(entry)
    db.session.flush()


# --- sign-off links ------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()


def _derived_nonce(link_id: int, created_at: datetime) -> str:
    """The link's nonce, derived again from its id and creation second under the app's secret."""
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    message = f"{TOKEN_SALT}:nonce:{link_id}:{int(created_at.timestamp())}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode("ascii")


def link_url(link: SignoffLink) -> str | None:
    """The link's URL again (for its learner, while it is open), or None for a link whose nonce was random
    (made before links were derivable) or whose secret has changed."""
    nonce = _derived_nonce(link.id, link.created_at)
    if not hmac.compare_digest(link.nonce_hash, _hash(nonce)):
        return None
    return url_for("logbook.signoff", token=_serializer().dumps([link.id, nonce]), _external=True)


def send_for_signoff(internship: Internship, entries: Sequence[LogbookEntry], *, actor: User,
                     valid_for: timedelta = DEFAULT_VALIDITY) -> tuple[SignoffLink, str]:
    """Send entries to the supervisor: they become pending under a new link, e-mailed after the commit.

    Returns the link and its URL (not stored: ``link_url`` derives it again). Entries still
    pending under an older link move to this one, so an expired link is replaced by sending again.
    """
    if not entries:
        raise DomainError(_("Choisissez au moins une entrée à faire signer."), field="entries")
    lock(internship)  # as signing does: the statuses checked below are the committed ones
    for entry in entries:
        db.session.refresh(entry)
        if entry.internship_id != internship.id:
            raise NotFound(_("Entrée introuvable."))
        if entry.status == EntryStatus.SIGNED:
            raise EntryLocked(_("L'entrée du %(day)s est déjà signée.", day=format_date(entry.day, "short")))
    now = utcnow().replace(microsecond=0)  # the nonce is derived from the creation second
    link = SignoffLink(internship=internship, nonce_hash=_hash(secrets.token_urlsafe(24)),
                       sent_to=internship.supervisor_email, created_by_id=actor.id, created_at=now,
                       expires_at=now + valid_for, entries=list(entries))
    db.session.add(link)
    db.session.flush()
    nonce = _derived_nonce(link.id, now)
    link.nonce_hash = _hash(nonce)
    for entry in entries:
        entry.status = EntryStatus.PENDING
        entry.current_link_id = link.id
    db.session.flush()
    token = _serializer().dumps([link.id, nonce])
    url = url_for("logbook.signoff", token=token, _external=True)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = ngettext("Journal de stage de %(learner)s : %(num)d entrée à signer",
                           "Journal de stage de %(learner)s : %(num)d entrées à signer", len(entries),
                           learner=internship.learner.name)
        body = ngettext(
            "Bonjour %(supervisor)s,\n\n%(learner)s vous demande de signer %(num)d entrée de son journal de "
            "stage chez %(organisation)s. Ouvrez ce lien pour la relire, la signer ou la renvoyer avec "
            "une remarque (aucun compte n'est nécessaire) :\n\n%(url)s\n\nCe lien est valable jusqu'au "
            "%(expires)s.",
            "Bonjour %(supervisor)s,\n\n%(learner)s vous demande de signer %(num)d entrées de son journal de "
            "stage chez %(organisation)s. Ouvrez ce lien pour les relire, les signer ou les renvoyer avec "
            "une remarque (aucun compte n'est nécessaire) :\n\n%(url)s\n\nCe lien est valable jusqu'au "
            "%(expires)s.", len(entries), supervisor=internship.supervisor_name, learner=internship.learner.name,
            organisation=internship.organisation, url=url, expires=date_long(link.expires_at))
    queue_email(db.session, internship.supervisor_email, subject, body, user_id=internship.learner_id,
                kind="signoff_link", subject_id=link.id)
    record_event("logbook.send", actor=actor, subject_type="internship", subject_id=internship.id,
                 data={"link": link.id, "entries": [e.id for e in entries],
                       "expires_at": link.expires_at.isoformat()})
    return link, url


def revoke_link(link: SignoffLink, *, actor: User) -> None:
    """Close a link for good; its pending entries go back to draft, to be edited or sent again."""
    lock(link.internship)  # as signing does: an entry signed meanwhile stays signed
    db.session.refresh(link)
    if link.revoked_at is not None:
        return
    link.revoked_at = utcnow()
    back = signable_entries(link)
    for entry in back:
        entry.status = EntryStatus.DRAFT
        entry.current_link_id = None
    db.session.flush()
    record_event("logbook.link_revoke", actor=actor, subject_type="internship", subject_id=link.internship_id,
                 data={"link": link.id, "entries_back_to_draft": [e.id for e in back]})


def signable_entries(link: SignoffLink) -> list[LogbookEntry]:
    """The entries this link may act on now: pending, of its internship, and sent with it."""
    return list(db.session.scalars(
        select(LogbookEntry).where(LogbookEntry.current_link_id == link.id,
                                   LogbookEntry.internship_id == link.internship_id,
                                   LogbookEntry.status == EntryStatus.PENDING)
        .order_by(LogbookEntry.day, LogbookEntry.id)))


def link_state(link: SignoffLink) -> str:
    """For the learner's list of links: ``revoked``, ``expired``, ``done`` or ``open``."""
    if link.revoked_at is not None:
        return "revoked"
    if utcnow() >= link.expires_at:
        return "expired"
    return "open" if signable_entries(link) else "done"


def load_link(token: str) -> SignoffLink:
    """The link a supervisor's token opens, or ``LinkRefused`` saying why (unknown, tampered, expired,
    revoked, nothing left to sign)."""
    invalid = LinkInvalid(_("Ce lien de signature n'est pas valide. Vérifiez qu'il a été copié en entier, ou "
                            "demandez-en un nouveau à l'apprenant·e."))
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        payload, signed_at = _serializer().loads(token, return_timestamp=True)
    except BadSignature:
        raise invalid from None
    if not (isinstance(payload, list) and len(payload) == 2 and type(payload[0]) is int
            and isinstance(payload[1], str)):
        raise invalid
    link = db.session.get(SignoffLink, payload[0])
    if link is None or not hmac.compare_digest(link.nonce_hash, _hash(payload[1])):
        raise invalid
    if link.revoked_at is not None:
        raise LinkRevoked(_("Ce lien a été révoqué par l'apprenant·e : il ne permet plus de signer."))
    now = utcnow()
    # Both the row and the token's own timestamp must be within the validity.
    if now >= link.expires_at or now - signed_at > link.expires_at - link.created_at:
        raise LinkExpired(_("Ce lien a expiré le %(date)s. Demandez un nouveau lien à l'apprenant·e.",
                            date=format_date(link.expires_at, "long")))
    if not signable_entries(link):
        if all(e.status == EntryStatus.SIGNED for e in link.entries):
            raise LinkUsed(_("Toutes les entrées de ce lien ont été signées : il n'est plus utilisable. Merci !"))
        raise LinkUsed(_("Ce lien ne comporte plus d'entrée à signer."))
    return link


def _link_entries(link: SignoffLink, entry_ids: Iterable[int]) -> list[LogbookEntry]:
    # Sign-offs and returns of one internship, one at a time: the second sees what the first did.
    lock(link.internship)
    signable = {e.id: e for e in signable_entries(link)}
    chosen = []
    for entry_id in entry_ids:
        if entry_id not in signable:
            raise NotFound(_("Cette entrée ne fait pas partie de ce lien ou n'attend plus de signature."))
        chosen.append(signable[entry_id])
    return chosen


def _notify_learner(internship: Internship, message: str) -> None:
    notify(internship.learner, message, url_for("logbook.detail", internship_id=internship.id))


def _check_signature(link: SignoffLink, entry_ids: Sequence[int], *, name: str,
                     comment: str) -> tuple[str, str, list[LogbookEntry]]:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Indiquez votre nom pour signer."), field="name")
    if len(name) > MAX_TEXT:
        raise DomainError(_("%(n)d caractères au plus.", n=MAX_TEXT), field="name")
    comment = (comment or "").strip()
    if len(comment) > MAX_REMARK:
        raise DomainError(_("Le commentaire ne doit pas dépasser %(n)d caractères.", n=MAX_REMARK), field="comment")
    entries = _link_entries(link, dict.fromkeys(entry_ids))
    if not entries:
        raise DomainError(_("Cochez au moins une entrée à signer."), field="entries")
    return name, comment, entries


def sign_entries(link: SignoffLink, entry_ids: Sequence[int], *, name: str, code: str,
                 comment: str = "") -> list[LogbookEntry]:
    """The supervisor signs some of the link's pending entries with their name (and an optional comment),
    confirmed by the one-time code e-mailed to the link's address (:func:`send_signoff_code`): the learner,
    who holds the link, does not receive it."""
    name, comment, entries = _check_signature(link, entry_ids, name=name, comment=comment)
    _use_code(link, code)
    now = utcnow()
    # Signed only if still pending on this link, whatever was read before: the database counts.
    ids = [e.id for e in entries]
    signed = db.session.execute(
        update(LogbookEntry).where(LogbookEntry.id.in_(ids), LogbookEntry.status == EntryStatus.PENDING,
                                   LogbookEntry.current_link_id == link.id)
        .values(status=EntryStatus.SIGNED, signed_by_name=name, signed_at=now, supervisor_comment=comment or None,
                # What it is signed under, frozen with the signature: later edits of the internship do not reach it.
                signed_organisation=link.internship.organisation,
                signed_supervisor_name=link.internship.supervisor_name, signed_supervisor_email=link.sent_to,
                signed_expected_hours=link.internship.expected_hours, signed_minutes=LogbookEntry.minutes)
        .execution_options(synchronize_session="fetch"))
    if rowcount(signed) != len(ids):
        raise LinkUsed(_("Ces entrées viennent d'être signées ou renvoyées : rechargez la page."))
    db.session.flush()
    record_event("logbook.sign", actor=None, subject_type="internship", subject_id=link.internship_id,
                 data={"link": link.id, "entries": [e.id for e in entries], "comment": bool(comment)})
    _notify_learner(link.internship, ngettext("%(name)s a signé %(num)d entrée de votre journal de stage.",
                                              "%(name)s a signé %(num)d entrées de votre journal de stage.",
                                              len(entries), name=name))
    return entries


# --- the supervisor's one-time code ---------------------------------------------------------------

CODE_VALIDITY = timedelta(minutes=15)
CODE_MAX_ATTEMPTS = 5
CODES_PER_LINK = 5


class CodeRefused(DomainError):
    """A wrong, expired or used-up code. Its try is counted: the view commits despite the refusal."""

    code = "signoff_code_refused"


class MailUnavailable(DomainError):
    code = "signoff_mail_unavailable"


def mail_configured() -> bool:
    """Whether this server can e-mail the supervisor a code (without it, signing through a link is impossible)."""
    return bool(current_app.config.get("SMTP_URL"))


def _code_hash(link: SignoffLink, code: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"portfolio.signoff-code|{link.id}|{code}".encode(), hashlib.sha256).hexdigest()


def send_signoff_code(link: SignoffLink, entry_ids: Sequence[int], *, name: str, comment: str = "") -> SignoffCode:
    """The supervisor submitted the signature form: check it, then e-mail a new six-digit code to the
    address the link was sent to (after the commit). Only its HMAC is kept; it expires after 15 minutes,
    allows five tries, and a link gets at most five codes."""
    if not mail_configured():
        raise MailUnavailable(_("La signature exige l'envoi d'un code par e-mail au maître de stage, et l'envoi "
                                "d'e-mails n'est pas configuré sur ce serveur : la signature ne peut pas se faire "
                                "ici."))
    _check_signature(link, entry_ids, name=name, comment=comment)
    sent = db.session.execute(select(func.count()).select_from(SignoffCode)
                              .where(SignoffCode.link_id == link.id)).scalar_one()
    if sent >= CODES_PER_LINK:
        raise CodeRefused(_("Trop de codes ont été demandés pour ce lien : demandez un nouveau lien à "
                            "l'apprenant·e."))
    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    row = SignoffCode(link_id=link.id, code_hash=_code_hash(link, code), created_at=now,
                      expires_at=now + CODE_VALIDITY, attempts=0)
    db.session.add(row)
    db.session.flush()
    internship = link.internship
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = _("Code de signature du journal de stage de %(learner)s", learner=internship.learner.name)
        body = _("Bonjour,\n\nVoici le code qui confirme votre signature du journal de stage de %(learner)s "
                 "chez %(organisation)s : %(code)s\n\nIl est valable 15 minutes. Si vous n'avez rien demandé, "
                 "ignorez ce message : personne ne peut signer à votre place sans ce code.",
                 learner=internship.learner.name, organisation=internship.organisation,
                 code=outbox_placeholder("code"))
    # The code is sealed apart from the stored body, and wiped once the e-mail is sent.
    queue_email(db.session, link.sent_to, subject, body, kind="signoff_code", subject_id=link.id,
                secrets={"code": code})
    record_event("logbook.code_sent", actor=None, subject_type="internship", subject_id=link.internship_id,
                 data={"link": link.id, "code": row.id})
    return row


def _use_code(link: SignoffLink, code: str) -> None:
    """Refuse a missing, expired, exhausted or wrong code; use up the right one. The try is counted by a
    conditional UPDATE before the comparison (parallel guesses share the five tries); the view commits it
    even when the code is refused."""
    if not mail_configured():
        raise MailUnavailable(_("La signature exige l'envoi d'un code par e-mail au maître de stage, et l'envoi "
                                "d'e-mails n'est pas configuré sur ce serveur : la signature ne peut pas se faire "
                                "ici."))
    code = (code or "").strip().replace(" ", "")
    now = utcnow()
    current = db.session.scalar(select(SignoffCode).where(SignoffCode.link_id == link.id)
                                .order_by(SignoffCode.id.desc()).limit(1))
    if current is None or current.used_at is not None:
        raise CodeRefused(_("Aucun code en cours pour ce lien : signez à nouveau pour en recevoir un."),
                          field="code")
    if current.expires_at <= now:
        raise CodeRefused(_("Ce code a expiré : signez à nouveau pour en recevoir un nouveau."), field="code")
    counted = rowcount(db.session.execute(
        update(SignoffCode).where(SignoffCode.id == current.id, SignoffCode.used_at.is_(None),
                                  SignoffCode.expires_at > now, SignoffCode.attempts < CODE_MAX_ATTEMPTS)
        .values(attempts=SignoffCode.attempts + 1).execution_options(synchronize_session=False)))
    if not counted:
        raise CodeRefused(_("Trop d'essais avec ce code : signez à nouveau pour en recevoir un nouveau."),
                          field="code")
    if not (code.isdigit() and len(code) == 6 and hmac.compare_digest(current.code_hash, _code_hash(link, code))):
        raise CodeRefused(_("Ce code n'est pas le bon : vérifiez le dernier e-mail reçu."), field="code")
    used = rowcount(db.session.execute(
        update(SignoffCode).where(SignoffCode.id == current.id, SignoffCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)))
    if not used:
        raise CodeRefused(_("Ce code vient d'être utilisé : rechargez la page."), field="code")
    db.session.expire(current)


def return_entry(link: SignoffLink, entry_id: int, *, remark: str) -> LogbookEntry:
    """The supervisor sends one pending entry back with a remark; the learner may edit and send it again."""
    remark = (remark or "").strip()
    if not remark:
        raise DomainError(_("Expliquez ce qui doit être corrigé."), field="remark")
    if len(remark) > MAX_REMARK:
        raise DomainError(_("La remarque ne doit pas dépasser %(n)d caractères.", n=MAX_REMARK), field="remark")
    (entry,) = _link_entries(link, [entry_id])
    entry.status = EntryStatus.RETURNED
    entry.returned_remark = remark
    entry.current_link_id = None
    db.session.flush()
    record_event("logbook.return", actor=None, subject_type="internship", subject_id=link.internship_id,
                 data={"link": link.id, "entry": entry.id, "remark": remark})
    _notify_learner(link.internship, _("Votre maître de stage vous a renvoyé l'entrée du %(day)s avec une "
                                       "remarque.", day=format_date(entry.day, "short")))
    return entry


# --- totals --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeekTotal:
    year: int
    week: int
    monday: date
    minutes: int
    signed_minutes: int
    entries: int

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)


@dataclass(frozen=True)
class Progress:
    total_minutes: int
    signed_minutes: int
    expected_minutes: int

    @property
    def percent(self) -> int:
        """Share of the expected length done (capped at 100 for display)."""
        if self.expected_minutes <= 0:
            return 0
        return min(100, self.total_minutes * 100 // self.expected_minutes)

    @property
    def signed_percent(self) -> int:
        if self.expected_minutes <= 0:
            return 0
        return min(100, self.signed_minutes * 100 // self.expected_minutes)


def weekly_totals(internship: Internship) -> list[WeekTotal]:
    """Every ISO week of the internship with its hours (all entries, and signed ones)."""
    by_week: dict[tuple[int, int], list[LogbookEntry]] = {}
    for entry in internship.entries:
        iso = entry.day.isocalendar()
        by_week.setdefault((iso.year, iso.week), []).append(entry)
    monday = internship.start_date - timedelta(days=internship.start_date.weekday())
    weeks = []
    while monday <= internship.end_date:
        iso = monday.isocalendar()
        entries = by_week.get((iso.year, iso.week), [])
        weeks.append(WeekTotal(iso.year, iso.week, monday, sum(e.minutes for e in entries),
                               sum(e.minutes for e in entries if e.status == EntryStatus.SIGNED), len(entries)))
        monday += timedelta(days=7)
    return weeks


def logbook_progress(internship: Internship) -> Progress:
    return Progress(total_minutes=sum(e.minutes for e in internship.entries),
                    signed_minutes=sum(e.minutes for e in internship.entries if e.status == EntryStatus.SIGNED),
                    expected_minutes=internship.expected_hours * 60)


# --- PDF and evidence ----------------------------------------------------------------------------

def _period(internship: Internship, start: date | None, end: date | None) -> tuple[date, date]:
    start = start or internship.start_date
    end = end or internship.end_date
    if end < start:
        raise DomainError(_("La fin de la période doit suivre son début."), field="end")
    return start, end


def signed_entries(internship: Internship, start: date, end: date) -> list[LogbookEntry]:
    return [e for e in internship.entries if e.status == EntryStatus.SIGNED and start <= e.day <= end]


def render_logbook_pdf(internship: Internship, entries: Sequence[LogbookEntry], start: date, end: date) -> bytes:
    """The logbook as a PDF: a title page, then a table of the entries with their signatures."""
    html = render_template(
        "logbook/pdf.html", internship=internship, entries=entries, start=start, end=end,
        activities={e.id: render_markdown(e.activities) for e in entries},
        total=format_minutes(sum(e.minutes for e in entries)), format_minutes=format_minutes,
        supervisors=sorted({e.signed_by_name for e in entries if e.signed_by_name}), format_date=format_date,
        generated_on=utcnow().date())
    return html_document(html).write_pdf()


def pdf_filename(internship: Internship, start: date, end: date) -> str:
    return f"journal-de-stage-{slugify(internship.organisation) or 'stage'}-{start:%Y%m%d}-{end:%Y%m%d}.pdf"


def logbook_pdf(internship: Internship, *, actor: User, start: date | None = None,
                end: date | None = None) -> tuple[str, bytes]:
    """The signed entries of the logbook (or of a period) as a PDF to download: (file name, bytes)."""
    start, end = _period(internship, start, end)
    entries = signed_entries(internship, start, end)
    if not entries:
        raise DomainError(_("Aucune entrée signée sur cette période."), field="start")
    pdf = render_logbook_pdf(internship, entries, start, end)
    record_read("logbook.pdf", actor=actor, subject_type="internship", subject_id=internship.id,
                 data={"start": start.isoformat(), "end": end.isoformat(), "entries": len(entries)})
    return pdf_filename(internship, start, end), pdf


def logbook_to_evidence(internship: Internship, *, actor: User, start: date | None = None,
                        end: date | None = None) -> Evidence:
    """Turn the signed entries of a period into a piece of evidence: its PDF as the file, tagged with
    every competency the entries name."""
    if actor.id != internship.learner_id:
        raise DomainError(_("Seul·e l'apprenant·e fait de son journal une preuve."))
    start, end = _period(internship, start, end)
    entries = signed_entries(internship, start, end)
    if not entries:
        raise DomainError(_("Aucune entrée signée sur cette période."), field="start")
    learner = internship.learner
    pdf = render_logbook_pdf(internship, entries, start, end)
    minutes = sum(e.minutes for e in entries)
    description = ngettext(
        "Journal de stage chez **%(organisation)s**, du %(start)s au %(end)s : %(num)d entrée signée par le "
        "maître de stage (%(supervisors)s), %(hours)s au total.",
        "Journal de stage chez **%(organisation)s**, du %(start)s au %(end)s : %(num)d entrées signées par le "
        "maître de stage (%(supervisors)s), %(hours)s au total.", len(entries),
                    organisation=internship.organisation, start=format_date(start, "short"),
                    end=format_date(end, "short"),
                    supervisors=", ".join(sorted({e.signed_by_name or "" for e in entries})),
                    hours=format_minutes(minutes))
    evidence = create_evidence(
        learner, title=_("Journal de stage — %(organisation)s (du %(start)s au %(end)s)",
                         organisation=internship.organisation, start=format_date(start, "short"),
                         end=format_date(end, "short"))[:200],
        kind="logbook", context="internship", occurred_on=max(e.day for e in entries), description=description,
        uploads=[Upload(pdf_filename(internship, start, end), BytesIO(pdf))])
    counts = Counter(c.code for e in entries for c in e.competencies)
    cert_ids = learner_certification_ids(learner)
    tagged = []
    for entry_competency in sorted({c for e in entries for c in e.competencies}, key=lambda c: c.code):
        if entry_competency.block.certification_id not in cert_ids:
            continue  # a competency of a certification the learner no longer prepares
        n = counts[entry_competency.code]
        tag_evidence(evidence, entry_competency.code,
                     ngettext("Pratiquée lors du stage chez %(organisation)s (%(num)d entrée signée).",
                              "Pratiquée lors du stage chez %(organisation)s (%(num)d entrées signées).",
                              n, organisation=internship.organisation), actor=learner)
        tagged.append(entry_competency.code)
    record_event("logbook.export_evidence", actor=actor, subject_type="internship", subject_id=internship.id,
                 data={"evidence": evidence.id, "start": start.isoformat(), "end": end.isoformat(),
                       "entries": [e.id for e in entries], "competencies": tagged})
    return evidence


def entry_status_label(status: EntryStatus | str) -> str:
    labels = {EntryStatus.DRAFT: _("Brouillon"), EntryStatus.PENDING: _("En attente de signature"),
              EntryStatus.SIGNED: _("Signée"), EntryStatus.RETURNED: _("Renvoyée")}
    return labels.get(EntryStatus(status), str(status))


def link_state_label(state: str) -> str:
    labels = {"revoked": _("révoqué"), "expired": _("expiré"), "done": _("terminé"), "open": _("ouvert")}
    return labels.get(state, state)
