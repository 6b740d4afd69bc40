"""User text: Markdown rendered to HTML, then sanitized through an allow-list (bleach).

Raw HTML in the source is escaped by the sanitizer unless its tag is allowed; scripts, event
handlers, ``style`` and ``javascript:``/``data:`` URLs never survive.
"""

from __future__ import annotations

from functools import partial

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


def _harden_links(attrs: dict, new: bool = False) -> dict:
    attrs[(None, "rel")] = "nofollow noopener noreferrer"
    return attrs


_cleaner = bleach.sanitizer.Cleaner(
    tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS, strip=True,
    strip_comments=True,
    filters=[partial(bleach.linkifier.LinkifyFilter, callbacks=[_harden_links], skip_tags={"pre", "code"})],
)


def render_markdown(source: str | None) -> Markup:
    """Markdown → safe HTML (an allow-list of tags, attributes and URL schemes)."""
    if not source:
        return Markup("")
    html = md.markdown(source[:MAX_SOURCE_LENGTH], extensions=["extra", "sane_lists"], output_format="html")
    cleaned = _cleaner.clean(html)
    return Markup(cleaned)  # noqa: S704 — sanitized just above
