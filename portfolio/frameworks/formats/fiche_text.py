"""The free text of the France Compétences fiches: HTML, bullets and separators, cut into statements."""

from __future__ import annotations

import html
import re

from portfolio.frameworks.model import MAX_STATEMENT_CHARS, MAX_UNSPLIT_CHARS

# --------------------------------------------------------------------------------------------
# Free text of the fiches: HTML, bullets and separators
# --------------------------------------------------------------------------------------------

_DROPPED_MARKUP_RE = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", re.I | re.S)
_LI_OPEN_RE = re.compile(r"<li\b[^>]*>", re.I)
_BREAK_TAG_RE = re.compile(
    r"</?(?:p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|dl|dt|dd|section|blockquote)\b[^>]*>", re.I
)
# A tag starts right after "<": "a < b et c > d" in plain text is left alone.
_ANY_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]*>")
# Unambiguous bullet glyphs, which may also start items in the middle of a flattened line.
_INLINE_BULLETS = "•●▪■►▶➢➤✓✔◆◦○"
_INLINE_BULLET_RE = re.compile(rf"\s*[{_INLINE_BULLETS}]\s*")
# The fiches separate items with runs of spaces; two spaces count only after punctuation, so
# that an accidental double space inside a sentence does not cut it.
_SPACE_RUN_RE = re.compile(r" {3,}|(?<=[.;:!?]) {2,}")
_BULLET_RE = re.compile(
    r"^(?:"
    rf"[-–—‐‑−*{_INLINE_BULLETS}▸▹‣⁃→]+"  # dashes, stars and bullet glyphs
    r"|[·o](?=\s)"  # Word's bullets; "·" alone, as it also writes inclusive French (apprenant·e)
    r"|\(?\d{1,2}(?:\.\d{1,2})+\.?(?=\s)"  # 1.2  1.2.
    r"|\(?\d{1,2}\s?[.)°\-–](?=\s|$)"  # 1.  1)  1°  1 -
    r"|\d{1,2}[.)](?=[A-ZÀ-Ý])"  # 1.Analyser
    r"|\(\d{1,2}\)"  # (1)
    r"|\(?(?:[a-zA-Z]|ii|iii|iv|vi|vii|viii|ix)[.)](?=\s)"  # a)  a.  (a)  ii)
    r")\s*"
)
_ENUM_START_RE = re.compile(r"^\(?(\d{1,2}|[a-zA-Z])([.)])\s")
_INLINE_DASH_RE = re.compile(r"\s[-–]\s+(?=[A-ZÀ-ÖØ-Ý][a-zà-öø-ÿ])")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[«\"(]?[A-ZÀ-ÖØ-Ý])|(?<=;)\s+")
_ENDS_ITEM_RE = re.compile(r"[.;!?]$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = dict.fromkeys(map(ord, "\t\u00a0\u2007\u202f\u2009\u200a\u3000"), " ")


def _html_to_lines(text: str) -> list[str]:
    """Turn fiche text (plain, HTML, or HTML escaped once more) into its non-empty raw lines.

    Block-level tags and runs of spaces become line breaks, ``<li>`` opens a bulleted line,
    other tags vanish; whitespace inside a line is left for the callers to collapse.
    """
    if "&" in text:
        # After XML parsing, escaped HTML (&lt;li&gt;) is still escaped once; entities too.
        text = html.unescape(text)
    text = _DROPPED_MARKUP_RE.sub(" ", text)
    text = _LI_OPEN_RE.sub("\n• ", text)
    text = _BREAK_TAG_RE.sub("\n", text)
    text = _ANY_TAG_RE.sub("", text)
    text = text.translate(_INVISIBLE).translate(_SPACES).replace("\r\n", "\n").replace("\r", "\n")
    text = _INLINE_BULLET_RE.sub(lambda m: f"\n{m.group().strip()} ", text)
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(piece.strip() for piece in _SPACE_RUN_RE.split(line) if piece.strip())
    return lines


def squash(text: str) -> str:
    """Collapse every whitespace run to one space."""
    return " ".join(text.split())


def clean_text(text: str | None) -> str:
    """Plain text of a fiche field: no HTML, one item per line, single spaces inside lines."""
    return "\n".join(squash(line) for line in _html_to_lines(text or ""))


def _next_marker(marker: str) -> str:
    """The enumeration marker after ``marker``: 1 → 2, a → b."""
    return str(int(marker) + 1) if marker.isdigit() else chr(ord(marker) + 1)


def _split_enumeration(line: str) -> list[str]:
    """Cut ``1. A 2. B 3. C`` (or ``a) A b) B``) written on one line at its successive markers.

    Only the next expected marker is looked for, so a "2." inside a sentence is left alone
    unless the line really started an enumeration at 1.
    """
    match = _ENUM_START_RE.match(line)
    if not match:
        return [line]
    marker, terminator = match.groups()
    pieces: list[str] = []
    start = 0
    while True:
        marker = _next_marker(marker)
        found = re.compile(rf"\s\(?{re.escape(marker)}{re.escape(terminator)}\s").search(line, start + 1)
        if not found:
            break
        pieces.append(line[start : found.start()])
        start = found.start() + 1
    pieces.append(line[start:])
    return pieces


def _split_inline(line: str) -> list[str]:
    """Cut one raw line into the items that were flattened onto it (enumerations, dash lists)."""
    pieces = _split_enumeration(line)
    if len(pieces) == 1 and line[:1] in "-–" and _INLINE_DASH_RE.search(line):
        # "- Analyser X - Concevoir Y": a dash list that lost its line breaks.
        pieces = [f"- {piece}" for piece in _INLINE_DASH_RE.split(line)]
    return pieces


def _strip_bullet(piece: str) -> tuple[bool, str]:
    """Remove the leading bullet or bullets of ``piece``; tell whether there was one."""
    bulleted = False
    for _ in range(2):  # "- 1. Analyser" carries two markers
        match = _BULLET_RE.match(piece)
        if not match or not match.group():
            break
        bulleted = True
        piece = piece[match.end() :]
    return bulleted, piece


def _tidy(content: str) -> str:
    """Collapse spaces and drop the list punctuation an item ends with (``;``, ``,``)."""
    return squash(content).rstrip(" ;,")


def _collect_items(lines: list[str]) -> list[str]:
    """Gather raw lines into competency statements (bullets, headings, continuations)."""
    items: list[str] = []
    pending_bullet = False  # a bullet alone on its line introduces the next line
    can_continue = False  # the previous line may go on on the next one
    for line in lines:
        for piece in _split_inline(line):
            bulleted, content = _strip_bullet(piece.strip())
            ended = bool(_ENDS_ITEM_RE.search(content.strip()))
            content = _tidy(content)
            if not any(ch.isalpha() for ch in content):
                pending_bullet = pending_bullet or bulleted
                continue
            if content.endswith(":"):
                # "Compétences :", "Le titulaire est capable de :": an introduction, not an item.
                pending_bullet = can_continue = False
                continue
            is_bullet = bulleted or pending_bullet
            pending_bullet = False
            if not is_bullet and can_continue and items and content[0].islower():
                items[-1] = f"{items[-1]} {content}"
            else:
                items.append(content)
            can_continue = not ended
    return items


def split_competencies(text: str | None) -> tuple[list[str], bool]:
    """Split a ``LISTE_COMPETENCES`` text into competency statements.

    Tolerates the bullet styles found in the fiches (``-``, ``*``, ``•``, ``o``, ``–``, ``1.``,
    ``1)``, ``a)``), HTML lists and paragraphs (even escaped), runs of spaces used as separators,
    headings ending with ``:`` and lines wrapped mid-sentence. A text with no visible structure is
    cut into sentences. Returns ``(items, ok)``; when ``ok`` is False the text could not be split
    sensibly: ``items`` then holds the whole cleaned text as one item, or nothing at all when the
    text has no statement (empty, or only headings and bullets).
    """
    lines = _html_to_lines(text or "")
    items = _collect_items(lines)
    if len(items) == 1:
        sentences = [_tidy(s) for s in _SENTENCE_END_RE.split(items[0])]
        sentences = [s for s in sentences if any(ch.isalpha() for ch in s)]
        if len(sentences) > 1:
            items = sentences
        elif len(items[0]) > MAX_UNSPLIT_CHARS:
            return [clean_text(text)], False
    if not items:
        return [], False
    if any(len(item) > MAX_STATEMENT_CHARS for item in items):
        return [clean_text(text)], False
    return items, True

