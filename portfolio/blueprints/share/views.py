"""Share links: the owner's page (create, list, log of openings, revoke) and the shared pages a link opens
for someone without an account (read-only, nothing outside the selection, never indexed or cached, no
Referer sent onwards)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from wtforms import SelectChoice

from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.evidence.views import send_evidence_file
from portfolio.blueprints.forms import form_error
from portfolio.blueprints.share.forms import ShareForm, SharePasswordForm
from portfolio.extensions import db
from portfolio.markdown import render_markdown
from portfolio.models import EvidenceFile, ShareKind, ShareLink
from portfolio.services import access, vae
from portfolio.services import share as service
from portfolio.services.credentials import publication
from portfolio.services.errors import DomainError
from portfolio.storage import content_disposition

bp = Blueprint("share", __name__)

#: Public endpoints: the token in their URL is a key.
PUBLIC = frozenset({"share.open_link", "share.file", "share.badge"})
#: Where the links a browser has unlocked with their password are remembered (ids only).
UNLOCKED_KEY = "share.unlocked"
MAX_UNLOCKED = 20
#: The badge's files a credential link offers, in the order shown.
BADGE_FORMATS = ("png", "svg", "json", "jwt")


@bp.after_request
def _private(response: Response) -> Response:
    """Every answer of a shared page, refusals and error pages included: never cached, never indexed,
    no Referer carrying the token to another site."""
    if request.endpoint in PUBLIC:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- the owner's page -----------------------------------------------------------------------------

def _load_own(link_id: int) -> ShareLink:
    found = db.session.get(ShareLink, link_id)
    if found is None or not access.can_manage_share(current_user, found):
        abort(404)
    return found


@bp.route("/me/shares", methods=["GET", "POST"])
@login_required
def manage():
    """The person's share links; a new link's address is shown once, in the answer that created it."""
    if not access.can_share(current_user):
        abort(403)
    targets = service.share_targets(current_user)
    form = _with_choices(ShareForm(), targets)
    if not form.validate_on_submit():
        return _render_manage(form, targets, status=422 if form.is_submitted() else 200)
    try:
        link, token = service.create_share_link(current_user, target=form.target.data, days=form.days_value(),
                                                password=form.password.data or "", label=form.label.data or "")
    except DomainError as exc:
        form_error(form, exc)
        return _render_manage(form, targets, status=422)
    # The token lives in this answer only: never flashed, never in the session, never stored.
    created = (link, url_for("share.open_link", token=token, _external=True))
    return _render_manage(_with_choices(ShareForm(formdata=None), targets), targets, created=created)


def _with_choices(form: ShareForm, targets: list[service.Target]) -> ShareForm:
    form.target.choices = [SelectChoice("", _("Choisissez…"))] + [
        SelectChoice(t.value, t.label, optgroup=t.group) for t in targets]
    form.days.choices = [SelectChoice(str(d), _expiry_label(d)) for d in service.EXPIRY_DAYS]
    return form


def _render_manage(form: ShareForm, targets: list[service.Target], *, created: tuple | None = None,
                   status: int = 200) -> tuple[str, int]:
    links = service.links_of(current_user)
    return render_template("share/manage.html", form=form, created=created, links=links, has_targets=bool(targets),
                           states={link.id: service.state_of(link) for link in links},
                           revoke_form=EmptyForm()), status


def _expiry_label(days: int) -> str:
    return ngettext("%(num)d jour", "%(num)d jours", days)


@bp.route("/me/shares/<int:link_id>")
@login_required
def detail(link_id: int):
    """One link: what it shows, its state, and every time it was opened."""
    link = _load_own(link_id)
    return render_template("share/detail.html", link=link, state=service.state_of(link), revoke_form=EmptyForm())


@bp.route("/me/shares/<int:link_id>/revoke", methods=["POST"])
@login_required
def revoke(link_id: int):
    """Close a link for good: it then opens a page saying it was withdrawn."""
    link = _load_own(link_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    service.revoke_share_link(link, actor=current_user)
    flash(_("Lien retiré : il ne montre plus rien à qui l'ouvre."), "success")
    return redirect(url_for("share.detail", link_id=link.id))


# --- the shared pages (no account) ----------------------------------------------------------------

def _refused(message: str, status: int) -> tuple[str, int]:
    return render_template("share/refused.html", message=message), status


def _is_owner(link: ShareLink) -> bool:
    return bool(current_user.is_authenticated and current_user.id == link.owner_id)


def _unlocked(link: ShareLink) -> bool:
    return link.password_hash is None or _is_owner(link) or link.id in session.get(UNLOCKED_KEY, [])


def _log(link: ShareLink, file: EvidenceFile | None = None, download: str = "") -> None:
    service.record_view(link, viewer=current_user if current_user.is_authenticated else None,
                        address=request.remote_addr, user_agent=request.user_agent.string, file=file,
                        download=download)


@bp.route("/s/<token>", methods=["GET", "POST"])
def open_link(token: str):
    """What a link shows, read-only; a password-protected link asks for its password first."""
    try:
        link = service.open_share_link(token)
    except service.ShareRefused as exc:
        return _refused(exc.message, exc.status)
    if not _unlocked(link):
        form = SharePasswordForm()
        if form.validate_on_submit():
            try:
                service.check_password(link, form.password.data)
            except DomainError as exc:
                form_error(form, exc)
            else:
                session[UNLOCKED_KEY] = [*session.get(UNLOCKED_KEY, [])[-(MAX_UNLOCKED - 1):], link.id]
                return redirect(url_for("share.open_link", token=token), code=303)
        status = 422 if form.errors else 200
        return render_template("share/password.html", form=form, owner=link.owner), status
    if request.method == "POST":
        return redirect(url_for("share.open_link", token=token), code=303)
    _log(link)
    return _render_shared(link, token)


def _render_shared(link: ShareLink, token: str) -> str:
    common = {"link": link, "token": token, "owner": link.owner, "is_owner": _is_owner(link)}
    if link.kind == ShareKind.BLOCK:
        shared = service.shared_block(link)
        evidence = {e.id: e for c in shared.competencies for e in c.evidence}
        return render_template("share/block.html", shared=shared, evidence=list(evidence.values()),
                               descriptions={i: render_markdown(e.description) for i, e in evidence.items()},
                               **common)
    if link.kind == ShareKind.PROGRESS:
        certification, blocks = service.shared_progress(link)
        return render_template("share/progress.html", certification=certification, blocks=blocks, **common)
    if link.kind == ShareKind.CREDENTIAL:
        return render_template("share/credential.html", credential=link.credential, formats=BADGE_FORMATS, **common)
    version = link.dossier_version
    assert version is not None  # noqa: S101 (the CHECK says a dossier link has its version)
    outcome = vae.current_outcome(version)
    return render_template("share/version.html", version=version, snapshot=version.snapshot,
                           experiences={e["id"]: e for e in version.snapshot.get("experiences", [])},
                           files=service.shared_version_files(link), outcome=outcome,
                           results=vae.current_block_decisions(version) if outcome else {}, **common)


@bp.route("/s/<token>/files/<int:file_id>")
def file(token: str, file_id: int):
    """A file of the selection, through the same safe download as the app's (sandboxed, nosniff, the
    right Content-Disposition), authorized by the link; any file outside the selection answers 404."""
    try:
        link = service.open_share_link(token)
    except service.ShareRefused as exc:
        return _refused(exc.message, exc.status)
    if not _unlocked(link):
        return redirect(url_for("share.open_link", token=token), code=303)
    found = db.session.get(EvidenceFile, file_id)
    if found is None or not access.share_reaches_file(link, found):
        return _refused(_("Ce fichier ne fait pas partie de ce qui vous a été partagé."), 404)
    _log(link, found)
    return send_evidence_file(found, inline=request.args.get("download") is None)


@bp.route("/s/<token>/badge.<fmt>")
def badge(token: str, fmt: str):
    """The shared badge as a file (baked PNG or SVG, enveloped JSON, VC-JWT), while it is not revoked."""
    try:
        link = service.open_share_link(token)
    except service.ShareRefused as exc:
        return _refused(exc.message, exc.status)
    if not _unlocked(link):
        return redirect(url_for("share.open_link", token=token), code=303)
    credential = link.credential
    if link.kind != ShareKind.CREDENTIAL or credential is None or fmt not in BADGE_FORMATS:
        return _refused(_("Ce fichier ne fait pas partie de ce qui vous a été partagé."), 404)
    if credential.revoked_at is not None:
        return _refused(_("Ce badge a été révoqué : il n'est plus délivré."), 410)
    name = publication.filename(credential, fmt)
    _log(link, download=name)
    body, media_type = publication.export(credential, fmt)
    response = Response(body, mimetype=media_type)
    response.headers["Content-Disposition"] = content_disposition(name, inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
