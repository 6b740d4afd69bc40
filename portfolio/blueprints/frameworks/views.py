"""Certification frameworks as people read them: certifications, blocks, competencies."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from portfolio.extensions import db
from portfolio.models import Block
from portfolio.services import access, assessment, cohorts, evidence, frameworks

bp = Blueprint("frameworks", __name__)


@bp.route("/certifications/")
@access.permission_required(access.Permission.ADMINISTER)
def certifications():
    """Every loaded certification with its blocks and competency counts."""
    return render_template("frameworks/list.html", items=frameworks.list_certifications())


@bp.route("/certifications/<int:cert_id>")
@login_required
def certification(cert_id: int):
    """A certification's blocks and competencies (public reference data, for signed-in users)."""
    cert = frameworks.load_certification_tree(cert_id) or abort(404)
    return render_template("frameworks/certification.html", certification=cert)


@bp.route("/blocks/<code>")
@access.permission_required(access.Permission.VIEW_OWN_CERTIFICATION)
def block(code: str):
    """One block of the learner's own certification, competency by competency."""
    cert = cohorts.learner_certification(current_user)
    found = db.session.scalar(
        db.select(Block).where(Block.certification_id == (cert.id if cert else -1), Block.code == code.upper())
    )
    access.ensure(found is not None)
    claims = evidence.claims_by_competency(current_user, found)
    levels = assessment.current_levels(current_user, [c.id for c in found.competencies])
    return render_template("frameworks/block.html", block=found, certification=cert, claims=claims, levels=levels)
