"""Cohorts (promotions) and who belongs to them."""

from __future__ import annotations

import functools

from flask_babel import gettext as _
from sqlalchemy import Integer, Select, bindparam, select

from portfolio.extensions import db
from portfolio.models import Certification, Cohort, CohortMembership, MemberRole, Role, User
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError, NotFound

MIN_YEAR, MAX_YEAR = 2000, 2100


def find_cohort(name: str) -> Cohort | None:
    return db.session.scalar(select(Cohort).where(Cohort.name == name.strip()))


def current_certification(code: str) -> Certification | None:
    """The newest registration of a certification code (``RNCP28754``, or just ``28754``)."""
    code = code.strip().upper()
    if code.isdigit():
        code = f"RNCP{code}"
    return db.session.scalar(
        select(Certification).where(Certification.code == code)
        .order_by(Certification.registration.desc(), Certification.id.desc()).limit(1)
    )


def create_cohort(name: str, certification: Certification | None, year: int, *, actor: User | None) -> Cohort:
    name = name.strip()
    if not name:
        raise DomainError(_("Le nom de la promotion est obligatoire."), field="name")
    if certification is None:
        raise NotFound(_("Certification inconnue : chargez-la d'abord (flask frameworks import)."),
                       field="certification")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise DomainError(_("L'année doit être comprise entre %(a)d et %(b)d.", a=MIN_YEAR, b=MAX_YEAR),
                          field="year")
    if find_cohort(name) is not None:
        raise Conflict(_("Une promotion porte déjà le nom « %(name)s ».", name=name), field="name")
    cohort = Cohort(name=name, certification=certification, year=year)
    db.session.add(cohort)
    db.session.flush()
    record_event("cohort.create", actor=actor, subject_type="cohort", subject_id=cohort.id,
                 data={"name": name, "certification": certification.code, "year": year})
    return cohort


def add_member(cohort: Cohort, user: User, role: MemberRole, *, actor: User | None) -> CohortMembership:
    """Add a learner or a tutor; the person must hold the matching role."""
    needed = Role.TUTOR if role == MemberRole.TUTOR else Role.LEARNER
    if needed not in user.roles:
        raise DomainError(
            _("%(email)s n'a pas le rôle %(role)s.", email=user.email, role=role_label(needed)), field="user"
        )
    existing = db.session.scalar(
        select(CohortMembership).where(CohortMembership.cohort_id == cohort.id,
                                       CohortMembership.user_id == user.id)
    )
    if existing is not None:
        raise Conflict(_("%(email)s fait déjà partie de cette promotion.", email=user.email), field="user")
    membership = CohortMembership(cohort=cohort, user=user, role=role)
    db.session.add(membership)
    db.session.flush()
    record_event("cohort.add_member", actor=actor, subject_type="cohort", subject_id=cohort.id,
                 data={"user": user.id, "as": role.value})
    return membership


def remove_member(cohort: Cohort, user: User, *, actor: User | None) -> None:
    membership = db.session.scalar(
        select(CohortMembership).where(CohortMembership.cohort_id == cohort.id,
                                       CohortMembership.user_id == user.id)
    )
    if membership is None:
        raise NotFound(_("%(email)s ne fait pas partie de cette promotion.", email=user.email))
    db.session.delete(membership)
    db.session.flush()
    record_event("cohort.remove_member", actor=actor, subject_type="cohort", subject_id=cohort.id,
                 data={"user": user.id})


def cohorts_of(user: User, role: MemberRole | None = None) -> list[Cohort]:
    query = select(Cohort).join(CohortMembership).where(CohortMembership.user_id == user.id)
    if role is not None:
        query = query.where(CohortMembership.role == role)
    return list(db.session.scalars(query.order_by(Cohort.year.desc(), Cohort.name)))


def learner_certification(user: User) -> Certification | None:
    """The certification a learner prepares: that of their most recent cohort (one query, built once)."""
    return db.session.scalar(_learner_certification_query(), {"user_id": user.id})


@functools.cache
def _learner_certification_query() -> Select:
    return (select(Certification).join(Cohort, Cohort.certification_id == Certification.id)
            .join(CohortMembership, CohortMembership.cohort_id == Cohort.id)
            .where(CohortMembership.user_id == bindparam("user_id", type_=Integer),
                   CohortMembership.role == MemberRole.LEARNER)
            .order_by(Cohort.year.desc(), Cohort.name).limit(1))


def role_label(role: Role) -> str:
    labels = {
        Role.LEARNER: _("apprenant·e"),
        Role.VAE_CANDIDATE: _("candidat·e VAE"),
        Role.TUTOR: _("formateur·rice"),
        Role.JURY: _("membre du jury"),
        Role.ADMIN: _("administrateur·rice"),
    }
    return labels[role]
