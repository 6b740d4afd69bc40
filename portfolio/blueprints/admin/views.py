"""Administration: users and their roles, cohorts and their members."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from portfolio.blueprints.admin.forms import (
    CohortCreateForm,
    EmptyForm,
    MemberAddForm,
    UserCreateForm,
    UserEditForm,
)
from portfolio.blueprints.forms import edit_form, flash_refusal, form_error
from portfolio.extensions import db
from portfolio.models import Certification, Cohort, CohortMembership, MemberRole, User
from portfolio.models.outbox import OutboxMessage
from portfolio.services import access, cohorts, dashboard, outbox, users
from portfolio.services.errors import DomainError

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@access.permission_required(access.Permission.ADMINISTER)
def require_admin() -> None:
    """Every admin page needs the administer permission."""


@bp.route("/")
def index():
    """The administration menu with a few counts."""
    counts = {
        "users": db.session.scalar(select(func.count()).select_from(User)),
        "cohorts": db.session.scalar(select(func.count()).select_from(Cohort)),
        "certifications": db.session.scalar(select(func.count()).select_from(Certification)),
    }
    return render_template("admin/index.html", counts=counts, waiting=dashboard.admin_home(),
                           smtp=bool(current_app.config.get("SMTP_URL")))


@bp.route("/users/")
def user_list():
    """All accounts with their roles."""
    items = db.session.scalars(select(User).order_by(User.name)).all()
    return render_template("admin/users.html", users=items)


@bp.route("/users/new", methods=["GET", "POST"])
def user_create():
    """Create an account."""
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(form.email.data, form.name.data, users.parse_roles(form.roles.data),
                                     password=form.password.data, locale=form.locale.data, actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Compte créé pour %(email)s.", email=user.email), "success")
            return redirect(url_for("admin.user_list"))
    return render_template("admin/user_form.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    """Edit an account: name, roles, language, active flag, password."""
    user = db.session.get(User, user_id) or abort(404)
    form = edit_form(UserEditForm, user, roles=sorted(r.value for r in user.roles))
    if form.validate_on_submit():
        try:
            users.update_profile(user, name=form.name.data, locale=form.locale.data,
                                 is_enabled=form.is_enabled.data, actor=current_user)
            users.set_roles(user, users.parse_roles(form.roles.data), actor=current_user)
            if form.password.data:
                users.set_password(user, form.password.data, actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Compte mis à jour."), "success")
            return redirect(url_for("admin.user_list"))
    return render_template("admin/user_form.html", form=form, user=user), 422 if form.errors else 200


@bp.route("/cohorts/", methods=["GET", "POST"])
def cohort_list():
    """All cohorts, and the form to create one."""
    form = CohortCreateForm()
    certs = db.session.scalars(select(Certification).order_by(Certification.code)).all()
    form.certification.choices = [SelectChoice(str(c.id), f"{c.code} ({c.registration}) — {c.title}") for c in certs]
    if form.validate_on_submit():
        try:
            cohort = cohorts.create_cohort(form.name.data, db.session.get(Certification, form.certification.data),
                                           form.year.data, actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Promotion « %(name)s » créée.", name=cohort.name), "success")
            return redirect(url_for("admin.cohort_detail", cohort_id=cohort.id))
    items = db.session.scalars(
        select(Cohort).options(selectinload(Cohort.certification), selectinload(Cohort.memberships))
        .order_by(Cohort.year.desc(), Cohort.name)
    ).all()
    return render_template("admin/cohorts.html", cohorts=items, form=form), 422 if form.errors else 200


@bp.route("/cohorts/<int:cohort_id>", methods=["GET", "POST"])
def cohort_detail(cohort_id: int):
    """A cohort's learners and tutors; add a member."""
    cohort = db.session.scalar(
        select(Cohort).where(Cohort.id == cohort_id)
        .options(selectinload(Cohort.memberships).selectinload(CohortMembership.user))
    ) or abort(404)
    form = MemberAddForm()
    if form.validate_on_submit():
        user = users.find_user_by_email(form.email.data)
        try:
            if user is None:
                raise DomainError(_("Aucun compte pour %(email)s.", email=form.email.data), field="email")
            cohorts.add_member(cohort, user, MemberRole(form.role.data), actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("%(name)s ajouté·e à la promotion.", name=user.name), "success")
            return redirect(url_for("admin.cohort_detail", cohort_id=cohort.id))
    return render_template("admin/cohort.html", cohort=cohort, form=form, remove_form=EmptyForm(),
                           MemberRole=MemberRole), 422 if form.errors else 200


@bp.route("/cohorts/<int:cohort_id>/members/<int:user_id>/remove", methods=["POST"])
def cohort_remove_member(cohort_id: int, user_id: int):
    """Remove a person from a cohort."""
    cohort = db.session.get(Cohort, cohort_id) or abort(404)
    user = db.session.get(User, user_id) or abort(404)
    if EmptyForm().validate_on_submit():
        try:
            cohorts.remove_member(cohort, user, actor=current_user)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(_("%(name)s retiré·e de la promotion.", name=user.name), "success")
    return redirect(url_for("admin.cohort_detail", cohort_id=cohort.id))


@bp.route("/emails/")
def emails():
    """The e-mails that have not left (failed, retried later, given up, waiting), with their state."""
    return render_template("admin/emails.html", messages=outbox.undelivered(), counts=outbox.count_by_state(),
                           mail_state=outbox.mail_state, smtp=bool(current_app.config.get("SMTP_URL")),
                           retry_form=EmptyForm())


@bp.route("/emails/<int:message_id>/retry", methods=["POST"])
def email_retry(message_id: int):
    """Try to send one e-mail again now."""
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if outbox.retry_now(message):
        flash(_("L'e-mail est parti."), "success")
    elif message.status == "sent":
        flash(_("Cet e-mail était déjà parti."), "info")
    else:
        flash(_("L'e-mail n'a toujours pas pu partir (%(error)s).", error=message.last_error or "?"), "error")
    return redirect(url_for("admin.emails"), 303)
