"""Administration: the next version of a fiche — map its competencies, then move the cohorts over."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from portfolio.blueprints.admin.forms import EmptyForm, MigrateCohortsForm
from portfolio.blueprints.admin.views import bp
from portfolio.blueprints.forms import flash_refusal
from portfolio.extensions import db
from portfolio.models import Certification, Competency
from portfolio.services import succession
from portfolio.services.errors import DomainError

NONE = "none"  # the value of « aucune correspondance »


@bp.route("/successions/")
def successions():
    """Fiches and their next versions (named by the fiche, or a later registration), and a free choice."""
    old_id, new_id = request.args.get("old", type=int), request.args.get("new", type=int)
    if old_id and new_id:
        if old_id != new_id:
            return redirect(url_for("admin.succession_mapping", old_id=old_id, new_id=new_id))
        flash(_("Choisissez deux versions différentes : l'ancienne et la nouvelle."), "error")
    certs = db.session.scalars(select(Certification).order_by(Certification.code, Certification.registration)).all()
    status = 422 if old_id and old_id == new_id else 200
    return render_template("admin/successions.html", pairs=succession.known_pairs(), certifications=certs,
                           chosen=(old_id, new_id)), status


def _posted_choices(olds: list[Competency]) -> dict[int, list[int | None]]:
    """Each old competency's posted targets: ``target-<id>`` (the main one, ``none`` for no correspondence)
    then ``also-<id>`` (a second one when it was split, empty when not). Unreadable values are refused."""
    choices: dict[int, list[int | None]] = {}
    for comp in olds:
        values = [request.form.get(f"target-{comp.id}", ""), request.form.get(f"also-{comp.id}", "")]
        if not values[0]:
            continue  # not posted: the service names what is missing
        targets: list[int | None] = []
        for value in filter(None, values):
            if value == NONE:
                targets.append(None)
            elif value.isdigit():
                targets.append(int(value))
            else:
                raise DomainError(_("Choix illisible pour %(code)s.", code=comp.code))
        choices[comp.id] = targets
    return choices


def _render(old: Certification, new: Certification, *, status: int = 200,
            migrate_form: MigrateCohortsForm | None = None) -> tuple[str, int]:
    view = succession.mapping_view(old, new)
    return render_template("admin/succession.html", view=view, form=EmptyForm(),
                           migrate_form=migrate_form or MigrateCohortsForm(), none_value=NONE,
                           threshold=succession.SUGGESTION_THRESHOLD), status


@bp.route("/successions/<int:old_id>/<int:new_id>", methods=["GET", "POST"])
def succession_mapping(old_id: int, new_id: int):
    """The old version's competencies, each with its correspondence in the new one: review, edit, save."""
    old, new = succession.load_pair(old_id, new_id) or abort(404)
    if EmptyForm().validate_on_submit():
        try:
            succession.save_mapping(old, new, _posted_choices(succession.competencies_of(old)), actor=current_user)
        except DomainError as exc:
            flash_refusal(exc)
            return _render(old, new, status=422)
        flash(_("Correspondance enregistrée."), "success")
        return redirect(url_for("admin.succession_mapping", old_id=old.id, new_id=new.id))
    return _render(old, new, status=400 if request.method == "POST" else 200)


@bp.route("/successions/<int:old_id>/<int:new_id>/migrate", methods=["POST"])
def succession_migrate(old_id: int, new_id: int):
    """Move the old version's cohorts to the new one through the saved mapping (confirmed first)."""
    old, new = succession.load_pair(old_id, new_id) or abort(404)
    form = MigrateCohortsForm()
    if not form.validate_on_submit():
        return _render(old, new, status=422, migrate_form=form)
    try:
        result = succession.migrate_cohorts(old, new, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
        return _render(old, new, status=409, migrate_form=form)
    if result.nothing_to_do:
        flash(_("Rien à migrer : aucune promotion n'est plus sur %(code)s.", code=old.code), "info")
    else:
        flash(ngettext("%(num)d promotion est passée à %(code)s.", "%(num)d promotions sont passées à %(code)s.",
                       len(result.cohorts), code=new.code) + " "
              + ngettext("%(num)d rattachement recopié", "%(num)d rattachements recopiés", result.tags) + ", "
              + ngettext("%(num)d niveau repris.", "%(num)d niveaux repris.", result.levels), "success")
    return redirect(url_for("admin.succession_mapping", old_id=old.id, new_id=new.id))
