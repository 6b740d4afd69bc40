"""Markdown is rendered from many threads at once (gunicorn's gthread workers): same output, no error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from portfolio.markdown import CACHED_SOURCE_MAX, render_markdown


def test_render_markdown_from_many_threads_at_once() -> None:
    # Distinct texts (no cache hit) with nested and unclosed tags: the parser's state is exercised.
    sources = [f"# Titre {i}\n\n<p>para <b>gras *{i}*</p></b> [lien](https://example.org/{i})\n\n- a\n- b\n"
               + "x" * (CACHED_SOURCE_MAX + i) for i in range(64)]
    expected = [str(render_markdown(s)) for s in sources]
    with ThreadPoolExecutor(16) as pool:
        for _ in range(5):
            assert [str(h) for h in pool.map(render_markdown, sources)] == expected


def test_cached_rendering_is_the_same_and_still_sanitized() -> None:
    text = "<script>alert(1)</script> **ok** [x](javascript:alert(1))"
    first, second = render_markdown(text), render_markdown(text)
    assert first == second
    assert "<script" not in first and "javascript:" not in first and "<strong>ok</strong>" in first
