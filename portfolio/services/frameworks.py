"""Loading certification frameworks (parsed by ``portfolio.frameworks.formats``) into the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portfolio.extensions import db
from portfolio.frameworks.case import CaseBlockData, CaseCertificationData, CaseCompetencyData
from portfolio.frameworks.formats import CertificationData
from portfolio.models import Block, Certification, CertificationLink, Competency, Dossier, DossierSection, User
from portfolio.services.audit import record_event

R = TypeVar("R", Block, Competency)


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


def _identifier(data: object) -> str | None:
    """The CASE identifier a foreign CFPackage gave this item (``portfolio.frameworks.case``), else None."""
    value = getattr(data, "case_identifier", None)
    return value if isinstance(value, str) and value else None


def _ids(data: object) -> dict[str, str | None]:
    """The identifier to store: only a CASE file says what it is (another format keeps what is stored)."""
    carries = isinstance(data, CaseCertificationData | CaseBlockData | CaseCompetencyData)
    return {"case_identifier": _identifier(data)} if carries else {}


def _match(rows: list[R], wanted: list[tuple[str, str | None]]) -> list[R | None]:
    """Pair each wanted (code, CASE identifier) with an existing row: by identifier first (a foreign file
    keeps its identifiers while its codes, numbered by us in sequence order, may shift), then by code."""
    by_id = {row.case_identifier.lower(): row for row in rows if row.case_identifier}
    by_code = {row.code: row for row in rows}
    found: list[R | None] = [by_id.get(ident.lower()) if ident else None for _, ident in wanted]
    used = {id(row) for row in found if row is not None}
    for index, (code, ident) in enumerate(wanted):
        row = by_code.get(code)
        if found[index] is not None or row is None or id(row) in used:
            continue
        other = row.case_identifier
        if ident and other and other.lower() != ident.lower():
            continue  # that code now belongs to another item of the file
        found[index] = row
        used.add(id(row))
    return found


def _free_codes(rows: list[Any]) -> None:
    """Give ``rows`` temporary codes, flushed, so codes can move between rows without a unique clash."""
    for row in rows:
        row.code = f"~{row.id}"
    if rows:
        db.session.flush()


def _find_registration(data: CertificationData) -> Certification | None:
    options = (selectinload(Certification.blocks).selectinload(Block.competencies),
               selectinload(Certification.links))
    if ident := _identifier(data):
        cert = db.session.scalar(select(Certification).options(*options).where(
            Certification.code == data.code, func.lower(Certification.case_identifier) == ident.lower()))
        if cert is not None:
            return cert
    return db.session.scalar(select(Certification).options(*options).where(
        Certification.code == data.code, Certification.registration == data.registration))


def import_certification(data: CertificationData, *, actor: User | None = None) -> ImportResult:
    """Create or update one registration of a certification; importing the same data twice changes nothing.

    Blocks and competencies are matched by CASE identifier when the file carries foreign ones, else by
    code, so their ids (and what refers to them) survive a re-import.
    """
    cert = _find_registration(data)
    created = cert is None
    if cert is None:
        cert = Certification(code=data.code, registration=data.registration)
        db.session.add(cert)
    changed = _sync(cert, registration=data.registration, title=data.title, level=data.level,
                    authority=data.authority, is_active=data.is_active, source=data.source,
                    **_ids(data))

    wanted_links = {("predecessor", c) for c in data.predecessors} | {("successor", c) for c in data.successors}
    existing_links = {(link.kind, link.other_code): link for link in cert.links}
    for key in wanted_links - existing_links.keys():
        cert.links.append(CertificationLink(kind=key[0], other_code=key[1]))
        changed = True
    for key in existing_links.keys() - wanted_links:
        cert.links.remove(existing_links[key])
        changed = True

    block_rows = _match(list(cert.blocks), [(b.code, _identifier(b)) for b in data.blocks])
    comp_rows = {}
    for block_data, block in zip(data.blocks, block_rows, strict=True):
        existing = list(block.competencies) if block is not None else []
        comp_rows[block_data.code] = _match(existing, [(c.code, _identifier(c)) for c in block_data.competencies])
    # Rows that change code, and rows about to go, first take temporary codes (a re-numbered foreign file).
    moving_blocks = [b for b, d in zip(block_rows, data.blocks, strict=True) if b is not None and b.code != d.code]
    kept_ids = {id(b) for b in block_rows if b is not None}
    if moving_blocks:
        moving_blocks += [b for b in cert.blocks if id(b) not in kept_ids]
    moving_comps: list[Competency] = []
    for block_data, block in zip(data.blocks, block_rows, strict=True):
        rows = comp_rows[block_data.code]
        moved = [c for c, d in zip(rows, block_data.competencies, strict=True) if c is not None and c.code != d.code]
        if moved and block is not None:
            staying = {id(c) for c in rows if c is not None}
            moved += [c for c in block.competencies if id(c) not in staying]
        moving_comps += moved
    _free_codes(moving_blocks + moving_comps)

    kept_blocks = []
    for position, (block_data, found) in enumerate(zip(data.blocks, block_rows, strict=True), start=1):
        block = found
        if block is None:
            block = Block(code=block_data.code, position=position)
            changed = True
        changed |= _sync(block, code=block_data.code, title=block_data.title, description=block_data.description,
                         assessment_methods=block_data.assessment_methods, position=position,
                         **_ids(block_data))
        kept = []
        for comp_position, (comp_data, comp) in enumerate(
                zip(block_data.competencies, comp_rows[block_data.code], strict=True), start=1):
            if comp is None:
                comp = Competency(code=comp_data.code, position=comp_position)
                changed = True
            changed |= _sync(comp, code=comp_data.code, statement=comp_data.statement, position=comp_position,
                             needs_review=comp_data.needs_review, **_ids(comp_data))
            kept.append(comp)
        if not _same_items(kept, block.competencies):
            block.competencies = kept
        kept_blocks.append(block)
    if not _same_items(kept_blocks, cert.blocks):
        cert.blocks = kept_blocks
        changed = True
    db.session.flush()
    if changed and not created:
        _add_missing_sections(cert)
    if created or changed:
        record_event("certification.import", actor=actor, subject_type="certification", subject_id=cert.id,
                     data={"code": data.code, "registration": data.registration, "created": created})
    return ImportResult(cert, created, changed)


def _add_missing_sections(cert: Certification) -> None:
    """Give the VAE dossiers of ``cert`` a section for each block the new import added (pages only read)."""
    for dossier in db.session.scalars(select(Dossier).where(Dossier.certification_id == cert.id)):
        have = {section.block_id for section in dossier.sections}
        dossier.sections.extend(DossierSection(block=block) for block in cert.blocks if block.id not in have)
    db.session.flush()


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


def find_certification(code: str) -> Certification | None:
    """The latest registration of the certification ``code`` (with its tree), or None."""
    return db.session.scalar(
        select(Certification).where(Certification.code == code)
        .options(selectinload(Certification.blocks).selectinload(Block.competencies),
                 selectinload(Certification.links))
        .order_by(Certification.registration.desc()).limit(1)
    )


def certification_data(cert: Certification) -> CertificationData:
    """The plain data of a stored certification, as the format writers take it (with the CASE identifiers
    a foreign file gave it, which the CASE export writes back unchanged)."""
    return CaseCertificationData(
        case_identifier=cert.case_identifier,
        code=cert.code, registration=cert.registration, title=cert.title, level=cert.level,
        is_active=cert.is_active, source=cert.source, authority=cert.authority,
        predecessors=[link.other_code for link in cert.links if link.kind == "predecessor"],
        successors=[link.other_code for link in cert.links if link.kind == "successor"],
        blocks=[CaseBlockData(case_identifier=block.case_identifier, code=block.code, title=block.title,
                              description=block.description, assessment_methods=block.assessment_methods,
                              competencies=[CaseCompetencyData(code=c.code, statement=c.statement,
                                                               needs_review=c.needs_review,
                                                               case_identifier=c.case_identifier)
                                            for c in block.competencies])
                for block in cert.blocks],
    )
