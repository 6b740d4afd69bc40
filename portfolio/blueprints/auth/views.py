"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user

from portfolio import unit_of_work
from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.auth.forms import LoginForm, PasswordChangeForm, TokenForm
from portfolio.blueprints.forms import form_error
from portfolio.browser_marker import mark_browser
from portfolio.extensions import db
from portfolio.i18n import remember_locale_on_account
from portfolio.models import ApiToken
from portfolio.services import access, login_limits, tokens, users
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: never an open redirect."""
    # Browsers read "/\\host" like "//host", so a backslash anywhere is refused too.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and not urlsplit(target).netloc:
        return target
    return url_for("main.home")


def _too_many(form: LoginForm, refusal: login_limits.Refusal):
    message = ngettext("Trop de tentatives de connexion. Réessayez dans %(num)d minute.",
                       "Trop de tentatives de connexion. Réessayez dans %(num)d minutes.", refusal.minutes)
    unit_of_work.rollback()
    return render_template("auth/login.html", form=form, refused=message), 429, \
        {"Retry-After": str(refusal.retry_after)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign a person in (throttled per address and per account)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if request.method == "POST":
        # Counted before the form or the password is looked at: even the right password is refused
        # while a limit holds.
        refusal = login_limits.register_attempt(request.remote_addr, request.form.get("email", ""))
        if refusal is not None:
            return _too_many(form, refusal)
    if form.validate_on_submit():
        user = users.authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            # One message whatever was wrong, so the form never reveals which accounts exist.
            form.password.errors.append(_("Adresse e-mail ou mot de passe incorrect."))
        else:
            login_limits.clear_account(request.form.get("email", ""))
            login_user(user, remember=bool(form.remember.data))
            remember_locale_on_account(user)
            record_event("user.login", actor=user, subject_type="user", subject_id=user.id)
            response = redirect(_safe_next(request.args.get("next")))
            mark_browser(response, user)
            return response
    status = 200 if not form.errors else 422
    if form.errors:
        unit_of_work.rollback()
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST only, CSRF-protected): this session and every other session and remember-me
    cookie of the person end."""
    users.sign_out_everywhere(current_user)
    remember_locale_on_account(current_user)
    logout_user()
    flash(_("Vous êtes déconnecté·e. Vos sessions sur vos autres appareils sont fermées aussi."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """The person changes their password; their other sessions end, this one goes on."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            users.change_own_password(current_user, form.current.data or "", form.password.data or "")
        except DomainError as exc:
            form_error(form, exc)
        else:
            user = current_user._get_current_object()
            login_user(user)  # this session carries the new session token
            flash(_("Mot de passe changé. Vos autres sessions ont été fermées."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/password.html", form=form), 422 if form.errors else 200


@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def api_tokens():
    """The person's API tokens; a new one is shown once, right after its creation."""
    form = TokenForm()
    created = None
    if form.validate_on_submit():
        try:
            _token, created = tokens.create_token(current_user, form.name.data)
        except DomainError as exc:
            unit_of_work.rollback()
            form.name.errors = [*form.name.errors, exc.message]
        else:
            form = TokenForm(formdata=None)
    # The raw token is rendered in this response only (never flashed, never stored in the session).
    return render_template("auth/tokens.html", form=form, created=created, revoke_form=EmptyForm(),
                           tokens=tokens.list_tokens(current_user))


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_api_token(token_id: int):
    """Revoke one of the person's tokens."""
    token = db.get_or_404(ApiToken, token_id)
    access.ensure(access.can_manage_token(current_user, token))
    if not EmptyForm().validate_on_submit():
        abort(400)
    tokens.revoke_token(token, actor=current_user)
    flash(_("Jeton « %(name)s » révoqué.", name=token.name), "success")
    return redirect(url_for("auth.api_tokens"))
