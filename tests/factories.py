"""Builders the test modules share: data made through the services (never rows written by hand, so a
builder obeys the same rules as the application), and the bytes of files the tests upload.

Test modules import from here, never from one another; the fixtures they share live in
``tests/conftest.py`` (``world``, ``bearer``, ``enrolled``, ``vae_case`` …).
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Competency, EvidenceFile, StorageUsage
from portfolio.services import logbook

B1 = "RNCP28754BC01"
C1 = "RNCP28754BC01-C01"
MiB = 1024 * 1024
REPORTS = Path(__file__).parent / "fixtures" / "reports"

# --- files ------------------------------------------------------------------------------------------

#: A small Python/TypeScript project, zipped by the viewer and analysis tests.
PROJECT = {
    "shop/README.md": b"# Shop\n",
    "shop/src/shop/cart.py": b"class Cart:\n    def __init__(self):\n        self.items = []\n",
    "shop/src/shop/api.ts": b"export const api = 1;\n",
    "shop/tests/test_cart.py": b"from shop.cart import Cart\n\n\ndef test_empty():\n    assert Cart().items == []\n",
}

#: A test module with one test of each outcome (passed, failed, error, skipped), run by ``run_pytest_junit``.
EXAMPLE_TESTS = """
import pytest


@pytest.fixture
def database():
    raise RuntimeError("database unavailable")


def test_addition():
    assert 1 + 1 == 2


def test_subtraction():
    assert 3 - 1 == 1, "subtraction is broken"


def test_needs_database(database):
    assert database


@pytest.mark.skip(reason="not ready yet")
def test_later():
    assert False
"""


def report_fixture(name: str) -> bytes:
    """A committed sample report of ``tests/fixtures/reports`` (described in the README there)."""
    return (REPORTS / name).read_bytes()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def symlink_zip() -> bytes:
    """A zip with a symbolic link to /etc/passwd beside an ordinary file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ok.txt", b"ok\n")
        info = zipfile.ZipInfo("passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, b"/etc/passwd")
    return buffer.getvalue()


def bomb_zip(size: int = 30 * MiB) -> bytes:
    """One entry of ``size`` zeros: a ratio near 1000, far above the limit of 100."""
    buffer = io.BytesIO()
    chunk = bytes(MiB)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, zf.open("zeros.txt", "w") as f:
        for _ in range(size // MiB):
            f.write(chunk)
    return buffer.getvalue()


def run_pytest_junit(tmp_path: Path) -> bytes:
    """A genuine pytest report (1 passed, 1 failure, 1 error, 1 skipped), produced here by running pytest."""
    example = tmp_path / "example"
    example.mkdir()
    (example / "test_example.py").write_text(EXAMPLE_TESTS)
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\njunit_family = xunit2\n")  # not the repository's configuration
    out = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "pytest", str(example), "--junitxml", str(out), "-p", "no:cacheprovider", "-q",
         "-c", str(ini), "--rootdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    return out.read_bytes()


# --- evidence ---------------------------------------------------------------------------------------

def add_evidence(owner, *, title="Tests du module", files=((b"hello evidence", "notes.txt"),), url=None,  # type: ignore[no-untyped-def]
                 kind="code", tags=()):
    """Committed evidence of ``owner``: ``files`` as (bytes, name) pairs, optionally tagged with ``tags``."""
    from portfolio.services import evidence as evidence_service

    item = evidence_service.create_evidence(
        owner, title=title, kind=kind, context="project", occurred_on=date(2026, 3, 1),
        description="Du **gras**", url=url,
        uploads=[evidence_service.Upload(name, io.BytesIO(data)) for data, name in files],
    )
    for code in tags:
        evidence_service.tag_evidence(item, code, "parce que", actor=owner)
    db.session.commit()
    return item


def add_project_evidence(owner, files, *, title="Projet", kind="code", submit=False):  # type: ignore[no-untyped-def]
    """Committed evidence of ``owner`` with ``files`` (name → bytes), optionally tagged and submitted."""
    from flask import current_app

    from portfolio.services import assessment, evidence

    uploads = [evidence.Upload(name, io.BytesIO(data)) for name, data in files.items()]
    with current_app.test_request_context():  # submitting notifies tutors, with links
        item = evidence.create_evidence(owner, title=title, kind=kind, context="project",
                                        occurred_on=date(2026, 10, 1), uploads=uploads)
        if submit:
            evidence.tag_evidence(item, C1, "Voir les fichiers.", actor=owner)
            assessment.submit_evidence(item, actor=owner)
        db.session.commit()
    return item


def file_of(item, name: str) -> EvidenceFile:  # type: ignore[no-untyped-def]
    return next(f for f in item.files if f.filename == name)


def usage(user_id: int) -> int:
    """The bytes the person's quota counts as used, read afresh."""
    db.session.expire_all()
    return db.session.scalar(select(StorageUsage.used_bytes).where(StorageUsage.user_id == user_id)) or 0


# --- logbook ----------------------------------------------------------------------------------------

def entries_sent_for_signoff(learner, days: int = 3):  # type: ignore[no-untyped-def]
    """An internship at Acme (supervisor marc@acme.example) with ``days`` entries of 7 h sent for sign-off,
    committed; returns (internship, entries, link, url). Call it inside a request context."""
    internship = logbook.create_internship(
        learner, organisation="Acme", supervisor_name="Marc Maître", supervisor_email="marc@acme.example",
        start_date=date(2026, 3, 2), end_date=date(2026, 5, 29))
    entries = [logbook.add_entry(internship, actor=learner, day=date(2026, 3, 2 + i), hours="7",
                                 activities="API", competency_codes=()) for i in range(days)]
    link, url = logbook.send_for_signoff(internship, entries, actor=learner)
    db.session.commit()
    return internship, entries, link, url


# --- VAE --------------------------------------------------------------------------------------------

def own_evidence(user, title: str = "Rapport de mission", data: bytes = b"rapport"):  # type: ignore[no-untyped-def]
    """Evidence of a VAE candidate (flushed, not committed)."""
    from portfolio.services.evidence import Upload, create_evidence

    item = create_evidence(user, title=title, kind="document", context="professional", occurred_on=date(2025, 6, 1),
                           uploads=[Upload("rapport.txt", io.BytesIO(data))])
    db.session.flush()
    return item


def block_competencies(code: str = B1) -> list[Competency]:
    dossier_block = db.session.scalar(select(Competency).where(Competency.code.like(f"{code}-%")).limit(1)).block
    return list(dossier_block.competencies)


def complete_block(dossier, evidence, code: str = B1):  # type: ignore[no-untyped-def]
    """Fill the dossier's section of block ``code`` (an experience, every competency claimed with
    ``evidence``) so that it is complete; return the experience."""
    from portfolio.services import vae as service

    candidate = dossier.candidate
    experience = service.create_experience(candidate, actor=candidate, organisation="Acme", job_title="Développeur",
                                           start_date=date(2020, 1, 6), time_basis="full_time")
    service.update_presentation(dossier, "Développeur depuis 2020.", actor=candidate)
    section = service.section_for(dossier, code)
    service.update_section(section, actor=candidate, applied=True, activities="J'ai conçu une API.",
                           context="Équipe de 5.", means="Python, PostgreSQL.", experience_ids=[experience.id])
    for competency in block_competencies(code):
        service.set_claim(dossier, competency, actor=candidate, narrative=f"Récit {competency.code}",
                          evidence_ids=[evidence.id])
    return experience


# --- the next version of a fiche (tests/test_succession.py, tests/browser/test_succession.py) ------------

#: Two fiches hand-made in the France Compétences export's shape: RNCP35340 names RNCP40792 as its successor.
SUCCESSION_PAIR = Path(__file__).parent / "fixtures" / "frameworks" / "succession_rncp35340_rncp40792.xml"
OLD_FICHE, NEW_FICHE = "RNCP35340", "RNCP40792"


def competency(code: str) -> Competency:
    return db.session.scalars(select(Competency).where(Competency.code == code)).one()


def import_succession_pair():  # type: ignore[no-untyped-def]
    """Both fiches imported (committed): ``.old`` and ``.new``."""
    from types import SimpleNamespace

    from portfolio.frameworks.formats import load_framework_file
    from portfolio.services import frameworks

    for data in load_framework_file(SUCCESSION_PAIR):
        frameworks.import_certification(data)
    db.session.commit()
    return SimpleNamespace(old=frameworks.find_certification(OLD_FICHE), new=frameworks.find_certification(NEW_FICHE))


def succession_school(pair, make_user):  # type: ignore[no-untyped-def]
    """A cohort on the old version: Léa with tagged, assessed evidence (one assessment corrected) and a
    validated block (BC02), Sam with a tagged draft, their tutor Tom, an administrator Ada."""
    from types import SimpleNamespace

    from flask import current_app

    from portfolio.models import MemberRole
    from portfolio.services import assessment, cohorts, evidence

    learner = make_user("lea@example.org", "learner", name="Léa Durand")
    other = make_user("sam@example.org", "learner", name="Sam Petit")
    tutor = make_user("tom@example.org", "tutor", name="Tom Martin")
    admin = make_user("ada@example.org", "admin", name="Ada Admin")
    with current_app.test_request_context():  # notifications build their links with url_for
        cohort = cohorts.create_cohort("CDA Lyon 2025", pair.old, 2025, actor=None)
        for person, role in ((learner, MemberRole.LEARNER), (other, MemberRole.LEARNER),
                             (tutor, MemberRole.TUTOR)):
            cohorts.add_member(cohort, person, role, actor=None)
        db.session.commit()

        def piece(owner, title, *shorts):  # type: ignore[no-untyped-def]
            item = evidence.create_evidence(owner, title=title, kind="code", context="project",
                                            occurred_on=date(2025, 3, 1),
                                            uploads=[evidence.Upload("app.py", io.BytesIO(title.encode()))])
            for short in shorts:
                evidence.tag_evidence(item, f"{OLD_FICHE}{short}", f"{title} : je montre {short}.", actor=owner)
            return item

        mockups = piece(learner, "Maquettes Figma", "BC01-C01", "BC01-C02")
        database = piece(learner, "Base de la médiathèque", "BC02-C01", "BC02-C02", "BC02-C03")
        mobile = piece(learner, "Appli mobile", "BC03-C05")
        draft = piece(other, "Brouillon", "BC01-C01")
        for item in (mockups, database, mobile):
            assessment.submit_evidence(item, actor=learner)
        db.session.commit()
        levels = {"BC01-C01": "acquired", "BC01-C02": "in_progress", "BC02-C01": "acquired",
                  "BC02-C02": "acquired", "BC02-C03": "acquired", "BC03-C05": "acquired"}
        for item in (mockups, database, mobile):
            for claim in item.claims:
                short = claim.competency.code.removeprefix(OLD_FICHE)
                assessment.record_assessment(item, claim.competency.code, levels[short], f"Vu sur {item.title}.",
                                             assessor=tutor)
        db.session.commit()
        # Corrected once: the second assessment supersedes the first (the state follows the latest).
        assessment.record_assessment(database, f"{OLD_FICHE}BC02-C02", "in_progress", "À consolider.",
                                     assessor=tutor)
        assessment.record_assessment(database, f"{OLD_FICHE}BC02-C02", "acquired", "Consolidé.", assessor=tutor)
        db.session.commit()
        block = next(b for b in pair.old.blocks if b.code == f"{OLD_FICHE}BC02")
        assessment.validate_block(learner, block, actor=tutor, comment="Persistance maîtrisée.")
        db.session.commit()
    return SimpleNamespace(learner=learner, other=other, tutor=tutor, admin=admin, cohort=cohort,
                           mockups=mockups, database=database, mobile=mobile, draft=draft, block=block)
