"""Assessment: the tutor's queue, judgements and comments on evidence, learners' progress, block
decisions, the cohort matrix (page and CSV) and notifications."""

from __future__ import annotations

from functools import cache

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from markupsafe import Markup
from wtforms import SelectChoice

from portfolio import unit_of_work
from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.assessment.forms import (
    LEVEL_CHOICES,
    AssessmentForm,
    CommentForm,
    DecisionForm,
    MatrixFilterForm,
    QueueFilterForm,
)
from portfolio.blueprints.downloads import file_response
from portfolio.blueprints.evidence.views import render_detail
from portfolio.extensions import db
from portfolio.i18n import template_gettext, template_ngettext
from portfolio.markdown import render_markdown
from portfolio.models import Cohort, Evidence, Level, Notification, User
from portfolio.services import access, cohorts, dashboard, outbox, viewers
from portfolio.services import assessment as service
from portfolio.services import notifications as notification_service
from portfolio.services import review as review_service
from portfolio.services.errors import DomainError, NotFound
from portfolio.web import level_label

bp = Blueprint("assessment", __name__)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _load_evidence(evidence_id: int) -> Evidence:
    found = db.get_or_404(Evidence, evidence_id)
    access.ensure(access.can_view_evidence(current_user, found))
    return found


def _load_learner(learner_id: int) -> User:
    found = db.get_or_404(User, learner_id)
    access.ensure(access.can_view_learner(current_user, found))
    return found


def _render_evidence(item: Evidence, **forms):
    # Imported here: the evidence views import this blueprint's forms.
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
    return render_template("assessment/queue.html", page=page, form=form,
                           reports=viewers.report_digests(page.items),
                           filtered=any(request.args.get(k) for k in ("cohort", "learner", "block")))


# --- fast review: one piece after another, every competency at once -----------------------------------

def _queue_filters() -> dict:
    return {"cohort_id": _int_or_none(request.args.get("cohort")),
            "learner_id": _int_or_none(request.args.get("learner")),
            "block_code": request.args.get("block") or None}


def _filter_args() -> dict:
    return {k: request.args[k] for k in ("cohort", "learner", "block") if request.args.get(k)}


@bp.route("/assessments/review")
@access.permission_required(access.Permission.ASSESS)
def review():
    """The queue one piece at a time: the piece beside the assessment of all its competencies."""
    position = review_service.review_position(current_user, at=_int_or_none(request.args.get("at")), **_queue_filters())
    return _render_review(position)


def _render_review(position, *, errors: dict | None = None, values: dict | None = None,
                   status: int = 200):
    item = position.current
    views = [viewers.file_view(f) for f in item.files] if item is not None else []
    page = render_template("assessment/review.html", position=position, item=item, views=views,
                           review=service.evidence_review(item) if item is not None else None,
                           level_choices=LEVEL_CHOICES, filters=_filter_args(), errors=errors or {},
                           values=values or {},
                           description=render_markdown(item.description) if item is not None else "")
    return page, status


@bp.route("/assessments/review/<int:evidence_id>", methods=["POST"])
@access.permission_required(access.Permission.ASSESS)
def record_review(evidence_id: int):
    """Record the levels chosen for a piece's competencies, then go on to the next piece of the queue."""
    item = _load_evidence(evidence_id)
    if not access.can_assess_learner(current_user, item.owner):
        abort(403)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    position = review_service.review_position(current_user, at=item.id, **_queue_filters())
    codes = [c.competency.code for c in item.claims]
    judgements = [review_service.Judgement(code, request.form.get(f"level-{code}", ""),
                                           request.form.get(f"comment-{code}", "")) for code in codes]
    try:
        count = review_service.record_review(item, judgements, assessor=current_user)
    except DomainError as exc:
        unit_of_work.rollback()
        values = {j.competency: j for j in judgements}
        return _render_review(position, errors={"form": exc.message}, values=values, status=422)
    flash(ngettext("%(num)d évaluation enregistrée sur « %(title)s ».",
                   "%(num)d évaluations enregistrées sur « %(title)s ».", count, title=item.title), "success")
    following = position.next_id if position.current is not None and position.current.id == item.id else None
    if following is None and position.total > 1 and position.previous_id is not None:
        following = position.ids[0]  # the end of the queue: back to its oldest piece still waiting
    args = _filter_args() | ({"at": following} if following else {})
    return redirect(url_for("assessment.review", **args))


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
            assessment = service.record_assessment(item, form.competency.data, form.level.data, form.comment.data or "",
                                                   assessor=current_user)
        except DomainError as exc:
            unit_of_work.rollback()
            if exc.field not in ("level", "comment"):  # not a mistake in the form: the evidence refused it
                flash(exc.message, "error")
                return redirect(url_for("evidence.detail", evidence_id=item.id))
            getattr(form, exc.field).errors = [exc.message]
        else:
            code = assessment.competency.code
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
            service.add_comment(item, form.body.data or "", author=current_user)
        except DomainError as exc:
            unit_of_work.rollback()
            form.body.errors = [exc.message]
        else:
            flash(_("Commentaire publié."), "success")
            return redirect(url_for("evidence.detail", evidence_id=item.id) + "#comments")
    return _render_evidence(item, comment_form=form)


# --- progress and block decisions ------------------------------------------------------------------------

@bp.route("/learners/<int:learner_id>/progress")
@login_required
def progress(learner_id: int):
    """A learner's progress block by block, as the learner and their tutors see it."""
    return _render_progress(_load_learner(learner_id))


@bp.route("/learners/<int:learner_id>/progress/blocks/<code>")
@login_required
def progress_block(learner_id: int, code: str):
    """One block's body of the progress page (decision, competencies, tags, history), as an HTML fragment:
    the page folds its blocks to their bars and fetches a body when it is opened (progress.js)."""
    learner = _load_learner(learner_id)
    certification = cohorts.learner_certification(learner)
    if certification is None:
        abort(404)
    blocks, _earlier = service.progress_and_earlier_validations(learner, certification,
                                                                 detail=lambda b: b.code == code)
    block = next((p for p in blocks if p.block.code == code), None)
    if block is None:
        abort(404)
    return render_template("assessment/_progress_block.html", p=block, learner=learner, state=None,
                           can_assess=access.can_assess_learner(current_user, learner),
                           decision_form=DecisionForm(), refused=None, **_progress_labels())


def _render_progress(learner: User, refused: dict | None = None, status: int = 200):
    """``refused``: a block decision that was refused ({code, message, comment}), shown in that block's
    form with the comment as it was typed.

    Blocks are folded to their bars: only the bodies the page shows open are rendered in it (a state
    filter, a refused decision, ``?block=CODE``) or every one with ``?all=1`` (the printable page, and the
    page without JavaScript); the others are fetched when opened (``progress_block``)."""
    certification = cohorts.learner_certification(learner)
    state = request.args.get("state")
    state = state if state in dashboard.LEVEL_KEYS else None
    open_block = request.args.get("block") or (refused["code"] if refused else None)
    every = request.args.get("all") == "1" or state is not None

    def detail(block) -> bool:
        return every or block.code == open_block

    blocks, earlier = (service.progress_and_earlier_validations(learner, certification, detail=detail)
                       if certification else ([], []))
    return render_template("assessment/progress.html", learner=learner, certification=certification,
                           blocks=blocks, earlier=earlier,
                           can_assess=access.can_assess_learner(current_user, learner),
                           decision_form=DecisionForm(), refused=refused, state=state, open_block=open_block,
                           states=dashboard.state_labels(), totals=dashboard.progress_totals(blocks),
                           **_progress_labels()), status


def _progress_labels() -> dict:
    """What the progress page repeats per competency and per assessment, worked out once per page: the
    level badges, the link to a piece of evidence (its id appended), and the translated lines whose
    values go in with ``%`` (``Markup`` escapes them, as the template's own ``_()`` does)."""
    badges = {level: Markup('<span class="level level--{}">{}</span>').format(level.value if level else "none",
                                                                                level_label(level))
              for level in (*Level, None)}
    evidence_href = url_for("evidence.detail", evidence_id=0)
    if not evidence_href.endswith("/0"):
        raise RuntimeError(f"unexpected evidence URL {evidence_href!r}")
    return {"badges": badges, "evidence_href": evidence_href[:-1],
            "by_line": Markup(template_gettext("par %(name)s, le %(date)s")),  # noqa: S704 (catalogue text)
            "replaces_line": Markup(template_gettext("remplace l'évaluation du %(date)s")),  # noqa: S704
            "deleted_account": _("compte supprimé"),
            "tags_label": Markup(template_gettext("Preuves de %(code)s")),  # noqa: S704 (catalogue text)
            "assessments_count": cache(lambda n: Markup(template_ngettext(  # noqa: S704 (catalogue text)
                "%(num)d évaluation", "%(num)d évaluations", n)) % {"num": n})}


def _decide(learner_id: int, code: str, operation, done):
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
        unit_of_work.rollback()
        return _render_progress(learner, {"code": block.code, "message": exc.message,
                                          "comment": form.comment.data or ""}, 422)
    else:
        flash(done(block.code), "success")
    return redirect(url_for("assessment.progress", learner_id=learner.id, block=block.code) + f"#block-{block.code}")


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


def _gap_cells() -> dict:
    """The cells where the learner's self-assessment differs from the level: the level, then a mark "≠"
    and, for screen readers and on hover, the learner's own level."""
    labels = service.level_labels()
    abbreviations = {Level.ACQUIRED: _("A"), Level.IN_PROGRESS: _("EC"), Level.NOT_ACQUIRED: _("NA"), None: "—"}
    cell = Markup('<td class="lvl level--{} gap" title="{}"><span aria-hidden="true">{} ≠</span>'
                  '<span class="visually-hidden">{}, {}</span></td>')
    return {(level, own): cell.format(level.value if level else "none",
                                      _("Auto-évaluation : %(level)s", level=labels[own]), abbreviations[level],
                                      labels[level], _("auto-évaluation : %(level)s", level=labels[own]))
            for level in abbreviations for own in Level}


@bp.route("/cohorts/<int:cohort_id>/matrix")
@access.permission_required(access.Permission.VIEW_COHORTS)
def matrix(cohort_id: int):
    """Learners × competencies of a cohort, by block, sortable; ``?format=csv`` for the spreadsheet."""
    found = db.get_or_404(Cohort, cohort_id)
    access.ensure(access.can_view_cohort(current_user, found))
    form = MatrixFilterForm(request.args)
    sort = request.args.get("sort", "")
    if sort not in ("name", "acquired"):
        sort = "name"
    gap = request.args.get("gap") == "1"
    result = service.cohort_matrix(found, block_code=request.args.get("block") or None, sort=sort,
                                   with_self_assessment=gap)
    if request.args.get("format") == "csv":
        filename = service.matrix_filename(found)
        return file_response(service.matrix_csv(result), filename, mimetype="text/csv")
    form.block.choices = [SelectChoice("", _("Tous les blocs"))] + [
        SelectChoice(b.code, f"{b.code} — {b.title[:60]}") for b in result.all_blocks]
    form.sort.data = sort
    return render_template("assessment/matrix.html", cohort=found, matrix=result, form=form, sort=sort,
                           block=request.args.get("block") or "", cells=_matrix_cells(), gap=gap,
                           gap_cells=_gap_cells() if gap else None)


# --- notifications ---------------------------------------------------------------------------------------

@bp.route("/notifications")
@login_required
def notifications():
    """The signed-in person's notifications, newest first."""
    items = notification_service.notifications_of(current_user)
    return render_template("assessment/notifications.html", items=items, empty_form=EmptyForm(),
                           mails=outbox.latest_for("notification", [item.id for item in items]),
                           mail_state=outbox.mail_state)


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@login_required
def open_notification(notification_id: int):
    """Open a notification: it is marked read (the header's count follows), then its page is shown."""
    item = db.get_or_404(Notification, notification_id)
    access.ensure(access.can_open_notification(current_user, item))
    if not EmptyForm().validate_on_submit():
        abort(400)
    link = notification_service.open_notification(item)
    return redirect(link or url_for("assessment.notifications") + f"#notification-{item.id}", 303)


@bp.route("/notifications/read", methods=["POST"])
@login_required
def mark_read():
    """Mark every notification read."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    notification_service.mark_notifications_read(current_user)
    flash(_("Notifications marquées comme lues."), "success")
    return redirect(url_for("assessment.notifications"))
