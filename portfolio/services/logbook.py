"""The internship logbook: internships, entries, the supervisor's sign-off links, totals and exports.

The supervisor has no account. They receive a link carrying a token signed with the app's secret
(``itsdangerous``) that names one ``SignoffLink`` and a random nonce; only the nonce's SHA-256 is
stored, so a database leak yields no usable link. A link acts only on the entries that were pending
when it was sent and are still pending through it (``LogbookEntry.current_link_id``); it is refused
once expired, revoked, or when nothing is left to sign. A signed entry never changes again.

Like every service: flush, never commit; refusals are ``DomainError`` with a message for a person.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from io import BytesIO

from flask import current_app, render_template, url_for
from flask_babel import force_locale, format_date, ngettext
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.markdown import render_markdown
from portfolio.models import Block, Competency, EntryStatus, Evidence, Internship, LogbookEntry, SignoffLink, User
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError, NotFound
from portfolio.services.outbox import queue_email

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


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "stage"


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
                      end_date: date | None, expected_hours: int | None) -> dict:
    from portfolio.services.users import normalise_email

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
                               expected_hours)
    internship = Internship(learner=learner, **fields)
    db.session.add(internship)
    db.session.flush()
    record_event("logbook.internship_create", actor=learner, subject_type="internship", subject_id=internship.id,
                 data={"organisation": fields["organisation"], "start": start_date.isoformat(),
                       "end": end_date.isoformat(), "expected_hours": fields["expected_hours"]})
    return internship


def update_internship(internship: Internship, *, actor: User, organisation: str, supervisor_name: str,
                      supervisor_email: str, start_date: date | None, end_date: date | None,
                      expected_hours: int | None = None) -> None:
    """Change an internship; its dates must still hold every entry."""
    fields = _check_internship(organisation, supervisor_name, supervisor_email, start_date, end_date,
                               expected_hours)
    outside = [e for e in internship.entries if not start_date <= e.day <= end_date]
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
    from portfolio.services.evidence import learner_certification_ids

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


def send_for_signoff(internship: Internship, entries: Sequence[LogbookEntry], *, actor: User,
                     valid_for: timedelta = DEFAULT_VALIDITY) -> tuple[SignoffLink, str]:
    """Send entries to the supervisor: they become pending under a new link, e-mailed after the commit.

    Returns the link and its URL (shown to the learner once, to copy; it is not stored). Entries still
    pending under an older link move to this one, so an expired link is replaced by sending again.
    """
    if not entries:
        raise DomainError(_("Choisissez au moins une entrée à faire signer."), field="entries")
    for entry in entries:
        if entry.internship_id != internship.id:
            raise NotFound(_("Entrée introuvable."))
        if entry.status == EntryStatus.SIGNED:
            raise EntryLocked(_("L'entrée du %(day)s est déjà signée.", day=format_date(entry.day, "short")))
    now = utcnow()
    nonce = secrets.token_urlsafe(24)
    link = SignoffLink(internship=internship, nonce_hash=_hash(nonce), sent_to=internship.supervisor_email,
                       created_by_id=actor.id, created_at=now, expires_at=now + valid_for,
                       entries=list(entries))
    db.session.add(link)
    db.session.flush()
    for entry in entries:
        entry.status = EntryStatus.PENDING
        entry.current_link_id = link.id
    db.session.flush()
    token = _serializer().dumps([link.id, nonce])
    url = url_for("logbook.signoff", token=token, _external=True)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        subject = _("Journal de stage de %(learner)s : %(n)d entrée(s) à signer", learner=internship.learner.name,
                    n=len(entries))
        body = _("Bonjour %(supervisor)s,\n\n%(learner)s vous demande de signer %(n)d entrée(s) de son journal de "
                 "stage chez %(organisation)s. Ouvrez ce lien pour les relire, les signer ou les renvoyer avec "
                 "une remarque (aucun compte n'est nécessaire) :\n\n%(url)s\n\nCe lien est valable jusqu'au "
                 "%(expires)s.", supervisor=internship.supervisor_name, learner=internship.learner.name,
                 n=len(entries), organisation=internship.organisation, url=url,
                 expires=format_date(link.expires_at, "long"))
    queue_email(db.session, internship.supervisor_email, subject, body)
    record_event("logbook.send", actor=actor, subject_type="internship", subject_id=internship.id,
                 data={"link": link.id, "entries": [e.id for e in entries], "to": internship.supervisor_email,
                       "expires_at": link.expires_at.isoformat()})
    return link, url


def revoke_link(link: SignoffLink, *, actor: User) -> None:
    """Close a link for good; its pending entries go back to draft, to be edited or sent again."""
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
    signable = {e.id: e for e in signable_entries(link)}
    chosen = []
    for entry_id in entry_ids:
        if entry_id not in signable:
            raise NotFound(_("Cette entrée ne fait pas partie de ce lien ou n'attend plus de signature."))
        chosen.append(signable[entry_id])
    return chosen


def _notify_learner(internship: Internship, message: str) -> None:
    from portfolio.services.assessment import notify

    notify(internship.learner, message, url_for("logbook.detail", internship_id=internship.id))


def sign_entries(link: SignoffLink, entry_ids: Sequence[int], *, name: str, comment: str = "") -> list[LogbookEntry]:
    """The supervisor signs some of the link's pending entries with their name (and an optional comment)."""
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
    now = utcnow()
    for entry in entries:
        entry.status = EntryStatus.SIGNED
        entry.signed_by_name = name
        entry.signed_at = now
        entry.supervisor_comment = comment or None
    db.session.flush()
    record_event("logbook.sign", actor=None, subject_type="internship", subject_id=link.internship_id,
                 data={"link": link.id, "entries": [e.id for e in entries], "name": name, "comment": bool(comment)})
    _notify_learner(link.internship, ngettext("%(name)s a signé %(num)d entrée de votre journal de stage.",
                                              "%(name)s a signé %(num)d entrées de votre journal de stage.",
                                              len(entries), name=name))
    return entries


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


def _refuse_fetch(url: str, *args, **kwargs):  # type: ignore[no-untyped-def]
    # The PDF is built from our own template and sanitized Markdown: it never loads anything.
    raise ValueError(f"external resource refused: {url[:80]}")


def render_logbook_pdf(internship: Internship, entries: Sequence[LogbookEntry], start: date, end: date) -> bytes:
    """The logbook as a PDF: a title page, then a table of the entries with their signatures."""
    from weasyprint import HTML

    html = render_template(
        "logbook/pdf.html", internship=internship, entries=entries, start=start, end=end,
        activities={e.id: render_markdown(e.activities) for e in entries},
        total=format_minutes(sum(e.minutes for e in entries)), format_minutes=format_minutes,
        supervisors=sorted({e.signed_by_name for e in entries if e.signed_by_name}), format_date=format_date,
        generated_on=utcnow().date())
    return HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()


def pdf_filename(internship: Internship, start: date, end: date) -> str:
    return f"journal-de-stage-{slugify(internship.organisation)}-{start:%Y%m%d}-{end:%Y%m%d}.pdf"


def logbook_pdf(internship: Internship, *, actor: User, start: date | None = None,
                end: date | None = None) -> tuple[str, bytes]:
    """The signed entries of the logbook (or of a period) as a PDF to download: (file name, bytes)."""
    start, end = _period(internship, start, end)
    entries = signed_entries(internship, start, end)
    if not entries:
        raise DomainError(_("Aucune entrée signée sur cette période."), field="start")
    pdf = render_logbook_pdf(internship, entries, start, end)
    record_event("logbook.pdf", actor=actor, subject_type="internship", subject_id=internship.id,
                 data={"start": start.isoformat(), "end": end.isoformat(), "entries": len(entries)})
    return pdf_filename(internship, start, end), pdf


def logbook_to_evidence(internship: Internship, *, actor: User, start: date | None = None,
                        end: date | None = None) -> Evidence:
    """Turn the signed entries of a period into a piece of evidence: its PDF as the file, tagged with
    every competency the entries name."""
    from portfolio.services.evidence import Upload, create_evidence, learner_certification_ids, tag_evidence

    if actor.id != internship.learner_id:
        raise DomainError(_("Seul·e l'apprenant·e fait de son journal une preuve."))
    start, end = _period(internship, start, end)
    entries = signed_entries(internship, start, end)
    if not entries:
        raise DomainError(_("Aucune entrée signée sur cette période."), field="start")
    learner = internship.learner
    pdf = render_logbook_pdf(internship, entries, start, end)
    minutes = sum(e.minutes for e in entries)
    description = _("Journal de stage chez **%(organisation)s**, du %(start)s au %(end)s : %(n)d entrée(s) "
                    "signée(s) par le maître de stage (%(supervisors)s), %(hours)s au total.",
                    organisation=internship.organisation, start=format_date(start, "short"),
                    end=format_date(end, "short"), n=len(entries),
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
