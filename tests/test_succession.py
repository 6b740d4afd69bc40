"""The next version of a fiche (portfolio/services/succession.py): suggestions, the mapping, moving cohorts.

The two fiches (tests/fixtures/frameworks/succession_rncp35340_rncp40792.xml) are hand-made in the France
Compétences export's shape: RNCP35340 names RNCP40792 in NOUVELLES_CERTIFICATIONS; some competencies are
reworded, two pairs merge, some are new, two disappear.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.frameworks.formats import load_framework_file
from portfolio.models import (
    Assessment,
    AuditEvent,
    BlockDecision,
    Certification,
    Claim,
    Cohort,
    Competency,
    CompetencyMapping,
    CompetencyState,
    Level,
    MappingKind,
    MemberRole,
)
from portfolio.services import cohorts, frameworks, succession
from portfolio.services.errors import DomainError
from tests.factories import (
    NEW_FICHE,
    OLD_FICHE,
    SUCCESSION_PAIR,
    competency,
    import_succession_pair,
    succession_school,
)

PAIR = SUCCESSION_PAIR
OLD, NEW = OLD_FICHE, NEW_FICHE

#: What a careful reader of the two fiches maps, and the suggestions must find on their own.
EXPECTED = {
    "BC01-C01": "BC02-C01",  # Maquetter une application → Analyser les besoins et maquetter une application
    "BC01-C02": "BC01-C02",  # … interface utilisateur de type desktop → Développer des interfaces utilisateur
    "BC01-C03": "BC02-C04",  # … composants d'accès aux données → … SQL et NoSQL
    "BC01-C04": "BC01-C02",  # front-end of a web interface: merged into « Développer des interfaces utilisateur »
    "BC02-C01": "BC02-C03",  # Concevoir une base de données      } merged: « Concevoir et mettre en place
    "BC02-C02": "BC02-C03",  # Mettre en place une base de données } une base de données relationnelle »
    "BC02-C03": None,        # composants dans le langage d'une base de données: gone
    "BC03-C01": "BC01-C04",  # Collaborer à la gestion d'un projet … → Contribuer à la gestion d'un projet …
    "BC03-C03": "BC01-C03",  # Développer des composants métier (unchanged, moved to another block)
    "BC03-C05": None,        # Développer une application mobile: gone
    "BC03-C06": "BC03-C01",  # Préparer et exécuter les plans de tests (unchanged)
    "BC03-C07": "BC03-C02",  # Préparer et exécuter le déploiement → Préparer et documenter le déploiement
}


comp = competency


def old_code(short: str) -> str:
    return f"{OLD}{short}"


def new_code(short: str) -> str:
    return f"{NEW}{short}"


@pytest.fixture
def req(app):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        yield


@pytest.fixture
def pair(app):  # type: ignore[no-untyped-def]
    return import_succession_pair()


def choices_from_suggestions(pair, **overrides):  # type: ignore[no-untyped-def]
    """The suggestions as the page would post them, with some rows changed (short code → short code)."""
    result = {}
    for comp_id, s in succession.suggest(pair.old, pair.new).items():
        result[comp_id] = [s.target.id if s.target else None]
    for short, target in overrides.items():
        short = short.replace("_", "-")
        result[comp(old_code(short)).id] = [comp(new_code(target)).id if target else None]
    return result


@pytest.fixture
def school(pair, make_user, req):  # type: ignore[no-untyped-def]
    return succession_school(pair, make_user)


def snapshot(learner_ids):  # type: ignore[no-untyped-def]
    """Every tag, assessment, level and block decision of the old version, as plain values."""
    old_ids = select(Competency.id).join(Competency.block).join(Certification).where(Certification.code == OLD)
    return (
        sorted(db.session.execute(select(Claim.id, Claim.evidence_id, Claim.competency_id, Claim.justification)
                                  .where(Claim.competency_id.in_(old_ids))).all()),
        sorted(db.session.execute(select(Assessment.id, Assessment.competency_id, Assessment.level,
                                         Assessment.comment, Assessment.supersedes_id)
                                  .where(Assessment.competency_id.in_(old_ids))).all()),
        sorted(db.session.execute(select(CompetencyState.learner_id, CompetencyState.competency_id,
                                         CompetencyState.level, CompetencyState.assessment_id)
                                  .where(CompetencyState.competency_id.in_(old_ids))).all()),
        sorted(db.session.execute(select(BlockDecision.id, BlockDecision.block_id, BlockDecision.kind)).all()),
    )


# --- the fiches and the suggestions ---------------------------------------------------------------------

def test_the_import_records_the_successor_named_by_the_old_fiche(pair):
    links = {(link.kind, link.other_code) for link in pair.old.links}
    assert ("successor", NEW) in links and ("predecessor", "RNCP31678") in links
    assert ("predecessor", OLD) in {(link.kind, link.other_code) for link in pair.new.links}
    assert (pair.old.is_active, pair.new.is_active) == (False, True)
    listed = succession.known_pairs()
    assert [(p.old.code, p.new.code, p.declared) for p in listed] == [(OLD, NEW, True)]


def test_suggestions_map_reworded_and_merged_competencies_and_drop_the_vanished(pair):
    suggestions = {s.old.code.removeprefix(OLD): s for s in succession.suggest(pair.old, pair.new).values()}
    got = {short: (s.target.code.removeprefix(NEW) if s.target else None) for short, s in suggestions.items()}
    wrong = {k: (got[k], v) for k, v in EXPECTED.items() if got[k] != v}
    assert not wrong, wrong
    # Unchanged statements score 100; a vanished one is below the threshold, and its score says so.
    assert suggestions["BC03-C03"].score == 100 == suggestions["BC03-C06"].score
    assert suggestions["BC03-C05"].score < succession.SUGGESTION_THRESHOLD
    # Distinctive words decide between two « Préparer et exécuter … d'une application ».
    assert suggestions["BC03-C07"].target.code == new_code("BC03-C02")


def test_the_page_data_is_the_suggestions_until_a_mapping_is_saved_and_nothing_is_written(pair):
    before = db.session.scalar(select(func.count()).select_from(CompetencyMapping))
    view = succession.mapping_view(pair.old, pair.new)
    assert view.mapping is None and len(view.rows) == 15
    assert all(row.kind == MappingKind.SUGGESTED for row in view.rows)
    assert db.session.scalar(select(func.count()).select_from(CompetencyMapping)) == before == 0


def test_saving_marks_what_the_administrator_changed_and_replaces_the_previous_save(pair, make_user):
    admin = make_user("ada@example.org", "admin")
    choices = choices_from_suggestions(pair, BC03_C04="BC02-C02")  # by hand: couches → architecture logicielle
    comp_id = comp(old_code("BC03-C04")).id
    choices[comp(old_code("BC01-C05")).id] = [comp(new_code("BC01-C02")).id, comp(new_code("BC01-C03")).id]  # split
    mapping = succession.save_mapping(pair.old, pair.new, choices, actor=admin)
    db.session.commit()
    kinds = {e.old_competency.code.removeprefix(OLD): e.kind for e in mapping.entries}
    assert kinds["BC03-C04"] == MappingKind.MANUAL and kinds["BC01-C05"] == MappingKind.MANUAL
    assert kinds["BC01-C01"] == MappingKind.SUGGESTED
    assert len(mapping.entries) == 16 and mapping.saved_by_id == admin.id
    # Saving again replaces the entries: one mapping per pair, no duplicate entries.
    choices[comp_id] = [None]
    mapping = succession.save_mapping(pair.old, pair.new, choices, actor=admin)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CompetencyMapping)) == 1
    entry = next(e for e in mapping.entries if e.old_competency_id == comp_id)
    assert entry.new_competency_id is None and entry.kind == MappingKind.SUGGESTED
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "certification.mapping_save")) == 2


def test_saving_refuses_unknown_or_missing_competencies_in_french(pair, make_user):
    admin = make_user("ada@example.org", "admin")
    choices = choices_from_suggestions(pair)
    rncp28754 = frameworks.find_certification("RNCP28754")
    foreign = rncp28754.blocks[0].competencies[0]
    bad = dict(choices)
    bad[next(iter(bad))] = [foreign.id]
    with pytest.raises(DomainError, match="Compétence inconnue dans la nouvelle version RNCP40792"):
        succession.save_mapping(pair.old, pair.new, bad, actor=admin)
    missing = dict(choices)
    del missing[comp(old_code("BC02-C03")).id]
    with pytest.raises(DomainError, match=r"Choisissez une correspondance .* pour RNCP35340BC02-C03\."):
        succession.save_mapping(pair.old, pair.new, missing, actor=admin)
    with pytest.raises(DomainError, match="ne peut pas succéder à elle-même"):
        succession.save_mapping(pair.old, pair.old, {}, actor=admin)


# --- moving cohorts ---------------------------------------------------------------------------------------

def test_apply_moves_cohorts_tags_and_levels_with_their_trace_and_leaves_the_old_records(school, pair):
    before = snapshot([school.learner.id])
    choices = choices_from_suggestions(pair, BC03_C04="BC02-C02")
    mapping = succession.save_mapping(pair.old, pair.new, choices, actor=school.admin)
    result = succession.apply_mapping(mapping, actor=school.admin)
    db.session.commit()
    assert result.cohorts == ["CDA Lyon 2025"] and result.learners == 2
    db.session.expire_all()
    assert db.session.get(Cohort, school.cohort.id).certification_id == pair.new.id
    assert cohorts.learner_certification(school.learner).code == NEW

    # Tags: copied to the mapped competencies, with the old tag as their origin; merges give one tag.
    new_tags = {(c.evidence_id, c.competency.code.removeprefix(NEW)): c for c in db.session.scalars(
        select(Claim).join(Claim.competency).where(Competency.code.startswith(NEW)))}
    assert set(new_tags) == {
        (school.mockups.id, "BC02-C01"), (school.mockups.id, "BC01-C02"),
        (school.database.id, "BC02-C03"),  # BC02-C01 and BC02-C02 merged; BC02-C03 vanished
        (school.draft.id, "BC02-C01"),     # the other learner's draft follows too
    }
    tag = new_tags[(school.mockups.id, "BC02-C01")]
    assert tag.migrated_from.competency.code == old_code("BC01-C01")
    assert tag.justification == tag.migrated_from.justification
    assert result.tags == 4

    # Levels: a new assessment repeats the old one (assessor, evidence, comment) and names it.
    states = {s.competency_id: s for s in db.session.scalars(
        select(CompetencyState).where(CompetencyState.learner_id == school.learner.id))}
    carried = states[comp(new_code("BC02-C01")).id]
    assert carried.level == Level.ACQUIRED
    origin = carried.assessment.migrated_from
    assert origin.competency.code == old_code("BC01-C01") and origin.level == Level.ACQUIRED
    assert (carried.assessment.assessor_id, carried.assessment.evidence_id, carried.assessment.comment) == (
        school.tutor.id, school.mockups.id, "Vu sur Maquettes Figma.")
    # Two acquired competencies merged: acquired, from the latest of the two (the corrected BC02-C02).
    merged = states[comp(new_code("BC02-C03")).id]
    assert merged.level == Level.ACQUIRED and merged.assessment.migrated_from.comment == "Consolidé."
    assert states[comp(new_code("BC01-C02")).id].level == Level.IN_PROGRESS
    assert result.levels == 3  # BC03-C05 (mobile) vanished: its level stays on the old competency only

    # Records made under the old version are unchanged, and its validated block is still readable as such.
    assert snapshot([school.learner.id]) == before
    earlier = succession.earlier_validations(school.learner, pair.new)
    assert [(d.block.code, d.comment) for d in earlier] == [(f"{OLD}BC02", "Persistance maîtrisée.")]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "certification.succession_apply")).one()
    assert event.data["cohorts"] == ["CDA Lyon 2025"] and event.data["tags"] == 4


def test_apply_is_idempotent_and_never_overwrites_a_level_of_the_new_version(school, pair):
    mapping = succession.save_mapping(pair.old, pair.new, choices_from_suggestions(pair), actor=school.admin)
    first = succession.apply_mapping(mapping, actor=school.admin)
    db.session.commit()
    counts = [db.session.scalar(select(func.count()).select_from(m)) for m in (Claim, Assessment, CompetencyState)]
    again = succession.apply_mapping(mapping, actor=school.admin)
    db.session.commit()
    assert not first.nothing_to_do and again.nothing_to_do and again.cohorts == []
    assert [db.session.scalar(select(func.count()).select_from(m)) for m in (Claim, Assessment, CompetencyState)] \
        == counts

    # A cohort put on the old version later is moved by the next run; what exists is not copied twice
    # and a level already recorded on the new version is kept.
    late = cohorts.create_cohort("CDA Lyon 2025 bis", pair.old, 2025, actor=None)
    cohorts.add_member(late, school.learner, MemberRole.LEARNER, actor=None)
    db.session.commit()
    third = succession.apply_mapping(mapping, actor=school.admin)
    db.session.commit()
    assert third.cohorts == ["CDA Lyon 2025 bis"] and third.tags == 0 and third.levels == 0
    assert third.levels_kept == 3


def test_apply_refuses_a_mapping_that_does_not_cover_a_competency_added_since(school, pair):
    mapping = succession.save_mapping(pair.old, pair.new, choices_from_suggestions(pair), actor=school.admin)
    db.session.commit()
    data = next(d for d in load_framework_file(PAIR) if d.code == OLD)
    data.blocks[0].competencies.append(type(data.blocks[0].competencies[0])(
        code=f"{OLD}BC01-C06", statement="Sécuriser une interface utilisateur"))
    frameworks.import_certification(data)
    db.session.commit()
    with pytest.raises(DomainError, match="ne dit rien de RNCP35340BC01-C06"):
        succession.apply_mapping(mapping, actor=school.admin)


# --- command line -----------------------------------------------------------------------------------------

def test_cli_suggests_saves_then_applies(school, pair, runner):
    result = runner.invoke(args=["frameworks", "successor", OLD, NEW, "--apply"])
    assert result.exit_code == 1 and "Aucune correspondance enregistrée" in result.output
    result = runner.invoke(args=["frameworks", "successor", OLD, NEW, "--suggest"])
    assert result.exit_code == 0, result.output
    assert "RNCP35340BC01-C01 → RNCP40792BC02-C01" in result.output
    assert "RNCP35340BC03-C05 → aucune correspondance" in result.output
    assert db.session.scalar(select(func.count()).select_from(CompetencyMapping)) == 1
    result = runner.invoke(args=["frameworks", "successor", OLD, NEW, "--apply"])
    assert result.exit_code == 0, result.output
    assert "1 promotion" in result.output and "CDA Lyon 2025" in result.output
    db.session.expire_all()
    assert db.session.get(Cohort, school.cohort.id).certification_id == pair.new.id
    result = runner.invoke(args=["frameworks", "successor", OLD, NEW, "--apply"])
    assert result.exit_code == 0 and "Rien à migrer" in result.output
    result = runner.invoke(args=["frameworks", "successor", OLD, "RNCP99999", "--suggest"])
    assert result.exit_code == 1 and "Certification inconnue : RNCP99999" in result.output



# --- the administration pages -------------------------------------------------------------------------------

def page_text(response) -> str:  # type: ignore[no-untyped-def]
    import html

    return html.unescape(response.get_data(as_text=True))


def _page_choices(html: str) -> dict[str, str]:
    """The selected option of every select of the mapping page (name → value)."""
    import re

    chosen = {}
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', body)
        chosen[name] = selected.group(1) if selected else ""
    return chosen


def test_admin_reviews_edits_saves_then_migrates_through_the_pages(school, pair, login, client):
    login(school.admin)
    listing = client.get("/admin/successions/")
    assert listing.status_code == 200 and "RNCP40792" in page_text(listing)
    url = f"/admin/successions/{pair.old.id}/{pair.new.id}"
    page = client.get(url)
    html = page_text(page)
    assert page.status_code == 200 and "suggestions non enregistrées" in html
    assert "aucune correspondance" in html and 'id="migrate-form"' not in html
    form = _page_choices(html)
    assert form[f"target-{comp(old_code('BC01-C01')).id}"] == str(comp(new_code("BC02-C01")).id)
    assert form[f"target-{comp(old_code('BC03-C05')).id}"] == "none"
    # By hand: « Construire une application organisée en couches » → « Définir l'architecture logicielle ».
    form[f"target-{comp(old_code('BC03-C04')).id}"] = str(comp(new_code("BC02-C02")).id)
    saved = client.post(url, data=form)
    assert saved.status_code == 302
    html = page_text(client.get(url))
    assert "Correspondance enregistrée." in html and 'id="migrate-form"' in html
    assert 'id="row-RNCP35340BC03-C04" data-kind="manual"' in html

    # Not confirmed: refused with a French message, nothing moved.
    refused = client.post(f"{url}/migrate", data={})
    assert refused.status_code == 422
    assert "Cochez la case de confirmation pour migrer les promotions." in page_text(refused)
    assert db.session.get(Cohort, school.cohort.id).certification_id == pair.old.id
    done = client.post(f"{url}/migrate", data={"confirm": "y"}, follow_redirects=True)
    text = page_text(done)
    assert "1 promotion est passée à RNCP40792." in text and "4 rattachements recopiés" in text
    db.session.expire_all()
    assert db.session.get(Cohort, school.cohort.id).certification_id == pair.new.id
    again = client.post(f"{url}/migrate", data={"confirm": "y"}, follow_redirects=True)
    assert "Rien à migrer : aucune promotion n'est plus sur RNCP35340." in page_text(again)

    # The evidence page lists both tags, the copy naming the one it came from.
    detail = page_text(client.get(f"/evidence/{school.mockups.id}"))
    assert "RNCP35340BC01-C01" in detail and "RNCP40792BC02-C01" in detail
    assert "reprise de RNCP35340BC01-C01 (version précédente de la fiche)" in detail

    # The learner's progress shows the new version, the carried level with its origin, the old validation.
    client.post("/logout")
    login(school.learner)
    progress = page_text(client.get(f"/learners/{school.learner.id}/progress?all=1"))
    assert "Ma progression" in progress and "RNCP40792 — Concepteur développeur d'applications" in progress
    assert "reprise de RNCP35340BC01-C01 (version précédente de la fiche)" in progress
    assert "Blocs validés sous une version précédente de la fiche" in progress
    assert "RNCP35340BC02" in progress and "Persistance maîtrisée." in progress


def test_mapping_page_refusals_are_french_and_change_nothing(school, pair, login, client):
    login(school.admin)
    url = f"/admin/successions/{pair.old.id}/{pair.new.id}"
    form = _page_choices(page_text(client.get(url)))
    missing = {k: v for k, v in form.items() if k != f"target-{comp(old_code('BC02-C03')).id}"}
    response = client.post(url, data=missing)
    assert response.status_code == 422
    assert "pour RNCP35340BC02-C03." in page_text(response)
    unreadable = dict(form)
    unreadable[f"target-{comp(old_code('BC01-C01')).id}"] = "x1"
    response = client.post(url, data=unreadable)
    assert response.status_code == 422 and "Choix illisible pour RNCP35340BC01-C01." in page_text(response)
    response = client.post(f"{url}/migrate", data={"confirm": "y"})
    assert response.status_code == 409
    assert "Aucune correspondance enregistrée de RNCP35340 vers RNCP40792" in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(CompetencyMapping)) == 0
    assert client.get(f"/admin/successions/{pair.old.id}/{pair.old.id}").status_code == 404
    same = client.get(f"/admin/successions/?old={pair.old.id}&new={pair.old.id}")
    assert same.status_code == 422 and "Choisissez deux versions différentes" in page_text(same)
    # Not for tutors or learners.
    client.post("/logout")
    login(school.tutor)
    assert client.get(url).status_code == 403
    assert client.post(f"{url}/migrate", data={"confirm": "y"}).status_code == 403
