"""Loading certification frameworks (parsed by ``portfolio.frameworks.formats``) into the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portfolio.extensions import db
from portfolio.frameworks.formats import CertificationData
from portfolio.models import Block, Certification, CertificationLink, Competency, User
from portfolio.services.audit import record_event


@dataclass
class ImportResult:
    certification: Certification
    created: bool
    changed: bool


def _sync(obj: object, **values: object) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _same_items(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def import_certification(data: CertificationData, *, actor: User | None = None) -> ImportResult:
    """Create or update one registration of a certification; importing the same data twice changes nothing.

    Blocks and competencies are matched by code, so their ids (and what refers to them) survive a re-import.
    """
    cert = db.session.scalar(
        select(Certification)
        .where(Certification.code == data.code, Certification.registration == data.registration)
        .options(selectinload(Certification.blocks).selectinload(Block.competencies),
                 selectinload(Certification.links))
    )
    created = cert is None
    if cert is None:
        cert = Certification(code=data.code, registration=data.registration)
        db.session.add(cert)
    changed = _sync(cert, title=data.title, level=data.level, authority=data.authority,
                    is_active=data.is_active, source=data.source)

    wanted_links = {("predecessor", c) for c in data.predecessors} | {("successor", c) for c in data.successors}
    existing_links = {(link.kind, link.other_code): link for link in cert.links}
    for key in wanted_links - existing_links.keys():
        cert.links.append(CertificationLink(kind=key[0], other_code=key[1]))
        changed = True
    for key in existing_links.keys() - wanted_links:
        cert.links.remove(existing_links[key])
        changed = True

    blocks_by_code = {block.code: block for block in cert.blocks}
    kept_blocks = []
    for position, block_data in enumerate(data.blocks, start=1):
        block = blocks_by_code.get(block_data.code)
        if block is None:
            block = Block(code=block_data.code, position=position)
            changed = True
        changed |= _sync(block, title=block_data.title, description=block_data.description,
                         assessment_methods=block_data.assessment_methods, position=position)
        comps_by_code = {comp.code: comp for comp in block.competencies}
        kept = []
        for comp_position, comp_data in enumerate(block_data.competencies, start=1):
            comp = comps_by_code.get(comp_data.code)
            if comp is None:
                comp = Competency(code=comp_data.code, position=comp_position)
                changed = True
            changed |= _sync(comp, statement=comp_data.statement, position=comp_position,
                             needs_review=comp_data.needs_review)
            kept.append(comp)
        if not _same_items(kept, block.competencies):
            block.competencies = kept
        kept_blocks.append(block)
    if not _same_items(kept_blocks, cert.blocks):
        cert.blocks = kept_blocks
        changed = True
    db.session.flush()
    if created or changed:
        record_event("certification.import", actor=actor, subject_type="certification", subject_id=cert.id,
                     data={"code": data.code, "registration": data.registration, "created": created})
    return ImportResult(cert, created, changed)


def list_certifications() -> list[tuple[Certification, list[tuple[Block, int]]]]:
    """Every certification with its blocks and their competency counts, in two queries."""
    certs = db.session.scalars(
        select(Certification).options(selectinload(Certification.blocks))
        .order_by(Certification.code, Certification.registration)
    ).all()
    counts = dict(db.session.execute(
        select(Competency.block_id, func.count()).group_by(Competency.block_id)
    ).all())
    return [(cert, [(block, counts.get(block.id, 0)) for block in cert.blocks]) for cert in certs]


def load_certification_tree(cert_id: int) -> Certification | None:
    return db.session.scalar(
        select(Certification).where(Certification.id == cert_id)
        .options(selectinload(Certification.blocks).selectinload(Block.competencies))
    )
