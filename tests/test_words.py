"""The words are right: sizes and dates in the reader's notation, plurals, headings below the page's own,
roles in French, PDFs without hyphenated names and repeated comments."""

from __future__ import annotations

from datetime import date

import pytest
from flask_babel import force_locale

from portfolio.formatting import count_fr, date_long, human_size
from portfolio.markdown import render_markdown, shift_headings


@pytest.mark.parametrize(("n", "fr", "en"), [
    (12, "12 o", "12 B"),
    (2150, "2,1 Kio", "2.1 KiB"),
    (5 * (1 << 20) + (1 << 19), "5,5 Mio", "5.5 MiB"),
    (1536 * (1 << 30), "1,5 Tio", "1.5 TiB"),
    (1234 * (1 << 40), "1\u202f234,0 Tio", "1,234.0 TiB"),
])
def test_sizes_in_the_readers_units(n, fr, en):  # type: ignore[no-untyped-def]
    assert human_size(n, "fr") == fr
    assert human_size(n, "en") == en


def test_sizes_follow_the_request_language(app):  # type: ignore[no-untyped-def]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        with force_locale("en"):
            assert human_size(2150) == "2.1 KiB"
        with force_locale("fr"):
            assert human_size(2150) == "2,1 Kio"


def test_long_dates_with_the_french_ordinal():
    assert date_long(date(2026, 12, 1), "fr") == "1er décembre 2026"
    assert date_long(date(2026, 12, 2), "fr") == "2 décembre 2026"
    assert date_long(date(2026, 12, 1), "en") == "December 1, 2026"


def test_french_counts():
    assert [count_fr(n, "fichier") for n in (0, 1, 3)] == ["0 fichier", "1 fichier", "3 fichiers"]
    assert count_fr(2, "objet orphelin", "objets orphelins") == "2 objets orphelins"


def test_markdown_headings_start_below_the_page_headings():
    html = str(render_markdown("# Titre\n\n## Sous-titre\n\n###### Six\n\n<h1>brut</h1>"))
    assert "<h3>Titre</h3>" in html and "<h4>Sous-titre</h4>" in html and "<h6>Six</h6>" in html
    assert "<h1" not in html and "<h2" not in html
    assert shift_headings("<h1 id='x'>a</h1>", 0) == "<h1 id='x'>a</h1>"
    assert shift_headings("<H2>a</H2><hr>", 1) == "<h3>a</h3><hr>"


def _texts(path):  # type: ignore[no-untyped-def]
    """(line, text) of a template's lines, or of a Python file's string literals."""
    import io
    import tokenize

    source = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        return list(enumerate(source.splitlines(), 1))
    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    return [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type in kinds]


def test_no_parenthesised_plurals_in_templates_and_code():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "portfolio"
    pattern = re.compile(r"\w\((?:e?s|x)\)")
    found = [f"{path.relative_to(root)}:{number}: {text.strip()[:80]}"
             for path in [*root.rglob("*.html"), *root.rglob("*.py")]
             for number, text in _texts(path) if pattern.search(text.replace("http(s)", ""))]
    assert not found, found


def test_admin_user_list_shows_roles_in_french(app, client, world, login):  # type: ignore[no-untyped-def]
    login(world.admin)
    page = client.get("/admin/users/").get_data(as_text=True)
    assert "Administrateur·rice" in page and "Membre du jury" in page and "Candidat·e VAE" in page
    assert ">admin<" not in page and "vae_candidate" not in page


def test_admin_counts_use_plurals(app, client, world, login):  # type: ignore[no-untyped-def]
    login(world.admin)
    page = client.get("/admin/").get_data(as_text=True)
    assert "7 comptes" in page and "2 promotions" in page and "1 certification<" in page
