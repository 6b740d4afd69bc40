"""Source highlighting and language detection."""

from __future__ import annotations

import re

import pytest

from portfolio.analysis.code import (
    MAX_HIGHLIGHT_BYTES,
    MAX_HIGHLIGHT_LINES,
    highlight,
    language_for_path,
    language_of,
    looks_binary,
    pygments_css,
)


def test_highlight_python_with_line_numbers_and_classes() -> None:
    html = highlight(b"import os\n\n# <script>alert(1)</script>\nprint(os.getcwd())\n", "app/main.py")
    assert html.startswith('<div class="highlight">')
    assert '<span class="kn">import</span>' in html
    assert 'href="#L-4"' in html and 'id="L-4"' in html
    assert 'href="#L-5"' not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "style=" not in html  # classes only, for the stylesheet (and a strict CSP)


@pytest.mark.parametrize(
    ("filename", "source", "css_class"),
    [
        ("Cart.java", b"public class Cart { private int n; }\n", '<span class="kd">public</span>'),
        ("main.go", b"package main\n\nfunc main() {}\n", '<span class="kn">package</span>'),
        ("index.php", b"<?php echo 'hi'; ?>\n", '<span class="k">echo</span>'),
    ],
)
def test_lexer_from_filename(filename: str, source: bytes, css_class: str) -> None:
    assert css_class in highlight(source, filename)


def test_lexer_from_content_when_the_name_says_nothing() -> None:
    html = highlight(b"#!/usr/bin/env python3\nimport sys\nprint(sys.argv)\n", "run")
    assert '<span class="kn">import</span>' in html


def test_plain_text_fallback_and_invalid_utf8() -> None:
    html = highlight(b"caf\xe9 au lait\nsecond line\n", "notes.unknownext")
    assert "caf\ufffd au lait" in html
    assert 'id="L-2"' in html


def test_empty_file() -> None:
    assert 'id="L-1"' in highlight(b"", "empty.py")


def test_long_files_are_cut_with_a_note() -> None:
    source = b"x = 1\n" * (MAX_HIGHLIGHT_LINES + 500)
    html = highlight(source, "long.py")
    assert f'id="L-{MAX_HIGHLIGHT_LINES}"' in html
    assert f'id="L-{MAX_HIGHLIGHT_LINES + 1}"' not in html
    assert '<p class="code-truncated">Fichier tronqué : seules les 20\u202f000 premières lignes' in html

    exactly = highlight(b"x = 1\n" * MAX_HIGHLIGHT_LINES, "exact.py")
    assert "code-truncated" not in exactly


def test_big_files_are_cut_with_a_note() -> None:
    line = b"# " + b"y" * 1000 + b"\n"
    html = highlight(line * (MAX_HIGHLIGHT_BYTES // len(line) + 10), "wide.py")
    assert "code-truncated" in html and "Mio" in html
    assert len(re.findall(r'id="L-\d+"', html)) == MAX_HIGHLIGHT_BYTES // len(line)


def test_css_is_scoped() -> None:
    css = pygments_css()
    assert ".highlight .k " in css or ".highlight .k{" in css
    for line in css.splitlines():
        if line.strip():
            assert line.startswith(".highlight"), line


@pytest.mark.parametrize(
    ("filename", "head", "expected"),
    [
        ("src/app.py", b"", "Python"),
        ("web/App.tsx", b"", "TSX"),
        ("Dockerfile", b"FROM python:3.12\n", "Docker"),
        ("build.gradle.kts", b"", "Kotlin"),
        ("deploy", b"#!/bin/bash\necho hi\n", "Bash"),
        ("config.toml", b"[tool]\n", "TOML"),  # not in the fixed map: Pygments by name
        ("README", b"Just words.\n", None),
        ("notes.txt", b"words", None),
        ("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00", None),
    ],
)
def test_language_of(filename: str, head: bytes, expected: str | None) -> None:
    assert language_of(filename, head) == expected


def test_language_for_path_is_a_fixed_map() -> None:
    assert language_for_path("a/b/c.PY") == "Python"
    assert language_for_path("data.json") is None  # data, not a language, in summaries
    assert language_for_path("Makefile") == "Makefile"


def test_looks_binary() -> None:
    assert looks_binary(b"abc\x00def")
    assert not looks_binary("é".encode())
