"""Open Badges 3.0: the learner's badges (claim, download), and the public side a verifier uses: the
verification page, the issuer profile, its keys, the status lists, each achievement and each credential."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from portfolio import unit_of_work
from portfolio.blueprints.credentials.forms import ClaimForm, RevokeForm, VerifyForm
from portfolio.blueprints.forms import form_error
from portfolio.extensions import db, limiter
from portfolio.models import Block, KeyPurpose, StatusList
from portfolio.services import access
from portfolio.services.credentials import baking, issue, publication
from portfolio.services.credentials import verify as verifier
from portfolio.services.errors import DomainError
from portfolio.services.lti import keys
from portfolio.storage import content_disposition

bp = Blueprint("credentials", __name__)

JWT_MEDIA_TYPE = "application/vc+jwt"


def _render_mine(forms: dict | None = None, status: int = 200, revoke_forms: dict | None = None):
    options = issue.claimable_blocks(current_user)
    held = issue.credentials_of(current_user)
    forms = forms or {}
    return render_template(
        "credentials/mine.html", options=options, credentials=held,
        forms={o.key: forms.get(o.key) or ClaimForm(prefix=o.key, formdata=None) for o in options},
        evidence={o.key: issue.disclosable_evidence(current_user, o.block) for o in options},
        chosen=request.form.getlist("evidence", type=int) if request.method == "POST" else None,
        revoke_forms={c.uuid: (revoke_forms or {}).get(c.uuid) or RevokeForm(prefix=c.uuid, formdata=None)
                      for c in held}), status


@bp.route("/credentials/")
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def mine():
    """The learner's validated blocks they may claim a badge for, and the badges they hold."""
    return _render_mine()


@bp.route("/credentials/claim/<source>/<int:block_id>", methods=["POST"])
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def claim(source: str, block_id: int):
    """Issue a badge for one validated block, with the identifier and the evidence the learner chose."""
    key = f"{source}-{block_id}"
    form = ClaimForm(prefix=key)
    if not form.validate_on_submit():
        abort(400)
    try:
        credential = issue.claim_credential(current_user, block_id, source, subject=form.subject.data or "",
                                            did=form.did.data or "",
                                            evidence_ids=request.form.getlist("evidence", type=int),
                                            include_name=bool(form.include_name.data))
    except DomainError as exc:
        unit_of_work.rollback()
        form_error(form, exc)
        return _render_mine({key: form}, 422)
    flash(_("Badge émis pour le bloc %(block)s : téléchargez-le ci-dessous.", block=credential.block.code),
          "success")
    return redirect(url_for("credentials.mine") + "#held")  # the message goes next to the badges


@bp.route("/credentials/<public_id>/revocation", methods=["POST"])
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def revoke(public_id: str):
    """The holder revokes one of their badges (its status bit is set; it stays listed, revoked)."""
    credential = issue.find_credential(public_id)
    if credential is None:
        abort(404)
    access.ensure(access.can_download_credential(current_user, credential))
    form = RevokeForm(prefix=credential.uuid)
    if not form.validate_on_submit():
        abort(400)
    try:
        issue.revoke_own_credential(credential, actor=current_user, confirmed=bool(form.confirm.data))
    except DomainError as exc:
        unit_of_work.rollback()
        form_error(form, exc)
        return _render_mine(status=422, revoke_forms={credential.uuid: form})
    flash(_("Badge révoqué : il n'est plus reconnu comme valide."), "success")
    return redirect(url_for("credentials.mine") + "#held")


@bp.route("/credentials/<public_id>/download.<fmt>")
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def download(public_id: str, fmt: str):
    """One of the learner's badges as VC-JWT, JSON (enveloped credential), or a baked PNG or SVG image."""
    credential = issue.find_credential(public_id)
    if credential is None:
        abort(404)
    access.ensure(access.can_download_credential(current_user, credential) and fmt in publication.FORMATS)
    body, media_type = publication.export(credential, fmt)
    response = Response(body, mimetype=media_type)
    response.headers["Content-Disposition"] = content_disposition(publication.filename(credential, fmt), inline=False)
    return response


# --- public: what a verifier needs -------------------------------------------------------------------

@bp.route("/credentials/verify", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["CREDENTIALS_VERIFY_RATE_LIMIT"], methods=["POST"])
def verify():
    """Check a badge: drop its file (JWT, JSON, PNG, SVG) or paste its JWT or address. Nothing is stored."""
    form = VerifyForm()
    result, refusal, email_match = None, None, None
    if request.method == "POST":
        if not form.validate_on_submit():
            refusal = next(iter(form.errors.values()), [_("Le formulaire a expiré : recommencez.")])[0]
        else:
            upload = form.upload.data
            data = upload.read(verifier.MAX_INPUT + 1) if upload and upload.filename else (form.text.data or "")
            if not data:
                refusal = _("Déposez le fichier du badge, ou collez son JWT ou son adresse.")
            else:
                try:
                    result = verifier.verify(data, base=issue.base_url())
                except verifier.Unreadable as exc:
                    refusal = exc.message
                else:
                    email_match = result.email_matches(form.email.data or "")
    status = 422 if refusal else 200
    return render_template("credentials/verify.html", form=form, result=result, refusal=refusal,
                           reasons=verifier.reasons(result) if result else [], email_match=email_match), status


@bp.route("/credentials/issuer")
def issuer():
    """The issuer profile (OB 3.0 Profile, JSON-LD)."""
    profile = issue.issuer_profile(issue.base_url())
    return _json({"@context": [issue.VC_CONTEXT, issue.OB_CONTEXT], **profile,
                  "verificationMethod": url_for("credentials.jwks", _external=True)}, "application/ld+json")


@bp.route("/credentials/jwks")
def jwks():
    """The public keys that sign our badges and status lists (retired keys stay published)."""
    response = jsonify(keys.jwks(KeyPurpose.CREDENTIALS))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/credentials/status/<int:list_id>")
def status_list(list_id: int):
    """A BitstringStatusListCredential (revocation), signed like the badges (VC-JWT)."""
    found = db.session.get(StatusList, list_id)
    key = keys.active_key(KeyPurpose.CREDENTIALS)
    if found is None or key is None:
        abort(404)
    response = Response(publication.status_list_token(found, key), mimetype=JWT_MEDIA_TYPE)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _public_block(block_id: int) -> Block:
    block = db.session.get(Block, block_id)
    if block is None:
        abort(404)
    return block


@bp.route("/credentials/achievements/<int:block_id>")
def achievement(block_id: int):
    """A block as an OB 3.0 Achievement (public reference data of the fiche)."""
    found = issue.achievement_of(_public_block(block_id), issue.base_url())
    return _json({"@context": [issue.VC_CONTEXT, issue.OB_CONTEXT], **found}, "application/ld+json")


@bp.route("/credentials/achievements/<int:block_id>/image.svg")
def achievement_image(block_id: int):
    """The badge's artwork, not baked."""
    block = _public_block(block_id)
    svg = baking.badge_svg(code=block.code, title=block.title,
                           issuer=issue.issuer_profile(issue.base_url())["name"])
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/credentials/<public_id>")
def hosted(public_id: str):
    """A badge at its own address (its ``id``), as the holder shares it: the VC-JWT, as text."""
    credential = issue.find_credential(public_id)
    if credential is None:
        abort(404)
    return Response(credential.token, mimetype="text/plain")


def _json(document: dict, media_type: str) -> Response:
    return Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype=media_type)
