"""Media type from content: what the bytes are, never what the browser claimed.

Binary signatures win over text rules, so a polyglot such as ``GIF89a...<script>`` stays
``image/gif``: the download side (attachment unless on a safe inline list, ``nosniff``) is what
keeps such a file harmless, not this guess. Text is classed conservatively: any HTML-looking tag
in the first bytes makes it ``text/html``.
"""

from __future__ import annotations

import codecs
import json
import re

import puremagic
from flask_babel import gettext as _

SNIFF_SIZE = 64 * 1024  # how many leading bytes the sniffer looks at
OCTET_STREAM = "application/octet-stream"

_OPENDOCUMENT_RE = re.compile(rb"^PK\x03\x04.{26}mimetype(application/vnd\.oasis\.opendocument\.[a-z.-]+)", re.S)
_OOXML = {
    b"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    b"xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    b"ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
# Tags that open a document or carry active content: found anywhere, the text is HTML.
_HTML_ANYWHERE_RE = re.compile(
    rb"<(!doctype\s+html|html|head|body|script|iframe|frame|frameset|object|embed|applet|style|meta|"
    rb"link|base|form|img|title|template)[\s/>]",
    re.I,
)
# WHATWG's "text/html" sniffing patterns, which only count at the start of the text.
_HTML_START_RE = re.compile(rb"<(a|b|br|p|div|font|table|h1|!--)[\s/>]", re.I)
_SVG_RE = re.compile(rb"<svg[\s/>]", re.I)
_XML_START_RE = re.compile(rb"<(\?xml[\s?]|[A-Za-z_][\w:.-]*[\s/>])")
_JSON_START_RE = re.compile(rb'\{\s*("|\})|\[\s*([\[{"\]\d-]|true|false|null)')
_LEADING_JUNK_RE = re.compile(rb"(\s|<!--.*?-->|<\?xml[^>]*\?>|<!doctype\s[^>]*>)*", re.I | re.S)
_TEXT_CONTROLS = set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


# Programs, whatever they are named: never evidence (see ``executable_kind``).
PE, ELF, MACHO, SCRIPT = ("application/vnd.microsoft.portable-executable", "application/x-executable",
                          "application/x-mach-binary", "application/x-executable-script")
EXECUTABLE_TYPES = frozenset({PE, ELF, MACHO, SCRIPT})
_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
# A script with a shebang is code when named as code; named as a document or an image, it is disguised.
_DOCUMENT_SUFFIXES = frozenset({
    "pdf", "doc", "docx", "odt", "ods", "odp", "xls", "xlsx", "ppt", "pptx", "rtf", "txt", "md", "csv",
    "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "tif", "tiff", "html", "htm", "xml", "json",
    "zip", "mp4", "mp3", "avi", "mov",
})


def executable_kind(head: bytes, filename: str | None = None) -> str | None:
    """The media type of a program (Windows PE, ELF, Mach-O, or a shebang script named as a document),
    or None. The bytes decide; the name only tells a disguised script from a script named as one."""
    if head.startswith(b"MZ") and len(head) >= 64:
        offset = int.from_bytes(head[60:64], "little")
        if head[offset:offset + 4] == b"PE\0\0" or offset + 4 > len(head):
            return PE  # a PE header, or an MZ stub whose header lies beyond what was read
    if head.startswith(b"\x7fELF"):
        return ELF
    if head.startswith(_MACHO_MAGICS) or (head.startswith(b"\xca\xfe\xba\xbe") and 0 < head[7] < 0x20):
        return MACHO  # (a fat binary; a Java class file has its version there, 0x2d and more)
    if head.startswith(b"#!") and filename:
        suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if suffix in _DOCUMENT_SUFFIXES:
            return SCRIPT
    return None


def is_executable(media_type: str | None) -> bool:
    return media_type in EXECUTABLE_TYPES


def sniff_media_type(head: bytes, filename: str | None = None) -> str:
    """Guess the media type of a file from its first bytes (``filename`` only breaks text ties)."""
    if not head:
        return OCTET_STREAM
    return (executable_kind(head, filename) or _binary_type(head) or _text_type(head, filename)
            or _puremagic_type(head) or OCTET_STREAM)


def _binary_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_type(head)
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head[257:262] == b"ustar":
        return "application/x-tar"
    return None


def _zip_type(head: bytes) -> str:
    # OpenDocument stores an uncompressed "mimetype" entry first; OOXML names its parts
    # (word/, xl/, ppt/) in the local headers near the start of the archive.
    if match := _OPENDOCUMENT_RE.match(head):
        return match.group(1).decode("ascii")
    if b"[Content_Types].xml" in head:
        for folder, media_type in _OOXML.items():
            if re.search(rb"PK\x03\x04.{26}" + re.escape(folder), head, re.S):
                return media_type
    return "application/zip"


def _decode_text(head: bytes) -> str | None:
    """The head as text if it is UTF-8 without binary control bytes (a cut last character is fine)."""
    if any(byte in _TEXT_CONTROLS for byte in head):
        return None
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return None


def _text_type(head: bytes, filename: str | None) -> str | None:
    text = _decode_text(head)
    if text is None:
        return None
    body = text.encode("utf-8").lstrip()
    junk = _LEADING_JUNK_RE.match(body)  # matches always (possibly empty)
    start = body[junk.end() if junk else 0 :]
    lower_name = (filename or "").lower()

    if re.match(rb"<!doctype\s+html|<html[\s>]", body, re.I):
        return "text/html"
    if _SVG_RE.search(body):
        return "image/svg+xml"
    if _HTML_ANYWHERE_RE.search(body) or _HTML_START_RE.match(start):
        return "text/html"
    if body.startswith(b"<?xml") or _XML_START_RE.match(start):
        return "application/xml"
    if _is_json(body) or (lower_name.endswith(".json") and body[:1] in (b"{", b"[")):
        return "application/json"
    return "text/plain"


def _is_json(body: bytes) -> bool:
    if body[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(body)
    except ValueError:
        # A head cut in the middle of a document does not parse: judge by its opening.
        return len(body) >= SNIFF_SIZE // 2 and bool(_JSON_START_RE.match(body))
    return True


def _puremagic_type(head: bytes) -> str | None:
    """Other binary formats (audio, video, archives...), trusted only when the match is strong."""
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        media_type = match.mime_type
        # Text-like answers are decided by the rules above, never by a loose signature.
        if match.confidence >= 0.8 and media_type and not re.search(r"text|html|xml|script", media_type):
            return media_type
    return None


def executable_label(media_type: str) -> str:
    """What kind of program a refused file is, in the reader's language."""
    return {PE: _("exécutable Windows"), ELF: _("exécutable Linux (ELF)"), MACHO: _("exécutable macOS (Mach-O)")
            }.get(media_type, _("script exécutable déguisé en document"))
