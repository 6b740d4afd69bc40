"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.auth.forms import LoginForm, TokenForm
from portfolio.extensions import db, limiter
from portfolio.models import ApiToken
from portfolio.services import access, tokens, users
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


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], error_message="")
def login():
    """Show the sign-in form and sign a person in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            # One message whatever was wrong, so the form never reveals which accounts exist.
            form.password.errors.append(_("Adresse e-mail ou mot de passe incorrect."))
        else:
            login_user(user, remember=bool(form.remember.data))
            record_event("user.login", actor=user, subject_type="user", subject_id=user.id)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
    status = 200 if not form.errors else 422
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST only, CSRF-protected)."""
    logout_user()
    flash(_("Vous êtes déconnecté·e."), "success")
    return redirect(url_for("auth.login"))


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
            db.session.rollback()
            form.name.errors = [*form.name.errors, exc.message]
        else:
            db.session.commit()
            form = TokenForm(formdata=None)
    # The raw token is rendered in this response only (never flashed, never stored in the session).
    return render_template("auth/tokens.html", form=form, created=created, revoke_form=EmptyForm(),
                           tokens=tokens.list_tokens(current_user))


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_api_token(token_id: int):
    """Revoke one of the person's tokens."""
    token = db.session.get(ApiToken, token_id)
    access.ensure(token is not None and access.can_manage_token(current_user, token))
    if not EmptyForm().validate_on_submit():
        abort(400)
    tokens.revoke_token(token, actor=current_user)
    db.session.commit()
    flash(_("Jeton « %(name)s » révoqué.", name=token.name), "success")
    return redirect(url_for("auth.api_tokens"))
