"""File views on the evidence page: code, archives, test reports, images, SVG, diagrams, PDF; the test-report
summary in the tutor's queue; the analyses kept per blob; access to the new routes; hostile files."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from portfolio.extensions import db
from portfolio.models import Blob, EvidenceFile
from portfolio.models.analysis import BlobAnalysis
from portfolio.services import viewers
from portfolio.storage import get_storage
from tests.factories import (
    PROJECT,
    bomb_zip,
    file_of,
    run_pytest_junit,
    symlink_zip,
    zip_bytes,
)
from tests.factories import add_project_evidence as add_evidence
from tests.factories import report_fixture as fixture

C1 = "RNCP28754BC01-C01"
MiB = 1024 * 1024

SVG_WITH_SCRIPT = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                   b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>')
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


# --------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------


def tar_gz_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pytest_report(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return run_pytest_junit(tmp_path_factory.mktemp("pytest-run"))


def page_of(client, item) -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/evidence/{item.id}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def section(html: str, file: EvidenceFile) -> str:
    """The HTML of one file's view on the evidence page."""
    start = html.index(f'id="file-{file.id}"')
    end = html.find("</section>", start)
    return html[start:end]


def counts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-count="(\w+)">([^<]+)<', html))


# --------------------------------------------------------------------------------------------
# Code
# --------------------------------------------------------------------------------------------


def test_code_is_highlighted_with_line_numbers(app, world, login, client):
    item = add_evidence(world.learner, {"cart.py": b"def total(items):\n    return sum(items)\n"})
    login(world.learner)
    html = page_of(client, item)
    view = section(html, item.files[0])
    assert 'class="highlight"' in view and 'class="linenos"' in view
    assert '<span class="k">def</span>' in view and '<span class="nf">total</span>' in view
    file_id = item.files[0].id
    assert f'href="#f{file_id}-L-2">2</a>' in view and f'id="f{file_id}-L-2"' in view  # anchors unique per file
    assert "Python" in view
    assert "/static/pygments.css" in html
    assert "mermaid" not in html  # the renderer is loaded only where a diagram is


def test_markup_in_a_source_file_is_escaped(app, world, login, client):
    item = add_evidence(world.learner, {"page.html": b'<html><body><script>alert("x")</script></body></html>'})
    login(world.learner)
    view = section(page_of(client, item), item.files[0])
    assert "<script>alert" not in view
    assert "&lt;" in view and "alert" in view


def test_a_long_file_is_cut(app, world, login, client):
    source = b"".join(b"x_%d = %d\n" % (i, i) for i in range(80_000))  # ~1 MiB
    assert len(source) > viewers.CODE_VIEW_BYTES
    item = add_evidence(world.learner, {"big.py": source})
    login(world.learner)
    view = section(page_of(client, item), item.files[0])
    assert "Aperçu limité au début du fichier" in view
    assert "x_79999" not in view


def test_binary_files_are_only_downloaded(app, world, login, client):
    item = add_evidence(world.learner, {"data.bin": bytes(range(256)) * 4})
    login(world.learner)
    view = section(page_of(client, item), item.files[0])
    assert "Pas d'aperçu pour ce type de fichier" in view
    assert f"/evidence/{item.id}/files/{item.files[0].id}?download=1" in view


def test_pygments_stylesheet_is_current():
    from portfolio.analysis.code import pygments_css

    shipped = (Path(__file__).parent.parent / "portfolio" / "static" / "pygments.css").read_text()
    assert shipped.split("\n", 1)[1] == pygments_css(), "regenerate portfolio/static/pygments.css"


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "build"), [("shop.zip", zip_bytes), ("shop.tar.gz", tar_gz_bytes)])
def test_archive_tree_languages_and_tests(app, world, login, client, name, build):
    item = add_evidence(world.learner, {name: build(PROJECT)})
    file = item.files[0]
    login(world.learner)
    view = section(page_of(client, item), file)
    assert 'class="archive-tree"' in view
    for entry in ("shop/", "src/", "cart.py", "api.ts", "tests/", "test_cart.py", "README.md"):
        assert f">{entry}<" in view, entry
    assert 'data-language="Python"' in view and "Python : 8 lignes" in view
    assert "TypeScript : 1 ligne" in view
    assert "l'archive contient des tests" in view
    link = f"/evidence/{item.id}/files/{file.id}/archive?path=shop/src/shop/cart.py"
    assert f'href="{link}"' in view

    entry = client.get(link)
    assert entry.status_code == 200
    body = entry.get_data(as_text=True)
    assert '<span class="k">class</span>' in body and 'class="linenos"' in body
    assert "shop/src/shop/cart.py" in body and "/static/pygments.css" in body


def test_archive_without_tests_says_so(app, world, login, client):
    item = add_evidence(world.learner, {"lib.zip": zip_bytes({"lib/util.py": b"x = 1\n"})})
    login(world.learner)
    assert "aucun test trouvé" in section(page_of(client, item), item.files[0])


def test_archive_entry_that_does_not_exist_is_404(app, world, login, client):
    item = add_evidence(world.learner, {"shop.zip": zip_bytes(PROJECT)})
    login(world.learner)
    base = f"/evidence/{item.id}/files/{item.files[0].id}/archive"
    for path in ("shop/nothing.py", "../../etc/passwd", "/etc/passwd", "shop/src", ""):
        assert client.get(base, query_string={"path": path}).status_code == 404, path


def test_archive_route_on_a_file_that_is_not_an_archive(app, world, login, client):
    item = add_evidence(world.learner, {"cart.py": b"x = 1\n"})
    login(world.learner)
    response = client.get(f"/evidence/{item.id}/files/{item.files[0].id}/archive", query_string={"path": "x"})
    assert response.status_code == 404


def stored_files(app) -> set[str]:  # type: ignore[no-untyped-def]
    root = Path(app.config["STORAGE_URL"].removeprefix("file://"))
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("build", "code", "message"), [
    (lambda: zip_bytes({"ok.txt": b"ok\n", "../evil.py": b"import os\n"}), "unsafe_path", "chemin dangereux"),
    (lambda: tar_gz_bytes({"../../etc/cron.d/evil": b"* * * * * root id\n"}), "unsafe_path", "chemin dangereux"),
    (symlink_zip, "link", "liens symboliques"),
    (bomb_zip, "zip_bomb", "bombe de décompression"),
])
def test_hostile_archives_are_refused_and_nothing_is_expanded(app, world, login, client, build, code, message):
    item = add_evidence(world.learner, {"projet.zip": build()}, submit=True)
    file = item.files[0]
    login(world.tutor)
    before = stored_files(app)
    view = section(page_of(client, item), file)
    assert "archive-refused" in view and message in view
    assert 'class="archive-tree"' not in view and "/archive?path=" not in view
    assert "?download=1" in view  # the file itself is kept, downloadable
    response = client.get(f"/evidence/{item.id}/files/{file.id}/archive", query_string={"path": "ok.txt"})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert stored_files(app) == before  # nothing extracted next to the blobs
    row = db.session.get(BlobAnalysis, file.blob_id)
    assert row.summary["refused"] == code and "tree" not in row.summary


# --------------------------------------------------------------------------------------------
# Test reports
# --------------------------------------------------------------------------------------------


def test_real_pytest_report_on_the_page_and_in_the_queue(app, world, login, client, pytest_report):
    assert b"<testsuite " in pytest_report
    item = add_evidence(world.learner, {"junit.xml": pytest_report}, kind="test_report", submit=True)
    login(world.tutor)
    view = section(page_of(client, item), item.files[0])
    assert counts(view) == {"tests": "4", "passed": "1", "failures": "1", "errors": "1", "skipped": "1"}
    for name, status in [("test_addition", "Réussi"), ("test_subtraction", "Échec"),
                         ("test_needs_database", "Erreur"), ("test_later", "Ignoré")]:
        row = re.search(rf'<tr class="case[^"]*">(?:(?!</tr>).)*{name}(?:(?!</tr>).)*</tr>', view, re.S)
        assert row and f">{status}<" in row.group(0), name
    assert "subtraction is broken" in view and "not ready yet" in view
    assert "durée" in view

    queue = client.get("/assessments/").get_data(as_text=True)
    row = re.search(r"<tr>(?:(?!</tr>).)*Projet(?:(?!</tr>).)*</tr>", queue, re.S).group(0)
    assert counts(row) == {"tests": "4 tests", "failures": "1 échec", "errors": "1 erreur"}


@pytest.mark.parametrize(("name", "expected"), [
    ("TEST-com.example.shop.CartServiceTest.xml",
     {"tests": "5", "passed": "2", "failures": "1", "errors": "1", "skipped": "1"}),
    ("phpunit-junit.xml", {"tests": "6", "passed": "3", "failures": "1", "errors": "1", "skipped": "1"}),
    ("jest-junit.xml", {"tests": "7", "passed": "5", "failures": "1", "errors": "0", "skipped": "1"}),
])
def test_other_tools_reports(app, world, login, client, name, expected):
    item = add_evidence(world.learner, {name: fixture(name)}, kind="test_report", submit=True)
    login(world.tutor)
    view = section(page_of(client, item), item.files[0])
    assert counts(view) == expected
    assert 'class="table report-table"' in view and "<caption" in view
    queue = client.get("/assessments/").get_data(as_text=True)
    assert f">{expected['tests']} tests<" in queue


def test_coverage_report_and_queue(app, world, login, client, pytest_report):
    item = add_evidence(world.learner, {"junit.xml": pytest_report, "coverage.xml": fixture("cobertura.xml")},
                        kind="test_report", submit=True)
    login(world.tutor)
    view = section(page_of(client, item), file_of(item, "coverage.xml"))
    assert "66,67\u00a0%" in view and "6 lignes sur 9" in view
    queue = client.get("/assessments/").get_data(as_text=True)
    assert "couverture 66,67\u00a0%" in queue and ">4 tests<" in queue


@pytest.mark.parametrize("name", ["malformed.xml", "billion_laughs.xml", "external_entity.xml"])
def test_unreadable_reports_never_break_the_page(app, world, login, client, name):
    item = add_evidence(world.learner, {name: fixture(name)}, kind="test_report", submit=True)
    login(world.tutor)
    view = section(page_of(client, item), item.files[0])
    assert "Rapport illisible" in view and "reste téléchargeable" in view
    assert f"/files/{item.files[0].id}?download=1" in view
    assert "root:" not in view  # the external entity was never resolved
    queue = client.get("/assessments/").get_data(as_text=True)
    assert "1 rapport illisible" in queue


def test_a_report_with_a_huge_attribute_is_cut_not_fatal(app, world, login, client):
    huge = b'<testsuite name="s" tests="1"><testcase name="' + b"n" * (2 * MiB) + b'" classname="c"/></testsuite>'
    item = add_evidence(world.learner, {"huge.xml": huge}, kind="test_report")
    login(world.learner)
    view = section(page_of(client, item), item.files[0])
    assert counts(view)["tests"] == "1"
    assert len(view) < 100_000


def test_xml_that_is_not_a_report_is_shown_as_code(app, world, login, client):
    item = add_evidence(world.learner, {"pom.xml": b"<project><artifactId>shop</artifactId></project>\n"})
    login(world.learner)
    view = section(page_of(client, item), item.files[0])
    assert 'class="highlight"' in view and "report-counts" not in view


# --------------------------------------------------------------------------------------------
# Analyses kept per blob
# --------------------------------------------------------------------------------------------


def test_analyses_are_computed_once_per_blob(app, world, login, client, monkeypatch):
    report = fixture("TEST-com.example.shop.CartServiceTest.xml")
    item = add_evidence(world.learner, {"a.xml": report, "shop.zip": zip_bytes(PROJECT)}, submit=True)
    login(world.tutor)
    page_of(client, item)
    rows = {row.blob_id: row for row in db.session.scalars(db.select(BlobAnalysis))}
    assert {rows[f.blob_id].kind.value for f in item.files} == {"report", "archive"}
    assert rows[file_of(item, "a.xml").blob_id].summary["tests"] == 5

    def no_reading(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the blob was read again")

    monkeypatch.setattr(viewers, "_compute", no_reading)
    monkeypatch.setattr(viewers, "inspect_archive", no_reading)
    assert ">5 tests<" in client.get("/assessments/").get_data(as_text=True)
    # The same content uploaded again (another learner, another name) reuses the blob and its analysis.
    other = add_evidence(world.other_learner, {"b.xml": report})
    assert other.files[0].blob_id == file_of(item, "a.xml").blob_id
    assert counts(viewers_summary(other.files[0]))["tests"] == "5"


def viewers_summary(file: EvidenceFile) -> str:
    summary = viewers.file_analyses([file])[file.blob_id].summary
    return "".join(f'data-count="{k}">{v}<' for k, v in summary.items())


def test_an_analysis_goes_with_its_blob(app, world, login, client):
    item = add_evidence(world.learner, {"a.xml": fixture("jest-junit.xml"), "b.py": b"x = 1\n"})
    login(world.learner)
    page_of(client, item)
    file = file_of(item, "a.xml")
    blob_id = file.blob_id
    assert db.session.get(BlobAnalysis, blob_id) is not None
    assert client.post(f"/evidence/{item.id}/files/{file.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Blob, blob_id) is None
    assert db.session.get(BlobAnalysis, blob_id) is None


def test_a_store_failure_leaves_the_page_up(app, world, login, client, monkeypatch):
    item = add_evidence(world.learner, {"a.xml": fixture("jest-junit.xml"), "b.py": b"x = 1\n",
                                        "c.zip": zip_bytes(PROJECT)})
    login(world.learner)
    storage = get_storage()
    # Kept when the files were added; dropped here as for files added before analyses were kept.
    assert db.session.scalar(db.select(db.func.count()).select_from(BlobAnalysis)) == 2
    db.session.execute(db.delete(BlobAnalysis))
    db.session.commit()

    def unavailable(key):  # type: ignore[no-untyped-def]
        from portfolio.storage import StorageUnavailable

        raise StorageUnavailable("down")

    monkeypatch.setattr(storage, "open", unavailable)
    html = page_of(client, item)
    assert html.count("Aperçu indisponible pour le moment") == 3
    assert db.session.scalar(db.select(db.func.count()).select_from(BlobAnalysis)) == 0  # a GET keeps nothing


# --------------------------------------------------------------------------------------------
# Images, SVG, diagrams, PDF
# --------------------------------------------------------------------------------------------


def test_images_are_shown_from_the_image_route(app, world, login, client):
    item = add_evidence(world.learner, {"shot.png": PNG}, kind="uml")
    file = item.files[0]
    login(world.learner)
    view = section(page_of(client, item), file)
    url = f"/evidence/{item.id}/files/{file.id}/image"
    assert f'<img src="{url}" alt="shot.png"' in view
    response = client.get(url)
    assert response.status_code == 200 and response.data == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline")
    etag = response.headers["ETag"]
    assert etag == f'"{file.blob.sha256}"'
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data


def test_svg_with_a_script_is_only_ever_an_image(app, world, login, client):
    item = add_evidence(world.learner, {"diagram.svg": SVG_WITH_SCRIPT}, kind="uml")
    file = item.files[0]
    assert file.blob.media_type == "image/svg+xml"
    login(world.learner)
    html = page_of(client, item)
    view = section(html, file)
    image_url = f"/evidence/{item.id}/files/{file.id}/image"
    assert f'<img src="{image_url}"' in view
    # Never inlined in the page (the page's own icons are <svg><use> of the app's sprite, not the file).
    assert "alert(document.cookie)" not in html and "<script>" not in html

    image = client.get(image_url)
    assert image.status_code == 200 and image.data == SVG_WITH_SCRIPT
    assert image.headers["Content-Type"] == "image/svg+xml"
    assert image.headers["Content-Disposition"].startswith("inline")
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    policy = [p.strip() for p in image.headers["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in policy and "sandbox" in policy
    assert not any(p.startswith("script-src") for p in policy)

    download = client.get(f"/evidence/{item.id}/files/{file.id}")
    assert download.headers["Content-Disposition"].startswith("attachment")
    download.close()


def test_image_route_serves_only_images(app, world, login, client):
    item = add_evidence(world.learner, {"page.html": b"<html><script>alert(1)</script></html>",
                                        "doc.pdf": b"%PDF-1.7\n%%EOF\n"})
    login(world.learner)
    for file in item.files:
        assert client.get(f"/evidence/{item.id}/files/{file.id}/image").status_code == 404, file.filename


def test_mermaid_source_and_renderer(app, world, login, client):
    source = b"classDiagram\n  class Cart {\n    +items: list\n  }\n  Cart --> Item : contient\n"
    item = add_evidence(world.learner, {"model.mmd": source}, kind="uml")
    login(world.learner)
    response = client.get(f"/evidence/{item.id}")
    html = response.get_data(as_text=True)
    view = section(html, item.files[0])
    assert 'data-mermaid-source="classDiagram\n  class Cart {\n    +items: list' in view
    assert 'class="highlight"' in view  # the source, as text
    assert html.count('src="/static/vendor/mermaid/mermaid.min.js"') == 1
    assert 'src="/static/mermaid-init.js"' in html
    # The page's policy is not relaxed for the renderer (the diagram is shown as an image).
    assert "style-src 'self';" in response.headers["Content-Security-Policy"]
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    renderer = client.get("/static/vendor/mermaid/mermaid.min.js")
    assert renderer.status_code == 200
    renderer.close()


def test_mermaid_source_with_markup_is_escaped(app, world, login, client):
    source = b'graph TD\n  A["x\\"><script>alert(1)</script>"] --> B\n'
    item = add_evidence(world.learner, {"flow.mermaid": source}, kind="uml")
    login(world.learner)
    html = page_of(client, item)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_plantuml_is_shown_as_text(app, world, login, client):
    item = add_evidence(world.learner, {"classes.puml": b"@startuml\nclass Cart\nCart --> Item\n@enduml\n",
                                        "seq.txt": b"@startuml\nAlice -> Bob : hello\n@enduml\n"}, kind="uml")
    login(world.learner)
    html = page_of(client, item)
    for file in item.files:
        view = section(html, file)
        assert "Source PlantUML" in view and "startuml" in view and 'class="linenos"' in view
    assert "mermaid.min.js" not in html


def test_pdf_opens_in_a_new_tab_and_documents_are_downloaded(app, world, login, client):
    item = add_evidence(world.learner, {"rapport.pdf": b"%PDF-1.7\n%%EOF\n", "notes.odt": zip_bytes({
        "mimetype": b"application/vnd.oasis.opendocument.text"})}, kind="document")
    login(world.learner)
    html = page_of(client, item)
    pdf = file_of(item, "rapport.pdf")
    view = section(html, pdf)
    link = re.search(r'<a class="button button--small" href="([^"]+)" target="_blank" rel="noopener"'
                     r' aria-label="Ouvrir le PDF rapport.pdf \(nouvel onglet\)">Ouvrir le PDF</a>', view)
    assert link and link.group(1) == f"/evidence/{item.id}/files/{pdf.id}"
    response = client.get(f"/evidence/{item.id}/files/{pdf.id}")
    assert response.headers["Content-Disposition"].startswith("inline")
    response.close()


# --------------------------------------------------------------------------------------------
# Access
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [
    ("learner", 200), ("tutor", 200), ("admin", 200),
    ("other_learner", 404), ("other_tutor", 404), ("jury", 404), ("vae", 404),
])
def test_new_routes_follow_the_evidence_rules(app, world, login, client, role, expected):
    item = add_evidence(world.learner, {"shot.png": PNG, "shop.zip": zip_bytes(PROJECT)})
    login(getattr(world, role))
    image = client.get(f"/evidence/{item.id}/files/{file_of(item, 'shot.png').id}/image")
    entry = client.get(f"/evidence/{item.id}/files/{file_of(item, 'shop.zip').id}/archive",
                       query_string={"path": "shop/src/shop/cart.py"})
    assert (image.status_code, entry.status_code) == (expected, expected)
    if expected == 404:
        assert b"Cart" not in entry.data and image.data != PNG


def test_a_file_of_another_evidence_is_404(app, world, login, client):
    mine = add_evidence(world.learner, {"shot.png": PNG})
    theirs = add_evidence(world.other_learner, {"secret.png": PNG + b"secret", "secret.zip": zip_bytes(PROJECT)})
    login(world.learner)
    for file in theirs.files:
        assert client.get(f"/evidence/{mine.id}/files/{file.id}/image").status_code == 404
        assert client.get(f"/evidence/{mine.id}/files/{file.id}/archive",
                          query_string={"path": "shop/README.md"}).status_code == 404


def test_anonymous_is_sent_to_sign_in(app, world, client):
    item = add_evidence(world.learner, {"shot.png": PNG})
    response = client.get(f"/evidence/{item.id}/files/{item.files[0].id}/image")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_list_shows_a_thumbnail_of_the_first_image(app, world, login, client):
    item = add_evidence(world.learner, {"notes.txt": b"x\n", "shot.png": PNG, "other.png": PNG + b"2"})
    login(world.learner)
    html = client.get("/evidence/").get_data(as_text=True)
    # The cards (the default view) show the first image of each piece; the dense table does the same.
    thumbs = re.findall(r'<div class="evidence-card__thumb"><img src="([^"]+)" alt=""', html)
    table = client.get("/evidence/?view=table").get_data(as_text=True)
    assert re.findall(r'<img class="thumb" src="([^"]+)" alt=""', table) == thumbs
    assert thumbs == [f"/evidence/{item.id}/files/{file_of(item, 'shot.png').id}/image"]


def test_views_speak_english(app, make_user, login, client):
    learner = make_user("anna@example.org", "learner", name="Anna", locale="en")
    item = add_evidence(learner, {"broken.xml": fixture("malformed.xml"), "bomb.zip": symlink_zip(),
                                  "TEST-Cart.xml": fixture("TEST-com.example.shop.CartServiceTest.xml")})
    login(learner)
    html = page_of(client, item)
    assert "Unreadable report" in html and "Archive refused: it contains symbolic or hard links." in html
    assert ">Failed<" in html and "Download" in html
