"""The internship logbook: the learner's internships and entries, sign-off links, PDF and evidence
exports; read-only for their tutors and administrators; the supervisor's sign-off page (no account,
the link's token is the only key).

Over 400 lines: the learner's, the tutor's and the supervisor's pages of one logbook share its loaders.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectChoice

from portfolio import unit_of_work
from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.downloads import file_response
from portfolio.blueprints.forms import edit_form, flash_refusal, form_error
from portfolio.blueprints.logbook.forms import (
    EntryForm,
    InternshipForm,
    PeriodForm,
    PeriodQuery,
    ReturnForm,
    SendForm,
    SignForm,
)
from portfolio.browser_marker import accounts_seen
from portfolio.extensions import db
from portfolio.markdown import render_markdown
from portfolio.models import EntryStatus, Internship, LogbookEntry, SignoffLink, User
from portfolio.services import access, outbox
from portfolio.services import logbook as service
from portfolio.services.errors import DomainError

bp = Blueprint("logbook", __name__, static_folder="static", static_url_path="/static/logbook")

#: Where the URL of a link just sent waits for the detail page (it is shown once, never stored).
NEW_LINK_KEY = "logbook.new_link"


@bp.app_context_processor
def logbook_helpers() -> dict:
    return {"format_minutes": service.format_minutes, "entry_status_label": service.entry_status_label}


# --- loading and helpers -------------------------------------------------------------------------

def _load(internship_id: int) -> Internship:
    found = db.get_or_404(Internship, internship_id)
    access.ensure(access.can_view_internship(current_user, found))
    return found


def _load_own(internship_id: int) -> Internship:
    found = _load(internship_id)
    if not access.can_edit_internship(current_user, found):
        abort(403)
    return found


def _load_entry(internship: Internship, entry_id: int) -> LogbookEntry:
    entry = db.get_or_404(LogbookEntry, entry_id)
    access.ensure(entry.internship_id == internship.id)
    return entry


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(error, "error")


def _competency_groups(form: EntryForm, learner: User) -> list[tuple[str, list]]:
    """Bind the competency choices; return the checkboxes grouped by block for the template."""
    competencies = service.learner_competencies(learner)
    form.competencies.choices = [SelectChoice(c.code, f"{c.code} — {c.statement}") for c in competencies]
    block_of = {c.code: f"{c.block.code} — {c.block.title}" for c in competencies}
    groups: dict[str, list] = {}
    for box in form.competencies:
        groups.setdefault(block_of[box.data], []).append(box)
    return list(groups.items())


def _bound_day(form: EntryForm, internship: Internship) -> None:
    """The date picker offers only the internship's days."""
    form.day.render_kw = {"min": internship.start_date.isoformat(), "max": internship.end_date.isoformat()}


def _send_form(internship: Internship) -> SendForm:
    form = SendForm()
    unsigned = [e for e in internship.entries if e.status != EntryStatus.SIGNED]
    form.entries.choices = [SelectChoice(e.id, e.day.strftime("%d/%m/%Y")) for e in unsigned]
    if not form.is_submitted():
        form.entries.data = [e.id for e in unsigned if e.status != EntryStatus.PENDING]
    return form


# --- the learner's pages -------------------------------------------------------------------------

@bp.route("/internships/")
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def index():
    """The learner's internships with their hours against the expected length."""
    items = service.internships_of(current_user)
    return render_template("logbook/index.html", items=items, learner=current_user, own=True,
                           progress={i.id: service.logbook_progress(i) for i in items})


@bp.route("/learners/<int:learner_id>/internships")
@login_required
def learner_internships(learner_id: int):
    """A learner's internships, for the learner, their tutors and administrators."""
    learner = db.get_or_404(User, learner_id)
    access.ensure(access.can_view_learner(current_user, learner))
    items = service.internships_of(learner)
    return render_template("logbook/index.html", items=items, learner=learner, own=learner.id == current_user.id,
                           progress={i.id: service.logbook_progress(i) for i in items})


@bp.route("/internships/new", methods=["GET", "POST"])
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def create():
    """Record a new internship."""
    form = InternshipForm()
    if form.validate_on_submit():
        try:
            item = service.create_internship(
                current_user, organisation=form.organisation.data, supervisor_name=form.supervisor_name.data,
                supervisor_email=form.supervisor_email.data, start_date=form.start_date.data,
                end_date=form.end_date.data, expected_hours=form.expected_hours.data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Stage enregistré. Ajoutez maintenant les entrées de votre journal."), "success")
            return redirect(url_for("logbook.detail", internship_id=item.id))
    return render_template("logbook/internship_form.html", form=form, item=None), 422 if form.errors else 200


@bp.route("/internships/<int:internship_id>")
@login_required
def detail(internship_id: int):
    """The logbook: entries, weekly totals, progress, sign-off links, exports."""
    item = _load(internship_id)
    can_edit = access.can_edit_internship(current_user, item)
    links = [(link, service.link_state(link)) for link in item.links]
    # The link just sent, or the one the learner asks to see again (?link=ID): its URL while it is open.
    just_sent = session.pop(NEW_LINK_KEY, None) if can_edit else None
    wanted = just_sent.get("link") if just_sent and just_sent.get("internship") == item.id else None
    if can_edit and request.args.get("link", "").isdigit():
        wanted = int(request.args["link"])
    mails = outbox.latest_for("signoff_link", [link.id for link, _state in links])
    new_link = None
    for link, state in links:
        if link.id == wanted and state == "open" and (url := service.link_url(link)):
            new_link = {"url": url, "link": link, "just_sent": just_sent is not None,
                        "mail": mails.get(link.id)}
    return render_template(
        "logbook/detail.html", item=item, can_edit=can_edit, weeks=service.weekly_totals(item),
        progress=service.logbook_progress(item), activities={e.id: render_markdown(e.activities) for e in item.entries},
        links=links, new_link=new_link, send_form=_send_form(item) if can_edit else None,
        mail_configured=bool(current_app.config.get("SMTP_URL")), link_url=service.link_url,
        mails=mails, mail_state=outbox.mail_state,
        pdf_form=PeriodQuery(formdata=None, prefix="pdf", start=item.start_date, end=item.end_date),
        evidence_form=PeriodForm(formdata=None, prefix="evidence", start=item.start_date, end=item.end_date),
        empty_form=EmptyForm(), link_state_label=service.link_state_label,
        signed_count=sum(1 for e in item.entries if e.status == EntryStatus.SIGNED))


@bp.route("/internships/<int:internship_id>/edit", methods=["GET", "POST"])
@login_required
def edit(internship_id: int):
    """Change the internship's organisation, supervisor, dates or expected length."""
    item = _load_own(internship_id)
    form = edit_form(InternshipForm, item)
    if form.validate_on_submit():
        try:
            service.update_internship(
                item, actor=current_user, organisation=form.organisation.data,
                supervisor_name=form.supervisor_name.data, supervisor_email=form.supervisor_email.data,
                start_date=form.start_date.data, end_date=form.end_date.data, expected_hours=form.expected_hours.data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Stage mis à jour."), "success")
            return redirect(url_for("logbook.detail", internship_id=item.id))
    return render_template("logbook/internship_form.html", form=form, item=item), 422 if form.errors else 200


@bp.route("/internships/<int:internship_id>/entries/new", methods=["GET", "POST"])
@login_required
def add_entry(internship_id: int):
    """Add a dated entry to the logbook."""
    item = _load_own(internship_id)
    form = EntryForm()
    _bound_day(form, item)
    groups = _competency_groups(form, item.learner)
    if form.validate_on_submit():
        try:
            service.add_entry(item, actor=current_user, day=form.day.data, hours=form.hours.data,
                              activities=form.activities.data or "", competency_codes=form.competencies.data or [])
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Entrée ajoutée."), "success")
            return redirect(url_for("logbook.detail", internship_id=item.id) + "#entries")
    return render_template("logbook/entry_form.html", form=form, item=item, entry=None,
                           groups=groups), 422 if form.errors else 200


@bp.route("/internships/<int:internship_id>/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@login_required
def edit_entry(internship_id: int, entry_id: int):
    """Change a draft or returned entry; a pending or signed one is shown read-only."""
    item = _load_own(internship_id)
    entry = _load_entry(item, entry_id)
    form = edit_form(EntryForm, entry, hours=service.format_minutes(entry.minutes).replace("\u00a0", ""),
                     competencies=[c.code for c in entry.competencies])
    _bound_day(form, item)
    groups = _competency_groups(form, item.learner)
    if form.validate_on_submit():
        try:
            service.update_entry(entry, actor=current_user, day=form.day.data, hours=form.hours.data,
                                 activities=form.activities.data, competency_codes=form.competencies.data or [])
        except service.EntryLocked as exc:
            flash_refusal(exc)
            return redirect(url_for("logbook.detail", internship_id=item.id) + "#entries"), 303
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Entrée mise à jour."), "success")
            return redirect(url_for("logbook.detail", internship_id=item.id) + "#entries")
    if request.method == "GET" and (reason := service.locked_reason(entry)):
        flash(reason, "info")
        return redirect(url_for("logbook.detail", internship_id=item.id) + "#entries")
    return render_template("logbook/entry_form.html", form=form, item=item, entry=entry,
                           groups=groups), 422 if form.errors else 200


@bp.route("/internships/<int:internship_id>/entries/<int:entry_id>/delete", methods=["POST"])
@login_required
def delete_entry(internship_id: int, entry_id: int):
    """Delete a draft or returned entry."""
    item = _load_own(internship_id)
    entry = _load_entry(item, entry_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        service.delete_entry(entry, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash(_("Entrée supprimée."), "success")
    return redirect(url_for("logbook.detail", internship_id=item.id) + "#entries")


@bp.route("/internships/<int:internship_id>/signoff", methods=["POST"])
@login_required
def send(internship_id: int):
    """Send the chosen entries to the supervisor; the link is shown once, to copy."""
    item = _load_own(internship_id)
    form = _send_form(item)
    if form.validate_on_submit():
        entries = [_load_entry(item, entry_id) for entry_id in form.entries.data]
        try:
            link, url = service.send_for_signoff(item, entries, actor=current_user)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            session[NEW_LINK_KEY] = {"internship": item.id, "link": link.id}
            flash(ngettext("%(num)d entrée envoyée à %(email)s pour signature.",
                           "%(num)d entrées envoyées à %(email)s pour signature.",
                           len(entries), email=link.sent_to), "success")
            return redirect(url_for("logbook.detail", internship_id=item.id) + "#new-link")
    else:
        _flash_errors(form)
    return redirect(url_for("logbook.detail", internship_id=item.id) + "#send")


@bp.route("/internships/<int:internship_id>/links/<int:link_id>/revoke", methods=["POST"])
@login_required
def revoke(internship_id: int, link_id: int):
    """Revoke a sign-off link; its pending entries go back to draft."""
    item = _load_own(internship_id)
    link = db.get_or_404(SignoffLink, link_id)
    access.ensure(link.internship_id == item.id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    service.revoke_link(link, actor=current_user)
    flash(_("Lien révoqué : il ne permet plus de signer."), "success")
    return redirect(url_for("logbook.detail", internship_id=item.id) + "#links")


@bp.route("/internships/<int:internship_id>/logbook.pdf")
@login_required
def pdf(internship_id: int):
    """The signed entries (of the whole internship or a period) as a PDF."""
    item = _load(internship_id)
    form = PeriodQuery(request.args, prefix="pdf")
    if not form.validate():
        _flash_errors(form)
        return redirect(url_for("logbook.detail", internship_id=item.id) + "#export")
    try:
        filename, data = service.logbook_pdf(item, actor=current_user, start=form.start.data, end=form.end.data)
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(url_for("logbook.detail", internship_id=item.id) + "#export")
    return file_response(data, filename, mimetype="application/pdf")


@bp.route("/internships/<int:internship_id>/evidence", methods=["POST"])
@login_required
def to_evidence(internship_id: int):
    """Turn the signed entries of a period into a piece of evidence (the PDF, tagged)."""
    item = _load_own(internship_id)
    form = PeriodForm(prefix="evidence")
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(url_for("logbook.detail", internship_id=item.id) + "#export")
    try:
        evidence = service.logbook_to_evidence(item, actor=current_user, start=form.start.data, end=form.end.data)
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(url_for("logbook.detail", internship_id=item.id) + "#export")
    flash(_("Le journal de stage est devenu une preuve, rattachée aux compétences pratiquées."), "success")
    return redirect(url_for("evidence.detail", evidence_id=evidence.id))


# --- the supervisor's page (no account) ----------------------------------------------------------

_R = TypeVar("_R", bound=BaseResponse)


def _private(response: _R) -> _R:
    """The token is a key: never cached, never sent onwards in a Referer, never indexed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _refused(exc: service.LinkRefused) -> Response:
    return _private(Response(render_template("logbook/signoff_refused.html", message=exc.message),
                             status=exc.status))


def _own_link(link: SignoffLink) -> Response | None:
    """The learner is turned away from their own link: signed in, or in a browser where they ever signed
    in (the marker cookie set at sign-in survives sign-out). The signature is the supervisor's."""
    learner_id = link.internship.learner_id
    if (current_user.is_authenticated and current_user.id == learner_id) or learner_id in accounts_seen():
        message = _("Ce lien est destiné à votre maître de stage : transmettez-le-lui, vous ne pouvez pas signer "
                    "votre propre journal.")
        return _private(Response(render_template("logbook/signoff_refused.html", message=message), status=403))
    return None


def _signoff_page(token: str, link: SignoffLink, sign_form: SignForm,
                  return_forms: dict[int, ReturnForm] | None = None, status: int = 200,
                  confirming: bool = False) -> Response:
    entries = service.signable_entries(link)
    sign_form.entries.choices = [SelectChoice(e.id, e.day.strftime("%d/%m/%Y")) for e in entries]
    if not sign_form.is_submitted():
        sign_form.entries.data = [e.id for e in entries]
        sign_form.name.data = sign_form.name.data or link.internship.supervisor_name
    boxes = {box.data: box for box in sign_form.entries}
    forms = {e.id: (return_forms or {}).get(e.id) or ReturnForm(formdata=None, prefix=f"return-{e.id}")
             for e in entries}
    html = render_template("logbook/signoff.html", token=token, link=link, internship=link.internship,
                           entries=entries, sign_form=sign_form, boxes=boxes, return_forms=forms,
                           mail_configured=service.mail_configured(), confirming=confirming,
                           activities={e.id: render_markdown(e.activities) for e in entries})
    return _private(Response(html, status=status))


@bp.route("/signoff/<token>", methods=["GET", "POST"])
def signoff(token: str):
    """The supervisor reads the link's pending entries and signs them with their name. The first
    submission e-mails a one-time code to the link's address; the signature is recorded only with it."""
    try:
        link = service.load_link(token)
    except service.LinkRefused as exc:
        return _refused(exc)
    if refused := _own_link(link):
        return refused
    form = SignForm()
    entries = service.signable_entries(link)
    form.entries.choices = [SelectChoice(e.id, "") for e in entries]
    declined = False
    if form.validate_on_submit():
        code = (form.code.data or "").strip()
        if not service.mail_configured():
            form_error(form, service.MailUnavailable(_(
                "La signature exige l'envoi d'un code par e-mail au maître de stage, et l'envoi d'e-mails "
                "n'est pas configuré sur ce serveur : la signature ne peut pas se faire ici.")))
            return _signoff_page(token, link, form, status=403)
        if not code:
            try:
                service.send_signoff_code(link, form.entries.data, name=form.name.data, comment=form.comment.data or "")
            except DomainError as exc:
                form_error(form, exc)
                declined = True
            else:  # committed (the e-mail leaves after the commit); the same form now asks for the code
                flash(_("Un code vient d'être envoyé à %(email)s : saisissez-le ci-dessous pour signer.",
                        email=link.sent_to), "success")
                return _signoff_page(token, link, form, confirming=True)
        else:
            try:
                signed = service.sign_entries(link, form.entries.data, name=form.name.data, code=code,
                                              comment=form.comment.data or "")
            except service.CodeRefused as exc:
                # The try stays counted: only it was written, and it is committed despite the refusal.
                db.session.flush()
                unit_of_work.commit_despite_error()
                form.code.errors = [exc.message]
                form.code.data = ""
                return _signoff_page(token, link, form, status=422, confirming=True)
            except DomainError as exc:
                form_error(form, exc)
                declined = True
            else:
                flash(ngettext("Merci : %(num)d entrée signée.", "Merci : %(num)d entrées signées.", len(signed)),
                      "success")
                return _private(redirect(url_for("logbook.signoff", token=token), code=303))
    return _signoff_page(token, link, form, status=422 if form.errors or declined else 200)


@bp.route("/signoff/<token>/entries/<int:entry_id>/return", methods=["POST"])
def return_entry(token: str, entry_id: int):
    """The supervisor sends one entry back to the learner with a remark."""
    try:
        link = service.load_link(token)
    except service.LinkRefused as exc:
        return _refused(exc)
    if refused := _own_link(link):
        return refused
    form = ReturnForm(prefix=f"return-{entry_id}")
    if form.validate_on_submit():
        try:
            service.return_entry(link, entry_id, remark=form.remark.data or "")
        except DomainError as exc:
            unit_of_work.rollback()
            if exc.field is None:
                abort(404)
            form_error(form, exc)
        else:
            flash(_("Entrée renvoyée à l'apprenant·e avec votre remarque."), "success")
            return _private(redirect(url_for("logbook.signoff", token=token), code=303))
    if entry_id not in {e.id for e in service.signable_entries(link)}:
        abort(404)
    return _signoff_page(token, link, SignForm(formdata=None), {entry_id: form}, status=422)
