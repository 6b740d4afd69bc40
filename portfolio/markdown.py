"""User text: Markdown rendered to HTML, then sanitized through an allow-list (bleach).

Raw HTML in the source is escaped by the sanitizer unless its tag is allowed; scripts, event
handlers, ``style`` and ``javascript:``/``data:`` URLs never survive.
"""

from __future__ import annotations

import re
import threading
from collections.abc import MutableMapping
from functools import lru_cache, partial

import bleach
import markdown as md
from markupsafe import Markup

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
})
ALLOWED_ATTRIBUTES = {"a": ["href", "title"], "abbr": ["title"], "th": ["align"], "td": ["align"]}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
MAX_SOURCE_LENGTH = 50_000


#: A tag's attributes as bleach's linkifier hands them to its callbacks: (namespace, name) -> value.
_Attrs = MutableMapping[tuple[str | None, str], str]


def _harden_links(attrs: _Attrs, new: bool = False) -> _Attrs:
    attrs[(None, "rel")] = "nofollow noopener noreferrer"
    return attrs


def _new_cleaner() -> bleach.sanitizer.Cleaner:
    return bleach.sanitizer.Cleaner(
        tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS, strip=True,
        strip_comments=True,
        filters=[partial(bleach.linkifier.LinkifyFilter, callbacks=[_harden_links], skip_tags={"pre", "code"})],
    )


#: A Cleaner holds its HTML parser's state: one per thread (a shared one broke under gunicorn's
#: threads, found by bench/load.py: "IndexError: pop from empty list" in html5lib, a 500).
_local = threading.local()


def _cleaner() -> bleach.sanitizer.Cleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _new_cleaner()
    return cleaner


_HEADING = re.compile(r"<(/?)h([1-6])(?=[\s>])", re.IGNORECASE)
#: A learner's text sits under the page's own title (h1) and section (h2): its "# Titre" is an h3.
DEFAULT_HEADING_SHIFT = 2


def shift_headings(html: str, shift: int) -> str:
    """Move every heading ``shift`` levels down (h1 → h3 with 2), stopping at h6."""
    if shift <= 0:
        return html
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + shift, 6)}", html)


def render_markdown(source: str | None, shift: int = DEFAULT_HEADING_SHIFT) -> Markup:
    """Markdown → safe HTML (an allow-list of tags, attributes and URL schemes); its headings start at
    ``h(1 + shift)`` so they never compete with the page's own."""
    if not source:
        return Markup("")
    source = source[:MAX_SOURCE_LENGTH]
    if len(source) > CACHED_SOURCE_MAX:
        return _render.__wrapped__(source, shift)
    return _render(source, shift)


CACHED_SOURCE_MAX = 8192  # longer texts are rendered each time: the cache stays a few MiB


@lru_cache(maxsize=2048)
def _render(source: str, shift: int) -> Markup:
    # A pure function of its text: assessments and comments never change, and a progress page shows
    # the same ones on every visit (bench/load.py: parsing them again was most of its time).
    html = md.markdown(source, extensions=["extra", "sane_lists"], output_format="html")
    html = shift_headings(html, shift)
    cleaned = _cleaner().clean(html)
    return Markup(cleaned)  # noqa: S704 — sanitized just above
