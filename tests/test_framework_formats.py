"""Certification frameworks as data: the shipped RNCP 28754 file and the readers of the formats package."""

from __future__ import annotations

import copy
import io
import json
import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from portfolio.frameworks import formats
from portfolio.frameworks.formats import (
    BlockData,
    CertificationData,
    FrameworkFormatError,
    builtin_path,
    clean_text,
    iter_france_competences,
    load_framework_file,
    parse_portfolio_json,
    split_competencies,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "frameworks"
SAMPLE = FIXTURES / "france_competences_sample.xml"
FICHE_28754 = REPO.parent / "shared" / "reference" / "rncp-28754-fiche.md"

TITLES_28754 = {
    "RNCP28754BC01": "Développement des applications",
    "RNCP28754BC02": "Déploiement sur site et formation des utilisateurs",
    "RNCP28754BC03": "Analyse et formalisation des besoins du client",
    "RNCP28754BC04": (
        "Maintien, correction et évolution des applications en fonction des retours des usagers/client"
    ),
    "RNCP28754BC05": "Conception et modélisation des applications informatiques",
}
COUNTS_28754 = {
    "RNCP28754BC01": 7,
    "RNCP28754BC02": 3,
    "RNCP28754BC03": 5,
    "RNCP28754BC04": 2,
    "RNCP28754BC05": 4,
}


def squash(text: str) -> str:
    """Collapse whitespace runs, to compare text "verbatim modulo whitespace"."""
    return " ".join(text.split())


def block(cert: CertificationData, code: str) -> BlockData:
    """The block ``code`` of ``cert``."""
    return next(b for b in cert.blocks if b.code == code)


def statements(blk: BlockData) -> list[str]:
    """The statements of a block, in order."""
    return [c.statement for c in blk.competencies]


@pytest.fixture(scope="module")
def rncp28754() -> CertificationData:
    """The shipped RNCP 28754 framework, loaded through the public entry point."""
    path = builtin_path("RNCP28754")
    assert path is not None
    (cert,) = load_framework_file(path)
    return cert


@pytest.fixture(scope="module")
def sample() -> dict[str, CertificationData]:
    """The multi-fiche France Compétences fixture, by fiche code."""
    return {c.code: c for c in iter_france_competences(SAMPLE)}


def fiche_descriptifs() -> dict[str, str]:
    """Raw "Descriptif" HTML of each block of the official 28754 fiche, by block code."""
    text = FICHE_28754.read_text(encoding="utf-8")
    rows = re.findall(r"<p>Bloc de compétence n°(\d) de la fiche n° 28754 - .*?</p>\t(.*)", text)
    return {
        f"RNCP28754BC0{number}": re.search(r"<b>Descriptif ?:</b>(.*?)<p><b>Modalités", body, re.S).group(1)
        for number, body in rows
    }


# --------------------------------------------------------------------------------------------
# The shipped RNCP 28754 framework
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["RNCP28754", "rncp28754", "28754", " RNCP 28754 "])
def test_builtin_path_accepts_code_variants(code: str) -> None:
    assert builtin_path(code) == REPO / "portfolio" / "frameworks" / "RNCP28754.json"


@pytest.mark.parametrize(
    "code", ["RNCP99999", "", "../RNCP28754", "RNCP28754/../RNCP28754", "formats", "RNCP28754.json"]
)
def test_builtin_path_refuses_unknown_or_unsafe_codes(code: str) -> None:
    assert builtin_path(code) is None


def test_28754_certification_fields(rncp28754: CertificationData) -> None:
    assert rncp28754.code == "RNCP28754"
    assert rncp28754.registration == "2018-08-05"
    assert rncp28754.registered_until == "2021-12-27"
    assert rncp28754.title == "Technicien(ne) développeur(euse)"
    assert rncp28754.level == "5"
    assert rncp28754.authority == "Conservatoire national des arts et métiers (CNAM)"
    assert rncp28754.predecessors == ["Analyste programmeur"]
    assert rncp28754.successors == []
    assert rncp28754.source == "portfolio"
    assert rncp28754.is_active is True


def test_28754_blocks_titles_and_competency_codes(rncp28754: CertificationData) -> None:
    assert {b.code: b.title for b in rncp28754.blocks} == TITLES_28754
    assert [b.code for b in rncp28754.blocks] == sorted(TITLES_28754)
    assert {b.code: len(b.competencies) for b in rncp28754.blocks} == COUNTS_28754
    for blk in rncp28754.blocks:
        assert [c.code for c in blk.competencies] == [
            f"{blk.code}-C{n:02d}" for n in range(1, COUNTS_28754[blk.code] + 1)
        ]
        assert not any(c.needs_review for c in blk.competencies)


def test_28754_statements_exact_samples(rncp28754: CertificationData) -> None:
    bc03 = statements(block(rncp28754, "RNCP28754BC03"))
    # The fiche keeps these two sentences in one item ("ces services" refers to the first one).
    assert bc03[1] == (
        "Exprimer les besoins identifiés dans le cahier des charges en termes de services attendus par "
        "le client. Rechercher, ordonner, caractériser, hiérarchiser ces services afin de structurer "
        "l'application à développer."
    )
    assert statements(block(rncp28754, "RNCP28754BC04")) == [
        "Identifier, diagnostiquer la nature et l'origine des anomalies à l'aide de tests et mettre en œuvre "
        "les mesures correctives en programmant des codes correctifs.",
        "Intégrer et tester afin de corriger les éventuels bugs liés au correctif et son intégration dans "
        "l'application existante.",
    ]
    assert statements(block(rncp28754, "RNCP28754BC01"))[3] == (
        "Créer les interfaces utilisateurs à l'aide des langages associés (HTML, JavaScript...)."
    )
    # Verbatim, typos included: the fiche is the reference.
    assert "à partir d' outils" in statements(block(rncp28754, "RNCP28754BC02"))[2]


def test_28754_descriptions_and_assessment_methods(rncp28754: CertificationData) -> None:
    for blk in rncp28754.blocks:
        assert blk.description.split("\n") == statements(blk)
    bc01 = block(rncp28754, "RNCP28754BC01").assessment_methods.split("\n")
    assert bc01[0] == (
        "Etudes de cas : lors de travaux pratiques d'une durée de deux à trois heures "
        "en centre de formation :"
    )
    assert [line for line in bc01 if line.startswith("- ")][-1] == "- Ecriture de requêtes SQL."
    assert len([line for line in bc01 if line.startswith("- ")]) == 5
    assert bc01[-1].startswith(
        "Stage : dans le cadre du stage en entreprise, d'une durée moyenne de trois mois"
    )
    assert block(rncp28754, "RNCP28754BC04").assessment_methods.endswith("des résultats constatés")


def test_28754_file_is_clean_utf8() -> None:
    raw = (REPO / "portfolio" / "frameworks" / "RNCP28754.json").read_bytes()
    assert "œuvre".encode() in raw
    document = json.loads(raw.decode("utf-8"))
    assert document["format"] == "portfolio-framework/1"
    texts = [document["title"]]
    for blk in document["blocks"]:
        texts += [blk["title"], blk["description"], blk["assessment_methods"]]
        texts += [c["statement"] for c in blk["competencies"]]
    for text in texts:
        assert "<" not in text and "&" not in text and "  " not in text and text == text.strip()
    assert not any(b["title"].endswith(".") for b in document["blocks"])


@pytest.mark.skipif(not FICHE_28754.exists(), reason="official fiche not available next to the repository")
def test_28754_statements_are_verbatim_from_the_fiche(rncp28754: CertificationData) -> None:
    fiche = squash(FICHE_28754.read_text(encoding="utf-8"))
    for blk in rncp28754.blocks:
        assert f"Bloc de compétence n°{blk.code[-1]} de la fiche n° 28754 - {blk.title}" in fiche
        for competency in blk.competencies:
            assert squash(competency.statement) in fiche, competency.code
    # And the importer's splitter reads the fiche's Descriptif the same way the data file does.
    for code, descriptif in fiche_descriptifs().items():
        assert split_competencies(descriptif) == (statements(block(rncp28754, code)), True)


# --------------------------------------------------------------------------------------------
# Our JSON format: strict validation
# --------------------------------------------------------------------------------------------


def minimal_document() -> dict[str, Any]:
    """A small valid portfolio-framework/1 document."""
    return {
        "format": "portfolio-framework/1",
        "code": "RNCP12345",
        "registration": "2020-01-01",
        "title": "Titre d'essai",
        "blocks": [
            {
                "code": "RNCP12345BC01",
                "title": "Bloc un",
                "description": "",
                "assessment_methods": "",
                "competencies": [
                    {"code": "RNCP12345BC01-C01", "statement": "Faire une chose."},
                    {"code": "RNCP12345BC01-C02", "statement": "En faire une autre.", "needs_review": True},
                ],
            }
        ],
    }


def parse_document(document: Any) -> CertificationData:
    """Serialise ``document`` and parse it back, as from an uploaded file."""
    return parse_portfolio_json(io.BytesIO(json.dumps(document).encode()))


def test_minimal_document_defaults() -> None:
    cert = parse_document(minimal_document())
    assert (cert.level, cert.authority, cert.registered_until) == (None, None, None)
    assert (cert.is_active, cert.predecessors, cert.successors, cert.source) == (True, [], [], "portfolio")
    assert [(c.code, c.needs_review) for c in cert.blocks[0].competencies] == [
        ("RNCP12345BC01-C01", False),
        ("RNCP12345BC01-C02", True),
    ]


def test_text_stream_is_accepted() -> None:
    cert = parse_portfolio_json(io.StringIO(json.dumps(minimal_document(), ensure_ascii=False)))
    assert cert.title == "Titre d'essai"


def _set(path: str, value: Any):
    """Return a mutation setting ``path`` (dotted, with list indexes) to ``value``; _DELETE removes it."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()
_BLOCK = "blocks.0"
_COMP = "blocks.0.competencies.0"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("format", "portfolio-framework/2"), "Format de référentiel inconnu « portfolio-framework/2 »"),
        (_set("format", _DELETE), "Format de référentiel inconnu"),
        (_set("title", _DELETE), "Référentiel invalide : champ « title » manquant"),
        (_set("title", "   "), "« title » est vide"),
        (_set("title", 12), "« title » doit être un texte"),
        (_set("code", "28754"), "code de certification « 28754 » invalide"),
        (_set("registration", "05/08/2018"), "« registration » doit être une date AAAA-MM-JJ"),
        (_set("registration", "2018-02-30"), "« registration » doit être une date AAAA-MM-JJ"),
        (_set("registered_until", "bientôt"), "« registered_until » doit être une date"),
        (_set("level", "9"), "« level » doit être un niveau européen de 1 à 8"),
        (_set("is_active", "oui"), "« is_active » doit valoir true ou false"),
        (_set("predecessors", "Analyste programmeur"), "« predecessors » doit être une liste"),
        (_set("successors", [""]), "« successors » doit être une liste de textes non vides"),
        (_set("version", 2), "champ « version » inconnu"),
        (_set("blocks", []), "« blocks » doit être une liste non vide"),
        (_set(_BLOCK, "RNCP12345BC01"), "(bloc 1) : un objet JSON est attendu"),
        (_set(f"{_BLOCK}.code", "RNCP99999BC01"), "code de bloc « RNCP99999BC01 » invalide"),
        (_set(f"{_BLOCK}.code", "RNCP12345BC1"), "code de bloc « RNCP12345BC1 » invalide"),
        (_set(f"{_BLOCK}.assessment_methods", _DELETE), "(bloc 1) : champ « assessment_methods » manquant"),
        (_set(f"{_BLOCK}.competences", []), "champ « competences » inconnu"),
        (
            _set(f"{_BLOCK}.competencies", []),
            "(RNCP12345BC01) : « competencies » doit être une liste non vide",
        ),
        (_set(f"{_COMP}.code", "RNCP12345BC02-C01"), "code de compétence « RNCP12345BC02-C01 » invalide"),
        (_set(f"{_COMP}.code", "RNCP12345BC01-C02"), "code « RNCP12345BC01-C02 » en double"),
        (_set(f"{_COMP}.statement", " \n "), "(RNCP12345BC01, compétence 1) : « statement » est vide"),
        (_set(f"{_COMP}.statement", None), "« statement » doit être un texte"),
        (_set(f"{_COMP}.needs_review", 1), "« needs_review » doit valoir true ou false"),
    ],
)
def test_invalid_documents_are_refused(mutate: Any, message: str) -> None:
    document = copy.deepcopy(minimal_document())
    mutate(document)
    with pytest.raises(FrameworkFormatError) as caught:
        parse_document(document)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_duplicate_block_codes_are_refused() -> None:
    document = minimal_document()
    twin = copy.deepcopy(document["blocks"][0])
    twin["competencies"] = [{"code": "RNCP12345BC01-C09", "statement": "Autre."}]
    document["blocks"].append(twin)
    with pytest.raises(FrameworkFormatError, match="code « RNCP12345BC01 » en double"):
        parse_document(document)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"format": "portfolio-framework/1",\n "code": }', "Fichier JSON mal formé (ligne 2) : "),
        (b'{"format": "portfolio-framework/1", "format": "x"}', "clé « format » en double"),
        (b"[1, 2]", "Format de référentiel inconnu"),
        ('{"title": "Intitulé"}'.encode("latin-1"), "Fichier JSON illisible : il doit être encodé en UTF-8"),
    ],
)
def test_unreadable_json_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(FrameworkFormatError) as caught:
        parse_portfolio_json(io.BytesIO(raw))
    assert message in str(caught.value)


def test_oversized_json_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats.portfolio_json, "MAX_JSON_BYTES", 100)
    with pytest.raises(FrameworkFormatError, match="dépasse"):
        parse_document(minimal_document())


# --------------------------------------------------------------------------------------------
# load_framework_file: sniffing
# --------------------------------------------------------------------------------------------


def test_load_sniffs_json_with_bom_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "referentiel.xml"  # the name lies; the content decides
    path.write_bytes(b"\xef\xbb\xbf\n  " + json.dumps(minimal_document()).encode())
    (cert,) = load_framework_file(path)
    assert cert.code == "RNCP12345"


def test_load_reads_xml_and_zip_alike(tmp_path: Path, sample: dict[str, CertificationData]) -> None:
    archive = tmp_path / "export-fiches-rncp-v4-1.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(SAMPLE, "export_fiches_RNCP_V4_1.xml")
        zf.writestr("LISEZMOI.txt", "Export de test")  # other members are ignored
    from_xml = load_framework_file(SAMPLE)
    assert from_xml == load_framework_file(archive) == list(sample.values())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"%PDF-1.7\n", "Format de référentiel inconnu : ni JSON, ni XML, ni ZIP"),
        (b"", "Format de référentiel inconnu"),
        (b"<?xml version='1.0'?><FICHES></FICHES>", "Aucune fiche de certification trouvée dans le fichier"),
        (b"<html><body>Bonjour</body></html>", "élément racine « html » au lieu de « FICHES »"),
    ],
)
def test_load_refuses_unknown_content(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    with pytest.raises(FrameworkFormatError, match=re.escape(message)):
        load_framework_file(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FrameworkFormatError, match="Fichier illisible"):
        load_framework_file(tmp_path / "absent.json")


# --------------------------------------------------------------------------------------------
# France Compétences export
# --------------------------------------------------------------------------------------------


def test_sample_fiches_in_file_order(sample: dict[str, CertificationData]) -> None:
    assert list(sample) == ["RNCP31114", "RNCP35340", "RNCP36000", "RNCP37999"]
    assert all(c.source == "france_competences" for c in sample.values())


def test_inactive_fiche_with_successor(sample: dict[str, CertificationData]) -> None:
    cert = sample["RNCP31114"]
    assert cert.is_active is False
    assert (cert.registration, cert.registered_until) == ("2018-02-02", "2023-02-01")
    assert (cert.title, cert.level) == ("Développeur web et web mobile", "5")
    assert cert.authority == "MINISTERE DU TRAVAIL DU PLEIN EMPLOI ET DE L'INSERTION"
    assert (cert.predecessors, cert.successors) == ([], ["RNCP35340"])
    assert [b.code for b in cert.blocks] == ["RNCP31114BC01", "RNCP31114BC02"]  # "rncp31114 bc02" normalised
    bc01 = block(cert, "RNCP31114BC01")
    # Trailing dot of the LIBELLE dropped; dash bullets and trailing ";" stripped.
    assert bc01.title == (
        "Développer la partie front-end d'une application web ou web mobile en intégrant les "
        "recommandations de sécurité"
    )
    assert statements(bc01) == [
        "Maquetter une application",
        "Réaliser une interface utilisateur web statique et adaptable",
        "Développer une interface utilisateur web dynamique",
        "Réaliser une interface utilisateur avec une solution de gestion de contenu ou e-commerce",
    ]
    assert [c.code for c in bc01.competencies] == [f"RNCP31114BC01-C0{n}" for n in range(1, 5)]
    bc02 = block(cert, "RNCP31114BC02")
    assert statements(bc02) == [
        "Créer une base de données",
        "Développer les composants d'accès aux données",
        "Développer la partie back-end d'une application web ou web mobile en respectant les bonnes "
        "pratiques de sécurité",  # the wrapped line is joined back
        "Élaborer et mettre en œuvre des composants dans une application de gestion de contenu",
    ]
    assert (
        bc02.assessment_methods
        == "Projet réalisé en amont de la session :\n- dossier professionnel ;\n- présentation orale."
    )


def test_active_fiche_with_predecessors_and_html_lists(sample: dict[str, CertificationData]) -> None:
    cert = sample["RNCP35340"]
    assert cert.is_active is True
    assert (cert.registration, cert.registered_until, cert.level) == ("2021-03-01", "2026-03-01", "6")
    assert (cert.predecessors, cert.successors) == (["RNCP31114", "RNCP26583"], [])
    bc01 = block(cert, "RNCP35340BC01")
    assert statements(bc01) == [
        "Maquetter une application",
        "Développer une interface utilisateur de type desktop",
        "Développer des composants d'accès aux données",
        "Développer la partie front-end d’une interface utilisateur web",
    ]
    assert bc01.description.startswith("Compétences :\n• Maquetter une application\n")
    assert bc01.assessment_methods == "Mise en situation professionnelle\nEntretien final"
    assert statements(block(cert, "RNCP35340BC02")) == [
        "Concevoir une base de données",
        "Mettre en place une base de données",
        "Développer des composants dans le langage d'une base de données",
    ]
    assert not any(c.needs_review for b in cert.blocks for c in b.competencies)


def test_varied_bullets_and_unsplittable_list(sample: dict[str, CertificationData]) -> None:
    cert = sample["RNCP36000"]
    assert cert.authority == "ECOLE DES METIERS DE LA PAIE ; INSTITUT SUPERIEUR DES RESSOURCES HUMAINES"
    assert (cert.registration, cert.registered_until) == ("2021-12-15", None)
    assert statements(block(cert, "RNCP36000BC01")) == [
        "Analyser et assurer la gestion des informations liées aux relations de travail",
        "Collecter les informations et traiter les événements liés au temps de travail du personnel",
        "Réaliser une veille juridique et réglementaire",
        "Informer les salariés sur leurs droits",
    ]
    assert statements(block(cert, "RNCP36000BC02")) == [
        "Réaliser et contrôler les bulletins de salaire",
        "Établir et contrôler les données de synthèse à partir de la production des bulletins de salaire",
        "Restituer les données de synthèse aux interlocuteurs internes et externes",
    ]
    assert (
        block(cert, "RNCP36000BC02").assessment_methods == "Dossier professionnel.\nEntretien avec le jury."
    )
    bc03 = block(cert, "RNCP36000BC03")
    (only_one,) = bc03.competencies
    assert only_one.code == "RNCP36000BC03-C01"
    assert only_one.needs_review is True
    assert only_one.statement == bc03.description
    assert only_one.statement.startswith("Le gestionnaire de paie accompagne la direction")
    assert only_one.statement.endswith("tableaux de bord lisibles par des non-spécialistes")
    assert bc03.assessment_methods == ""
    # HTML escaped twice (&amp;lt;li&amp;gt;), and an inclusive-writing "·" that is no bullet.
    assert statements(block(cert, "RNCP36000BC04")) == [
        "Accueillir l'apprenant·e et l'accompagner dans son parcours",
        "Répondre aux questions des salariés sur leur bulletin",
    ]


def test_minimal_fiche_tolerates_missing_and_unknown_elements(sample: dict[str, CertificationData]) -> None:
    cert = sample["RNCP37999"]
    assert (cert.code, cert.title, cert.blocks) == ("RNCP37999", "Certification sans blocs", [])
    assert (cert.registration, cert.level, cert.authority, cert.registered_until) == (
        "unknown",
        None,
        None,
        None,
    )
    assert cert.is_active is True  # no ACTIF and no end date


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ({"35340"}, ["RNCP35340"]),
        ({"RNCP35340"}, ["RNCP35340"]),
        ("35340", ["RNCP35340"]),
        ({"rncp 31114", "RNCP37999"}, ["RNCP31114", "RNCP37999"]),
        ({"RNCP00000"}, []),
        (set(), []),
        (None, ["RNCP31114", "RNCP35340", "RNCP36000", "RNCP37999"]),
    ],
)
def test_only_filters_by_fiche_number(only: Any, expected: list[str]) -> None:
    assert [c.code for c in iter_france_competences(SAMPLE, only=only)] == expected


def test_binary_file_objects_are_accepted(tmp_path: Path) -> None:
    with SAMPLE.open("rb") as fp:
        assert [c.code for c in iter_france_competences(fp, only={"36000"})] == ["RNCP36000"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(SAMPLE, "fiches.xml")
    buffer.seek(0)
    assert [c.code for c in iter_france_competences(buffer, only={"36000"})] == ["RNCP36000"]


def test_iteration_stops_once_wanted_fiches_are_found(tmp_path: Path) -> None:
    path = tmp_path / "truncated.xml"
    path.write_text(
        "<FICHES><FICHE><NUMERO_FICHE>RNCP1</NUMERO_FICHE><INTITULE>Un</INTITULE></FICHE>\n<FICHE><oops></FICHES>",
        encoding="utf-8",
    )
    assert [c.code for c in iter_france_competences(path, only={"RNCP1"})] == ["RNCP1"]
    with pytest.raises(FrameworkFormatError, match=r"Fichier XML mal formé \(ligne 2, "):
        list(iter_france_competences(path))


def test_fiche_without_number_is_refused_unless_filtered_out(tmp_path: Path) -> None:
    path = tmp_path / "sans-numero.xml"
    path.write_text(
        "<FICHES><FICHE><INTITULE>Anonyme</INTITULE></FICHE>"
        "<FICHE><NUMERO_FICHE>RNCP2</NUMERO_FICHE><INTITULE>Deux</INTITULE></FICHE></FICHES>",
        encoding="utf-8",
    )
    assert [c.code for c in iter_france_competences(path, only={"2"})] == ["RNCP2"]
    with pytest.raises(FrameworkFormatError, match="Fiche sans NUMERO_FICHE"):
        list(iter_france_competences(path))


def test_fiche_with_invalid_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "numero.xml"
    path.write_text(
        "<FICHES><FICHE><NUMERO_FICHE>Fiche n° 12</NUMERO_FICHE><INTITULE>X</INTITULE></FICHE></FICHES>",
        encoding="utf-8",
    )
    with pytest.raises(FrameworkFormatError, match="numéro « FICHEN°12 » invalide"):
        list(iter_france_competences(path))


def test_odd_dates_and_link_codes(tmp_path: Path) -> None:
    path = tmp_path / "liens.xml"
    path.write_text(
        "<FICHES><FICHE><NUMERO_FICHE>RNCP4</NUMERO_FICHE><INTITULE>Quatre</INTITULE>"
        "<DATE_EFFET>bientôt</DATE_EFFET><DATE_FIN_ENREGISTREMENT>31/02/2020</DATE_FIN_ENREGISTREMENT>"
        "<ANCIENNE_CERTIFICATION>12</ANCIENNE_CERTIFICATION>"
        "<ANCIENNE_CERTIFICATION>voir la fiche rncp 5 et RS 6</ANCIENNE_CERTIFICATION>"
        "<NOUVELLE_CERTIFICATION>néant</NOUVELLE_CERTIFICATION></FICHE></FICHES>",
        encoding="utf-8",
    )
    (cert,) = iter_france_competences(path)
    assert (cert.registration, cert.registered_until) == ("unknown", None)
    assert (cert.predecessors, cert.successors) == (["RNCP12", "RNCP5", "RS6"], [])


def test_duplicate_or_missing_block_codes_stay_unique(tmp_path: Path) -> None:
    bloc = (
        "<BLOC_COMPETENCES>{code}<LIBELLE>Bloc</LIBELLE>"
        "<LISTE_COMPETENCES>- A faire\n- B faire</LISTE_COMPETENCES></BLOC_COMPETENCES>"
    )
    path = tmp_path / "blocs.xml"
    path.write_text(
        "<FICHES><FICHE><NUMERO_FICHE>RNCP3</NUMERO_FICHE><INTITULE>Trois</INTITULE><BLOCS_COMPETENCES>"
        + bloc.format(code="<CODE>RNCP3BC01</CODE>")
        + bloc.format(code="<CODE>RNCP3BC01</CODE>")
        + bloc.format(code="")
        + bloc.format(code="<CODE>Bloc n°4 : voir annexe</CODE>")
        + "<BLOC_COMPETENCES><CODE>RNCP3BC05</CODE><LIBELLE>Vide.</LIBELLE></BLOC_COMPETENCES>"
        + "</BLOCS_COMPETENCES></FICHE></FICHES>",
        encoding="utf-8",
    )
    (cert,) = iter_france_competences(path)
    assert [b.code for b in cert.blocks] == [
        "RNCP3BC01",
        "RNCP3BC01-2",
        "RNCP3BC03",
        "RNCP3BC04",
        "RNCP3BC05",
    ]
    assert statements(cert.blocks[0]) == ["A faire", "B faire"]
    # An empty list still gets one competency to tag evidence against, flagged for review.
    (placeholder,) = cert.blocks[4].competencies
    assert (placeholder.code, placeholder.statement, placeholder.needs_review) == (
        "RNCP3BC05-C01",
        "Vide",
        True,
    )


# --------------------------------------------------------------------------------------------
# Hostile and broken inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("billion_laughs.xml", "Fichier refusé : entités XML interdites (DTD)"),
        ("external_entity.xml", "Fichier refusé : entités XML interdites (DTD)"),
        ("malformed.xml", "Fichier XML mal formé (ligne 6, colonne 5) : balise fermante inattendue"),
    ],
)
def test_hostile_xml_is_refused(name: str, message: str) -> None:
    with pytest.raises(FrameworkFormatError) as caught:
        list(iter_france_competences(FIXTURES / name))
    assert str(caught.value) == message
    with pytest.raises(FrameworkFormatError, match=re.escape(message)):
        load_framework_file(FIXTURES / name)


def test_hostile_xml_inside_a_zip_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bombe.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(FIXTURES / "billion_laughs.xml", "fiches.xml")
    with pytest.raises(FrameworkFormatError, match=re.escape("entités XML interdites (DTD)")):
        list(iter_france_competences(archive))


def test_dtd_without_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dtd.xml"
    path.write_text('<!DOCTYPE FICHES SYSTEM "http://example.invalid/fiches.dtd"><FICHES/>', encoding="utf-8")
    with pytest.raises(FrameworkFormatError, match=re.escape("(DTD)")):
        list(iter_france_competences(path))


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    """Write a deflated zip holding ``members`` at ``path``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "exactement un fichier XML (trouvés : 0)"),
        ({"LISEZMOI.txt": b"rien"}, "exactement un fichier XML (trouvés : 0)"),
        ({"a.xml": b"<FICHES/>", "b/b.XML": b"<FICHES/>"}, "exactement un fichier XML (trouvés : 2)"),
        ({"fiches.xml": b"<FICHES>" + b" " * 3_000_000 + b"</FICHES>"}, "taux de compression anormal"),
    ],
)
def test_suspicious_zips_are_refused(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    archive = _zip(tmp_path / "export.zip", members)
    with pytest.raises(FrameworkFormatError, match=re.escape(message)):
        list(iter_france_competences(archive))


def test_zip_member_over_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats.france_competences, "MAX_XML_BYTES", 1000)  # stands for the 2 GiB limit
    archive = _zip(tmp_path / "export.zip", {"fiches.xml": SAMPLE.read_bytes()})
    with pytest.raises(FrameworkFormatError, match="dépasse 2 Gio"):
        list(iter_france_competences(archive))


def test_corrupt_zips_are_refused(tmp_path: Path) -> None:
    truncated = tmp_path / "tronque.zip"
    truncated.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(FrameworkFormatError, match="Archive ZIP illisible"):
        list(iter_france_competences(truncated))
    # A flipped byte in the compressed data: the CRC check or zlib catches it while streaming.
    archive = _zip(tmp_path / "abime.zip", {"fiches.xml": SAMPLE.read_bytes()})
    data = bytearray(archive.read_bytes())
    data[200] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(FrameworkFormatError):
        list(iter_france_competences(archive))


# --------------------------------------------------------------------------------------------
# Streaming: memory stays flat on a large export
# --------------------------------------------------------------------------------------------

FICHE_TEMPLATE = (
    "<FICHE><NUMERO_FICHE>RNCP{n}</NUMERO_FICHE>"
    "<INTITULE>Certification numéro {n} pour l'essai de charge</INTITULE>"
    "<NOMENCLATURE_EUROPE><NIVEAU>NIV5</NIVEAU></NOMENCLATURE_EUROPE><ACTIF>Oui</ACTIF>"
    "<BLOCS_COMPETENCES><BLOC_COMPETENCES><CODE>RNCP{n}BC01</CODE><LIBELLE>Bloc unique</LIBELLE>"
    "<LISTE_COMPETENCES>&lt;ul&gt;&lt;li&gt;Analyser le besoin {n}&lt;/li&gt;&lt;li&gt;Concevoir la "
    "solution&lt;/li&gt;&lt;li&gt;Livrer et documenter&lt;/li&gt;&lt;/ul&gt;</LISTE_COMPETENCES>"
    "<MODALITES_EVALUATION>{padding}</MODALITES_EVALUATION>"
    "</BLOC_COMPETENCES></BLOCS_COMPETENCES></FICHE>\n"
)
PADDING = "Étude de cas, projet en groupe et soutenance devant le jury. " * 8


def test_streaming_memory_stays_flat(tmp_path: Path) -> None:
    count = 50_000
    path = tmp_path / "export.xml"
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<FICHES>\n')
        for start in range(0, count, 1000):
            fiches = (
                FICHE_TEMPLATE.format(n=100_000 + n, padding=PADDING) for n in range(start, start + 1000)
            )
            out.write("".join(fiches))
        out.write("</FICHES>\n")
    assert path.stat().st_size > 35 * 1024 * 1024

    last = f"RNCP{100_000 + count - 1}"
    tracemalloc.start()
    try:
        found = list(iter_france_competences(path, only={last}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [c.code for c in found] == [last]
    assert statements(found[0].blocks[0]) == [
        f"Analyser le besoin {100_000 + count - 1}",
        "Concevoir la solution",
        "Livrer et documenter",
    ]
    # Held whole, the parsed tree of this ~50 MB file would take hundreds of MB.
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --------------------------------------------------------------------------------------------
# split_competencies and clean_text
# --------------------------------------------------------------------------------------------

ABC = ["Analyser le besoin", "Concevoir la solution", "Développer l'application"]


@pytest.mark.parametrize(
    "text",
    [
        "- Analyser le besoin ;\n- Concevoir la solution ;\n- Développer l'application.",
        "* Analyser le besoin\n* Concevoir la solution\n* Développer l'application",
        "• Analyser le besoin • Concevoir la solution • Développer l'application",
        "o Analyser le besoin\no Concevoir la solution\no Développer l'application",
        "– Analyser le besoin\n– Concevoir la solution\n— Développer l'application",
        "1. Analyser le besoin\n2. Concevoir la solution\n3. Développer l'application",
        "1) Analyser le besoin\r\n2) Concevoir la solution\r\n3) Développer l'application",
        "a) Analyser le besoin\nb) Concevoir la solution\nc) Développer l'application",
        "1. Analyser le besoin 2. Concevoir la solution 3. Développer l'application",
        "1.1 Analyser le besoin\n1.2 Concevoir la solution\n1.3 Développer l'application",
        "(1) Analyser le besoin\n(2) Concevoir la solution\n(3) Développer l'application",
        "- Analyser le besoin - Concevoir la solution - Développer l'application",
        "Analyser le besoin<br>Concevoir la solution<br/>Développer l'application",
        "<p>Analyser le besoin</p><p>Concevoir la solution</p><p>Développer l'application</p>",
        '<ul><li>Analyser le besoin</li><li class="x"><p>Concevoir la solution</p></li><li>Développer '
        "l&#39;application</li></ul>",
        "&lt;ul&gt;&lt;li&gt;Analyser le besoin&lt;/li&gt;&lt;li&gt;Concevoir la solution&lt;/li&gt;"
        "&lt;li&gt;Développer l'application&lt;/li&gt;&lt;/ul&gt;",
        "Analyser le besoin            Concevoir la solution            Développer l'application",
        "Analyser le besoin&nbsp;&nbsp;&nbsp;Concevoir la solution\tDévelopper l'application".replace(
            "\t", "    "
        ),
        "Compétences :\n- Analyser le besoin\n- Concevoir la solution\n- Développer l'application",
        "<p><b>Le titulaire est capable de :</b></p>\n-Analyser le besoin\n-Concevoir la solution"
        "\n-Développer l'application",
        "Analyser le besoin. Concevoir la solution. Développer l'application.",
        "Analyser le besoin; Concevoir la solution; Développer l'application",
        "  \n- Analyser le besoin\n\n\n- Concevoir la solution\n-\n- Développer l'application\n  ",
        "<div>Analyser le besoin</div>\n<div>Concevoir la solution</div>\n"
        "<!-- note --><div>Développer l'application</div>",
    ],
)
def test_split_bullet_styles(text: str) -> None:
    items, ok = split_competencies(text)
    assert ok
    assert [item.rstrip(".") for item in items] == ABC


def test_split_keeps_semicolon_list_wording() -> None:
    assert split_competencies("Analyser le besoin ; concevoir la solution ; développer l'application") == (
        ["Analyser le besoin", "concevoir la solution", "développer l'application"],
        True,
    )


def test_split_joins_wrapped_lines_but_not_lowercase_bullets() -> None:
    text = (
        "- Analyser le besoin du client\n  et le reformuler par écrit ;\n"
        "- programmer les algorithmes ;\n"
        "Rédiger la documentation.\nmettre à jour le wiki"
    )
    assert split_competencies(text) == (
        [
            "Analyser le besoin du client et le reformuler par écrit",
            "programmer les algorithmes",
            "Rédiger la documentation.",
            "mettre à jour le wiki",
        ],
        True,
    )


def test_split_sub_bullets_under_a_heading_item() -> None:
    text = "Concevoir :\n  o les maquettes\n  o le modèle de données\nLivrer l'application"
    assert split_competencies(text) == (
        ["les maquettes", "le modèle de données", "Livrer l'application"],
        True,
    )


def test_split_leaves_hyphens_and_inclusive_dots_alone() -> None:
    text = "- Mettre en œuvre l'auto-évaluation des apprenant·es\n- Utiliser MERISE - UML"
    assert split_competencies(text) == (
        ["Mettre en œuvre l'auto-évaluation des apprenant·es", "Utiliser MERISE - UML"],
        True,
    )


def test_split_single_short_statement_is_fine() -> None:
    assert split_competencies("  Concevoir une application web  ") == (
        ["Concevoir une application web"],
        True,
    )


@pytest.mark.parametrize("text", ["", "   \n ", "<p>&nbsp;</p>", "Compétences :", "- \n* \n•", None])
def test_split_empty_texts(text: str | None) -> None:
    assert split_competencies(text) == ([], False)


def test_split_long_paragraph_is_flagged() -> None:
    paragraph = " ".join(["analyser les besoins du client et concevoir des solutions adaptées"] * 6)
    text = f"<p>Le titulaire sait {paragraph}</p>"
    assert split_competencies(text) == ([f"Le titulaire sait {paragraph}"], False)


def test_split_with_one_huge_item_is_flagged() -> None:
    huge = "Rédiger " + "des documents très détaillés " * 25
    text = f"- Analyser le besoin\n- {huge}"
    items, ok = split_competencies(text)
    assert not ok
    assert items == [clean_text(text)]
    assert items[0].startswith("- Analyser le besoin\n- Rédiger des documents")


def test_clean_text() -> None:
    raw = "<p><b>Modalités :</b>   Étude de cas&nbsp;; entretien.</p><p>- Oral\u00a0: 1  h<br>- Écrit</p>"
    assert clean_text(raw) == "Modalités :\nÉtude de cas ; entretien.\n- Oral : 1 h\n- Écrit"
    # Runs of spaces separate items in the fiches (two spaces only after punctuation).
    assert clean_text("Projet.  Stage :  Entreprise   Jury") == "Projet.\nStage :\nEntreprise\nJury"
    assert clean_text("Vérifier que a < b et c > d") == "Vérifier que a < b et c > d"
    assert clean_text("<script>alert(1)</script>Texte<!-- note -->") == "Texte"
    assert clean_text(None) == ""
