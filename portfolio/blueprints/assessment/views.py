"""Assessment: the tutor's queue, judgements and comments on evidence, learners' progress, block
decisions, the cohort matrix (page and CSV) and notifications."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from wtforms import SelectChoice

from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.assessment.forms import (
    AssessmentForm,
    CommentForm,
    DecisionForm,
    MatrixFilterForm,
    QueueFilterForm,
)
from portfolio.extensions import db
from portfolio.models import Cohort, Evidence, Level, User
from portfolio.services import access, cohorts, viewers
from portfolio.services import assessment as service
from portfolio.services.errors import DomainError, NotFound

bp = Blueprint("assessment", __name__)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _load_evidence(evidence_id: int) -> Evidence:
    found = db.session.get(Evidence, evidence_id)
    access.ensure(found is not None and access.can_view_evidence(current_user, found))
    return found


def _load_learner(learner_id: int) -> User:
    found = db.session.get(User, learner_id)
    access.ensure(found is not None and access.can_view_learner(current_user, found))
    return found


def _render_evidence(item: Evidence, **forms):  # type: ignore[no-untyped-def]
    # Imported here: the evidence views import this blueprint's forms.
    from portfolio.blueprints.evidence.views import render_detail

    return render_detail(item, status=422, **forms)


# --- the queue ---------------------------------------------------------------------------------------

@bp.route("/assessments/")
@access.permission_required(access.Permission.ASSESS)
def queue():
    """Submitted evidence awaiting the tutor, oldest first, filterable by cohort, learner and block."""
    form = QueueFilterForm(request.args)
    page = service.queue_page(current_user, cohort_id=_int_or_none(request.args.get("cohort")),
                              learner_id=_int_or_none(request.args.get("learner")),
                              block_code=request.args.get("block") or None)
    form.cohort.choices = [SelectChoice("", _("Toutes les promotions"))] + [
        SelectChoice(str(c.id), c.name) for c in page.cohorts]
    form.learner.choices = [SelectChoice("", _("Tous les apprenant·es"))] + [
        SelectChoice(str(u.id), u.name) for u in page.learners]
    form.block.choices = [SelectChoice("", _("Tous les blocs"))] + [
        SelectChoice(b.code, f"{b.code} — {b.title[:60]}") for b in page.blocks]
    page_html = render_template("assessment/queue.html", page=page, form=form,
                                reports=viewers.report_digests(page.items),
                                filtered=any(request.args.get(k) for k in ("cohort", "learner", "block")))
    db.session.commit()  # test-report summaries read for the first time are kept
    return page_html


# --- on a piece of evidence ----------------------------------------------------------------------------

@bp.route("/evidence/<int:evidence_id>/assessments", methods=["POST"])
@login_required
def record(evidence_id: int):
    """Record one competency's level, with a comment, on a submitted piece of evidence."""
    item = _load_evidence(evidence_id)
    if not access.can_assess_learner(current_user, item.owner):
        abort(403)
    form = AssessmentForm()
    if form.validate_on_submit():
        try:
            assessment = service.record_assessment(item, form.competency.data, form.level.data, form.comment.data,
                                                   assessor=current_user)
        except DomainError as exc:
            db.session.rollback()
            if exc.field not in ("level", "comment"):  # not a mistake in the form: the evidence refused it
                flash(exc.message, "error")
                return redirect(url_for("evidence.detail", evidence_id=item.id))
            getattr(form, exc.field).errors = [exc.message]
        else:
            code = assessment.competency.code
            db.session.commit()
            flash(_("Évaluation de %(code)s enregistrée.", code=code), "success")
            return redirect(url_for("evidence.detail", evidence_id=item.id) + f"#assess-{code}")
    if form.competency.errors:
        abort(400)
    return _render_evidence(item, assessment_form=form)


@bp.route("/evidence/<int:evidence_id>/comments", methods=["POST"])
@login_required
def comment(evidence_id: int):
    """Add a message to the evidence's thread (its owner and those who assess them)."""
    item = _load_evidence(evidence_id)
    if not (current_user.id == item.owner_id or access.can_assess_learner(current_user, item.owner)):
        abort(403)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            service.add_comment(item, form.body.data, author=current_user)
        except DomainError as exc:
            db.session.rollback()
            form.body.errors = [exc.message]
        else:
            db.session.commit()
            flash(_("Commentaire publié."), "success")
            return redirect(url_for("evidence.detail", evidence_id=item.id) + "#comments")
    return _render_evidence(item, comment_form=form)


# --- progress and block decisions ------------------------------------------------------------------------

@bp.route("/learners/<int:learner_id>/progress")
@login_required
def progress(learner_id: int):
    """A learner's progress block by block, as the learner and their tutors see it."""
    learner = _load_learner(learner_id)
    certification = cohorts.learner_certification(learner)
    blocks = service.learner_progress(learner, certification) if certification else []
    return render_template("assessment/progress.html", learner=learner, certification=certification,
                           blocks=blocks, can_assess=access.can_assess_learner(current_user, learner),
                           decision_form=DecisionForm())


def _decide(learner_id: int, code: str, operation, done):  # type: ignore[no-untyped-def]
    learner = _load_learner(learner_id)
    if not access.can_assess_learner(current_user, learner):
        abort(403)
    certification = cohorts.learner_certification(learner)
    try:
        block = service.find_block(certification.id if certification else -1, code)
    except NotFound:
        abort(404)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        operation(learner, block, actor=current_user, comment=form.comment.data or "")
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(done(block.code), "success")
    return redirect(url_for("assessment.progress", learner_id=learner.id) + f"#block-{block.code}")


@bp.route("/learners/<int:learner_id>/blocks/<code>/validation", methods=["POST"])
@login_required
def validate_block(learner_id: int, code: str):
    """Validate a block whose competencies are all acquired (refused with the missing ones otherwise)."""
    return _decide(learner_id, code, service.validate_block,
                   lambda block: _("Bloc %(block)s validé.", block=block))


@bp.route("/learners/<int:learner_id>/blocks/<code>/revocation", methods=["POST"])
@login_required
def revoke_block(learner_id: int, code: str):
    """Revoke a block's validation, saying why: a new record, the validation stays in the history."""
    return _decide(learner_id, code, service.revoke_block,
                   lambda block: _("Validation du bloc %(block)s retirée.", block=block))


# --- the cohort at a glance -----------------------------------------------------------------------------

def _matrix_cells() -> dict:
    """The only four cells a matrix has (one per level, and not yet assessed), rendered once.

    A cell says its level in text as well as in colour: an abbreviation, and the full label for
    screen readers.
    """
    labels = service.level_labels()
    abbreviations = {Level.ACQUIRED: _("A"), Level.IN_PROGRESS: _("EC"), Level.NOT_ACQUIRED: _("NA"), None: "—"}
    cell = Markup('<td class="lvl level--{}"><span aria-hidden="true">{}</span>'
                  '<span class="visually-hidden">{}</span></td>')
    return {level: cell.format(level.value if level else "none", abbreviations[level], labels[level])
            for level in abbreviations}


@bp.route("/cohorts/<int:cohort_id>/matrix")
@access.permission_required(access.Permission.VIEW_COHORTS)
def matrix(cohort_id: int):
    """Learners × competencies of a cohort, by block, sortable; ``?format=csv`` for the spreadsheet."""
    found = db.session.get(Cohort, cohort_id)
    access.ensure(found is not None and access.can_view_cohort(current_user, found))
    form = MatrixFilterForm(request.args)
    sort = request.args.get("sort") if request.args.get("sort") in ("name", "acquired") else "name"
    result = service.cohort_matrix(found, block_code=request.args.get("block") or None, sort=sort)
    if request.args.get("format") == "csv":
        filename = service.matrix_filename(found)
        return Response(service.matrix_csv(result), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "private, no-store"})
    form.block.choices = [SelectChoice("", _("Tous les blocs"))] + [
        SelectChoice(b.code, f"{b.code} — {b.title[:60]}") for b in result.all_blocks]
    form.sort.data = sort
    return render_template("assessment/matrix.html", cohort=found, matrix=result, form=form, sort=sort,
                           block=request.args.get("block") or "", cells=_matrix_cells())


# --- notifications ---------------------------------------------------------------------------------------

@bp.route("/notifications")
@login_required
def notifications():
    """The signed-in person's notifications, newest first."""
    return render_template("assessment/notifications.html", items=service.notifications_of(current_user),
                           empty_form=EmptyForm())


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read():
    """Mark every notification read."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    service.mark_notifications_read(current_user)
    db.session.commit()
    flash(_("Notifications marquées comme lues."), "success")
    return redirect(url_for("assessment.notifications"))
