"""Source code as HTML: Pygments highlighting with line numbers, and language detection.

``highlight(source, filename)`` returns an HTML fragment (a ``div.highlight`` holding a table of line
numbers and code) styled by CSS classes only: serve :func:`pygments_css` as a stylesheet (no inline
``style`` attributes, so a strict Content-Security-Policy holds). The text is decoded as UTF-8 with
replacement characters and escaped by Pygments; nothing in the file can inject markup. Files longer
than :data:`MAX_HIGHLIGHT_BYTES` or :data:`MAX_HIGHLIGHT_LINES` are cut, with a note in French.

Languages are named as Pygments names them (``"Python"``, ``"C#"``, ``"TypeScript"``).
:func:`language_for_path` uses a fixed extension map only (fast, predictable: it is what archive
summaries count); :func:`language_of` also asks Pygments and looks at the first bytes (shebang).
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import PurePosixPath

from pygments import highlight as _pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename, guess_lexer
from pygments.util import ClassNotFound

__all__ = [
    "CSS_CLASS",
    "MAX_HIGHLIGHT_BYTES",
    "MAX_HIGHLIGHT_LINES",
    "decode_text",
    "highlight",
    "language_for_path",
    "language_of",
    "looks_binary",
    "pygments_css",
]

MAX_HIGHLIGHT_BYTES = 2 * 1024 * 1024
MAX_HIGHLIGHT_LINES = 20_000
CSS_CLASS = "highlight"
# Content guessing (shebang, modelines, analyse_text) only looks at the head of a file.
GUESS_BYTES = 8 * 1024

# Extensions counted as programming or markup languages in archive summaries. Data and prose formats
# (JSON, YAML, XML, Markdown, plain text) are left out on purpose: a thousand-line fixture is not code.
EXTENSION_LANGUAGES: dict[str, str] = {
    ".py": "Python", ".pyi": "Python", ".pyw": "Python",
    ".js": "JavaScript", ".mjs": "JavaScript", ".cjs": "JavaScript", ".jsx": "JSX",
    ".ts": "TypeScript", ".mts": "TypeScript", ".cts": "TypeScript", ".tsx": "TSX",
    ".java": "Java", ".kt": "Kotlin", ".kts": "Kotlin", ".scala": "Scala", ".groovy": "Groovy",
    ".go": "Go", ".rs": "Rust", ".c": "C", ".h": "C",
    ".cc": "C++", ".cpp": "C++", ".cxx": "C++", ".hpp": "C++", ".hh": "C++", ".hxx": "C++",
    ".cs": "C#", ".fs": "F#", ".vb": "VB.net", ".php": "PHP", ".rb": "Ruby", ".pl": "Perl",
    ".swift": "Swift", ".m": "Objective-C", ".dart": "Dart", ".lua": "Lua", ".r": "R",
    ".ex": "Elixir", ".exs": "Elixir", ".erl": "Erlang", ".hs": "Haskell", ".ml": "OCaml",
    ".clj": "Clojure", ".sql": "SQL", ".sh": "Bash", ".bash": "Bash", ".zsh": "Bash",
    ".ps1": "PowerShell", ".bat": "Batchfile", ".cmd": "Batchfile",
    ".html": "HTML", ".htm": "HTML", ".css": "CSS", ".scss": "SCSS", ".sass": "Sass", ".less": "LESS",
    ".vue": "Vue", ".svelte": "Svelte", ".twig": "Twig", ".jinja": "Jinja", ".j2": "Jinja",
    ".ipynb": "Jupyter Notebook",
}  # fmt: skip
FILENAME_LANGUAGES: dict[str, str] = {
    "Dockerfile": "Docker", "Containerfile": "Docker", "Makefile": "Makefile", "GNUmakefile": "Makefile",
    "CMakeLists.txt": "CMake", "Jenkinsfile": "Groovy", "Rakefile": "Ruby", "Gemfile": "Ruby",
}  # fmt: skip

_TEXT_NAMES = {"Text only", "Text output"}


def looks_binary(head: bytes) -> bool:
    """True when the first bytes hold a NUL byte (images, archives, compiled files, UTF-16 text)."""
    return b"\x00" in head[:GUESS_BYTES]


def decode_text(data: bytes) -> str:
    """UTF-8 with replacement characters, a leading byte-order mark dropped."""
    return data.decode("utf-8-sig", errors="replace")


def language_for_path(path: str) -> str | None:
    """Language by file name or extension only, from :data:`EXTENSION_LANGUAGES`; None if unknown."""
    name = PurePosixPath(path).name
    if name in FILENAME_LANGUAGES:
        return FILENAME_LANGUAGES[name]
    suffix = PurePosixPath(name).suffix.lower()
    return EXTENSION_LANGUAGES.get(suffix)


@lru_cache(maxsize=512)
def _lexer_class_name_for_filename(name: str) -> str | None:
    try:
        lexer = get_lexer_for_filename(name)
    except ClassNotFound:
        return None
    return None if lexer.name in _TEXT_NAMES else lexer.name


def _lexer_for(filename: str, head: bytes) -> Lexer:
    """Lexer chosen from the file name (disambiguated by content), then from content, else plain text."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    text = decode_text(head[:GUESS_BYTES])
    options = {"stripnl": False, "ensurenl": True}
    if name:
        try:
            return get_lexer_for_filename(name, text, **options)
        except ClassNotFound:
            pass
    if text.strip():
        try:
            lexer = guess_lexer(text, **options)
        except ClassNotFound:
            lexer = None
        if lexer is not None and lexer.name not in _TEXT_NAMES:
            return lexer
    return TextLexer(**options)


def language_of(filename: str, head: bytes = b"") -> str | None:
    """Language name of a file from its name, then its first bytes (shebang...); None for text/binary."""
    known = language_for_path(filename)
    if known:
        return known
    if looks_binary(head):
        return None
    name = PurePosixPath(filename.replace("\\", "/")).name
    if name and (by_name := _lexer_class_name_for_filename(name)):
        return by_name
    if not head.strip():
        return None
    lexer = _lexer_for("", head)
    return None if lexer.name in _TEXT_NAMES else lexer.name


def _formatter() -> HtmlFormatter:
    return HtmlFormatter(
        cssclass=CSS_CLASS,
        linenos="table",
        lineanchors="L",
        anchorlinenos=True,
        nowrap=False,
        noclasses=False,
        wrapcode=True,
    )


def _french_int(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def highlight(source: bytes, filename: str) -> str:
    """HTML of ``source`` highlighted with line numbers; long files are cut with a note (French)."""
    data = source
    note = None
    if len(data) > MAX_HIGHLIGHT_BYTES:
        data = data[:MAX_HIGHLIGHT_BYTES]
        # Do not end on half a line (nor half a UTF-8 character): drop the partial last line.
        cut = data.rfind(b"\n")
        if cut > 0:
            data = data[: cut + 1]
        note = f"Fichier tronqué : seuls les {MAX_HIGHLIGHT_BYTES // (1024 * 1024)} premiers Mio sont affichés."
    text = decode_text(data)
    lines = text.split("\n", MAX_HIGHLIGHT_LINES)
    if len(lines) > MAX_HIGHLIGHT_LINES and lines[-1]:
        text = "\n".join(lines[:MAX_HIGHLIGHT_LINES]) + "\n"
        note = f"Fichier tronqué : seules les {_french_int(MAX_HIGHLIGHT_LINES)} premières lignes sont affichées."
    lexer = _lexer_for(filename, data[:GUESS_BYTES])
    if not text:
        text = "\n"
    body = _pygments_highlight(text, lexer, _formatter())
    if note:
        body += f'<p class="code-truncated">{html.escape(note)}</p>'
    return body


def pygments_css(style: str = "default") -> str:
    """Stylesheet for :func:`highlight` output, every rule scoped under ``.highlight``."""
    css = HtmlFormatter(style=style, cssclass=CSS_CLASS).get_style_defs(f".{CSS_CLASS}")
    scoped = []
    for line in css.splitlines():
        if line.startswith(("pre ", "td.linenos", "span.linenos")):
            line = f".{CSS_CLASS} {line}"
        scoped.append(line)
    return "\n".join(scoped) + "\n"
