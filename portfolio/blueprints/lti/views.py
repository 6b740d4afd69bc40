"""LTI 1.3 endpoints: login initiation, launch, our JWKS, configuration, handoff to a new window,
deep linking, the context set-up page, and the administrator's platform pages.

Over 400 lines: the LTI endpoints share the launch's session hand-off; the platform admin pages could move out.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from wtforms import SelectChoice

from portfolio import unit_of_work
from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.forms import form_error
from portfolio.blueprints.lti.forms import CertificationChoiceForm, DeepLinkForm, PlatformForm
from portfolio.blueprints.lti.session import EMBEDDED, EmbeddableSessionInterface
from portfolio.extensions import csrf, db
from portfolio.models import Certification, Cohort, ContextRole, LinkTarget, LtiContext, LtiPlatform, User
from portfolio.models.base import utcnow
from portfolio.services import access
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError
from portfolio.services.lti import ags, deep_linking, keys, launch, platforms, registration, roster
from portfolio.services.lti.background import dispatch
from portfolio.web import frame_ancestors

bp = Blueprint("lti", __name__, url_prefix="/lti")
SCOPE = "lti"
DEEP_LINK = "lti_deep_link"
STATE_COOKIE_PREFIX = "lti1p3_state_"
HANDOFF_SALT = "portfolio.lti.handoff"
HANDOFF_MAX_AGE = 120


assert ags.TAG  # imported for its hook: scores are posted after assessments and block decisions commit


@bp.app_context_processor
def _helpers() -> dict:
    def lti_can_sync_roster(cohort) -> bool:
        return (current_user.is_authenticated and access.can_sync_lti_roster(current_user, cohort)
                and bool(roster.contexts_of(cohort)))

    return {"lti_can_sync_roster": lti_can_sync_roster}


@bp.record_once
def _install(state) -> None:
    state.app.session_interface = EmbeddableSessionInterface()
    # Cross-site posts from the platform (login, launch) carry their own proof: state, signed id_token.
    for view in (login, launch_view, handoff, register):
        csrf.exempt(view)


def state_cookie(state: str) -> str:
    return STATE_COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:20]


def own_origin() -> str:
    return request.host_url.rstrip("/")


def refuse(exc: launch.LaunchRefused, step: str):
    """Undo the refused work, keep the audit event of the refusal, show the reason."""
    db.session.rollback()
    launch.record_refusal(exc, step=step)
    unit_of_work.commit_despite_error()
    current_app.logger.info("LTI %s refused: %s (%s)", step, exc.reason, exc.issuer)
    response = render_template("lti/refused.html", message=exc.message, reason=exc.reason), exc.status
    return response


# --- login initiation and launch ----------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    """OIDC third-party initiated login: record state and nonce, send the browser to the platform."""
    params = {k: v for k, v in request.values.items()}
    try:
        start = launch.begin_login(params, launch_url=url_for("lti.launch_view", _external=True),
                                   own_origin=own_origin())
    except launch.LaunchRefused as exc:
        return refuse(exc, "login")
    if request.method == "GET":
        unit_of_work.allow_read_audit()  # the login state is the one write of this GET (single-use, short-lived)
    if start.storage_target:
        # Cookies may be blocked in the iframe: the secret also goes to the platform's storage frame.
        response = current_app.make_response(render_template(
            "lti/login_storage.html", redirect_url=start.redirect_url, state=start.state,
            secret=start.browser_secret, target=start.storage_target,
            origin=platforms.origin_of(start.platform.auth_login_url)))
    else:
        response = redirect(start.redirect_url)
    response.set_cookie(state_cookie(start.state), start.browser_secret, max_age=int(launch.STATE_TTL.total_seconds()),
                        secure=True, httponly=True, samesite="None", path="/lti/")
    return response


@bp.route("/launch", methods=["POST"])
def launch_view():
    """The platform posts the id_token here (response_mode=form_post)."""
    id_token = request.form.get("id_token", "")
    state = request.form.get("state", "")
    secret = request.cookies.get(state_cookie(state)) if state else None
    from_storage = False
    if not secret and request.form.get("lti_storage_secret"):
        secret, from_storage = request.form["lti_storage_secret"], True
    if not secret and state:
        row = launch.find_state(state)
        if row is not None and row.storage_target:
            platform = db.session.get(LtiPlatform, row.platform_id)
            return render_template("lti/launch_storage.html", id_token=id_token, state=state,
                                   target=row.storage_target,
                                   origin=platforms.origin_of(platform.auth_login_url) if platform else "")
    try:
        result = launch.provision(launch.validate_launch(id_token, state, secret))
    except launch.LaunchRefused as exc:
        return refuse(exc, "launch")
    if roster.sync_due(result.context):
        context_id = result.context.id
        unit_of_work.after_commit(lambda: dispatch("portfolio.services.lti.roster.sync_job", context_id))
    if from_storage:
        # No cookie reached us in this frame: a session cannot live here. Continue in a new window.
        return handoff_page(result)
    sign_in(result, embedded=_embedded(result))
    response = redirect(after_launch_url(result))
    response.delete_cookie(state_cookie(state), path="/lti/", secure=True, httponly=True, samesite="None")
    return response


def _embedded(result: launch.Launch) -> bool:
    presentation = result.claim("launch_presentation") or {}
    target = presentation.get("document_target") if isinstance(presentation, dict) else None
    return target != "window"


def sign_in(result: launch.Launch, *, embedded: bool) -> None:
    """Sign the launched person in, for exactly the context of the launch."""
    assert result.user is not None
    session.clear()
    login_user(result.user)
    record_event("user.login", actor=result.user, subject_type="user", subject_id=result.user.id,
                 data={"via": "lti", "issuer": result.platform.issuer})
    session[SCOPE] = launch.session_scope(result)
    session[EMBEDDED] = embedded
    if result.message_type == "LtiDeepLinkingRequest":
        session[DEEP_LINK] = launch.deep_link_settings(result)


def after_launch_url(result: launch.Launch) -> str:
    """Where the launch leads: the deep-linking page, the context set-up, or what the link opens."""
    context = result.context
    assert context is not None
    if context.cohort_id is None:
        return url_for("lti.context_setup")
    if result.message_type == "LtiDeepLinkingRequest":
        return url_for("lti.deep_link")
    return link_destination(result.link.target if result.link else LinkTarget.PORTFOLIO,
                            result.link.block.code if result.link and result.link.block else None,
                            context, result.context_role)


def link_destination(target: LinkTarget, block_code: str | None, context: LtiContext,
                     role: ContextRole | None) -> str:
    learner = launch.lands_as_learner(role)
    cohort_id = context.cohort_id
    if target == LinkTarget.BLOCK and block_code:
        if learner:
            return url_for("frameworks.block", code=block_code)
        return url_for("assessment.matrix", cohort_id=cohort_id, block=block_code)
    if learner:
        return url_for("assessment.progress", learner_id=current_user.id)
    if target == LinkTarget.QUEUE:
        return url_for("assessment.queue", cohort=cohort_id)
    return url_for("assessment.matrix", cohort_id=cohort_id)


# --- a new window when the frame has no cookies -------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=HANDOFF_SALT)


def handoff_page(result: launch.Launch):
    assert result.user is not None and result.context is not None
    token = _serializer().dumps({
        "user": result.user.id, "jti": secrets.token_urlsafe(16), "scope": launch.session_scope(result),
        "platform": result.platform.id, "next": after_launch_url_for_handoff(result),
        "deep_link": launch.deep_link_settings(result) if result.message_type == "LtiDeepLinkingRequest" else None,
    })
    return render_template("lti/handoff.html", token=token)


def after_launch_url_for_handoff(result: launch.Launch) -> str:
    # current_user is not the launched person here (no session in this frame): pass them explicitly.
    context = result.context
    assert context is not None and result.user is not None
    if context.cohort_id is None:
        return url_for("lti.context_setup")
    if result.message_type == "LtiDeepLinkingRequest":
        return url_for("lti.deep_link")
    if launch.lands_as_learner(result.context_role) and not (result.link and result.link.block):
        return url_for("assessment.progress", learner_id=result.user.id)
    return link_destination(result.link.target if result.link else LinkTarget.PORTFOLIO,
                            result.link.block.code if result.link and result.link.block else None,
                            context, result.context_role)


@bp.route("/handoff", methods=["POST"])
def handoff():
    """The first-party step: a one-time token (two minutes) opens the session in a new window."""
    try:
        data = _serializer().loads(request.form.get("token", ""), max_age=HANDOFF_MAX_AGE)
    except (SignatureExpired, BadSignature):
        return refuse(launch.LaunchRefused("bad_handoff", _("Ce lien a expiré : relancez l'outil depuis la "
                                                             "plateforme.")), "handoff")
    platform = db.session.get(LtiPlatform, data["platform"])
    user = db.session.get(User, data["user"])
    if platform is None or user is None or not user.is_enabled:
        return refuse(launch.LaunchRefused("bad_handoff"), "handoff")
    try:
        launch._consume_nonce(platform, "handoff:" + data["jti"],
                              int((utcnow() + timedelta(seconds=HANDOFF_MAX_AGE)).timestamp()))
    except launch.LaunchRefused as exc:
        return refuse(exc, "handoff")
    session.clear()
    login_user(user)
    record_event("user.login", actor=user, subject_type="user", subject_id=user.id,
                 data={"via": "lti-handoff", "issuer": platform.issuer})
    session[SCOPE] = data["scope"]
    if data.get("deep_link"):
        session[DEEP_LINK] = data["deep_link"]
    return redirect(data["next"])


# --- our keys and configuration -----------------------------------------------------------------------------

@bp.route("/jwks")
def jwks():
    """Our public keys (the active one and the retired ones still published)."""
    response = jsonify(keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def tool_urls() -> dict[str, str]:
    return {
        "login": url_for("lti.login", _external=True),
        "launch": url_for("lti.launch_view", _external=True),
        "deep_linking": url_for("lti.launch_view", _external=True),
        "jwks": url_for("lti.jwks", _external=True),
        "registration": url_for("lti.register", _external=True),
        "domain": urlsplit(request.host_url).netloc,
    }


@bp.route("/config.json")
def config_json():
    """A Canvas developer key (JSON configuration), also readable by any platform's administrator."""
    return jsonify(registration.canvas_configuration(tool_urls()))


@bp.route("/config")
def config_page():
    """What to paste into a platform for a manual registration."""
    return render_template("lti/config.html", urls=tool_urls())


# --- dynamic registration -----------------------------------------------------------------------------------

@bp.route("/register", methods=["GET", "POST"])
def register():
    """LTI Dynamic Registration: opened by the platform with ``openid_configuration`` and
    ``registration_token``; protected by an invitation an administrator of ours made."""
    invite = request.values.get("invite", "")
    config_url = request.values.get("openid_configuration", "")
    token = request.values.get("registration_token", "")
    try:
        registration.check_invitation(invite)
    except launch.LaunchRefused as exc:
        return refuse(exc, "register")
    if not config_url:
        return refuse(launch.LaunchRefused("registration_incomplete", _(
            "Collez cette adresse dans la plateforme (inscription dynamique d'un outil) : elle l'ouvrira elle-même.")),
            "register")
    certifications = db.session.scalars(db.select(Certification).where(Certification.is_active.is_(True))
                                        .order_by(Certification.code)).all()
    if request.method == "GET":
        return _frameable_anywhere(render_template("lti/register.html", invite=invite, config_url=config_url,
                                                   token=token, certifications=certifications))
    certification = db.session.get(Certification, request.form.get("certification", type=int) or 0)
    try:
        platform = registration.register_dynamically(config_url, token, tool_urls(), certification=certification)
    except launch.LaunchRefused as exc:
        return refuse(exc, "register")
    except DomainError as exc:
        return refuse(launch.LaunchRefused("registration_failed", exc.message), "register")
    return _frameable_anywhere(render_template("lti/registered.html", platform=platform))


def _frameable_anywhere(html: str):
    """The registration pages open inside a platform not registered yet: any site may frame them (the
    invitation is what protects them)."""
    response = current_app.make_response(html)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors *")
    return response


# --- in a course: set-up, deep linking ----------------------------------------------------------------------

def current_scope() -> dict:
    scope = session.get(SCOPE)
    if not current_user.is_authenticated or not isinstance(scope, dict):
        abort(403)
    return scope


def scoped_context() -> tuple[LtiContext, ContextRole]:
    scope = current_scope()
    context = db.session.get(LtiContext, scope.get("context_id"))
    if context is None:
        abort(404)
    return context, ContextRole(scope["role"])


@bp.route("/context/setup", methods=["GET", "POST"])
@login_required
def context_setup():
    """A tutor or course administrator chooses the certification of a course the first time."""
    context, role = scoped_context()
    if not access.can_configure_lti_context(current_user, context, role):
        abort(403)
    if context.cohort_id is not None:
        return redirect(url_for("assessment.matrix", cohort_id=context.cohort_id))
    form = CertificationChoiceForm()
    form.certification.choices = [SelectChoice(str(c.id), c.label) for c in db.session.scalars(
        db.select(Certification).where(Certification.is_active.is_(True)).order_by(Certification.code))]
    if form.validate_on_submit():
        certification = db.session.get(Certification, int(form.certification.data))
        try:
            cohort = launch.cohort_for_context(context, certification, actor=current_user)
            launch.set_membership(cohort, current_user, role)
        except DomainError as exc:
            form_error(form, exc)
        else:
            session[SCOPE] = {**session[SCOPE], "cohort_id": cohort.id}
            if session.get(DEEP_LINK):
                return redirect(url_for("lti.deep_link"))
            return redirect(url_for("assessment.matrix", cohort_id=cohort.id))
    return render_template("lti/context_setup.html", form=form, context=context)


@bp.route("/deep-link", methods=["GET", "POST"])
@login_required
def deep_link():
    """The teacher picks what the new link opens; the content item is signed back to the platform."""
    context, role = scoped_context()
    settings = session.get(DEEP_LINK)
    if not settings or not access.can_configure_lti_context(current_user, context, role):
        abort(403)
    if context.cohort is None:
        return redirect(url_for("lti.context_setup"))
    form = DeepLinkForm()
    form.target.choices = deep_linking.target_choices()
    form.block.choices = [SelectChoice("", "—")] + [SelectChoice(b.code, f"{b.code} — {b.title}")
                                                     for b in context.cohort.certification.blocks]
    if form.validate_on_submit():
        try:
            jwt_value = deep_linking.build_response(settings, context, form.target.data, form.block.data or None,
                                                    form.title.data or "", launch_url=tool_urls()["launch"])
        except DomainError as exc:
            form_error(form, exc)
        else:
            session.pop(DEEP_LINK, None)
            record_event("lti.deep_link", actor=current_user, subject_type="lti_context", subject_id=context.id,
                         data={"target": form.target.data, "block": form.block.data or None})
            response = current_app.make_response(render_template(
                "lti/deep_link_return.html", return_url=settings["return_url"], jwt=jwt_value))
            origin = platforms.origin_of(settings["return_url"])
            response.headers["Content-Security-Policy"] = (
                "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'self'; "
                f"form-action {origin}; frame-ancestors {frame_ancestors()}")
            return response
    return render_template("lti/deep_link.html", form=form, context=context)


@bp.route("/cohorts/<int:cohort_id>/roster", methods=["POST"])
@login_required
def sync_roster(cohort_id: int):
    """A tutor's button: synchronise the cohort's learners and tutors from the course (NRPS) now."""
    cohort = db.get_or_404(Cohort, cohort_id)
    access.ensure(access.can_sync_lti_roster(current_user, cohort))
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        reports = roster.sync_cohort(cohort, actor=current_user)
    except DomainError as exc:
        unit_of_work.rollback()
        flash(exc.message, "error")
    else:
        for report in reports:
            flash(_("Participant·es synchronisé·es : %(added)d ajouté·es, %(removed)d retiré·es.",
                    added=len(report.added), removed=len(report.removed)), "success")
    return redirect(url_for("assessment.matrix", cohort_id=cohort_id))


# --- the administrator's pages ------------------------------------------------------------------------------

@bp.route("/admin/platforms", methods=["GET", "POST"])
@access.permission_required(access.Permission.ADMINISTER)
def admin_platforms():
    """Registered platforms; register one by hand; make an invitation for a dynamic registration."""
    form = PlatformForm()
    certifications = db.session.scalars(db.select(Certification).where(Certification.is_active.is_(True))
                                        .order_by(Certification.code)).all()
    form.certification.choices = [SelectChoice("", "—")] + [SelectChoice(str(c.id), c.label) for c in certifications]
    if form.validate_on_submit():
        try:
            platform = platforms.register_platform(
                name=form.name.data or "", issuer=form.issuer.data, client_id=form.client_id.data,
                auth_login_url=form.auth_login_url.data, auth_token_url=form.auth_token_url.data,
                jwks_url=form.jwks_url.data,
                deployment_ids=[d for d in (form.deployment_ids.data or "").split() if d],
                certification=db.session.get(Certification, int(form.certification.data))
                if form.certification.data else None, actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Plateforme « %(name)s » enregistrée.", name=platform.name), "success")
            return redirect(url_for("lti.admin_platforms"))
    invitation = registration.invitation_url() if request.args.get("invite") else None
    return render_template("lti/admin_platforms.html", form=form, platforms=platforms.list_platforms(),
                           urls=tool_urls(), invitation=invitation, toggle_form=EmptyForm())


@bp.route("/admin/platforms/<int:platform_id>/enabled", methods=["POST"])
@access.permission_required(access.Permission.ADMINISTER)
def admin_platform_toggle(platform_id: int):
    platform = db.get_or_404(LtiPlatform, platform_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    platforms.set_enabled(platform, not platform.is_enabled, actor=current_user)
    return redirect(url_for("lti.admin_platforms"))
