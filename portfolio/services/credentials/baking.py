"""Baked badge images (OB 3.0 § 5.3): the VC-JWT inside a PNG ``iTXt`` chunk or an SVG element.

PNG: one uncompressed ``iTXt`` chunk with the keyword ``openbadgecredential`` whose text is the compact
JWS, right after ``IHDR``. SVG: ``xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"`` on the root and,
as its first child, ``<openbadges:credential verify="JWS"/>``. The artwork is drawn here (no font files,
no network): a medal with the block's short code.
"""

from __future__ import annotations

import struct
import zlib
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = b"openbadgecredential"
OB_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
MAX_IMAGE_BYTES = 5 * 1024 * 1024


class BakingError(ValueError):
    """An image that does not hold a credential the way the baking section says."""


def badge_svg(*, code: str, title: str, issuer: str, token: str | None = None) -> str:
    """The badge artwork as SVG; with ``token``, baked."""
    title_lines = _wrap(title, 28)[:3]
    tspans = "".join(f'<tspan x="256" dy="{0 if i == 0 else 26}">{escape(line)}</tspan>'
                     for i, line in enumerate(title_lines))
    baked = f"<openbadges:credential verify={quoteattr(token)}/>" if token else ""
    namespace = f' xmlns:openbadges="{OB_NAMESPACE}"' if token else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="{SVG_NAMESPACE}"{namespace} viewBox="0 0 512 512" width="512" height="512" '
        f'role="img" aria-label={quoteattr(f"{code} — {title}")}>'
        f"{baked}"
        f"<title>{escape(code)} — {escape(title)}</title>"
        '<path d="M176 330 L132 500 L196 462 L232 512 L256 360 Z" fill="#7a1f3d"/>'
        '<path d="M336 330 L380 500 L316 462 L280 512 L256 360 Z" fill="#7a1f3d"/>'
        '<circle cx="256" cy="220" r="200" fill="#1d3f72"/>'
        '<circle cx="256" cy="220" r="176" fill="#ffffff"/>'
        '<circle cx="256" cy="220" r="166" fill="none" stroke="#c8a43a" stroke-width="6"/>'
        f'<text x="256" y="180" text-anchor="middle" font-family="sans-serif" font-size="64" '
        f'font-weight="700" fill="#1d3f72">{escape(_short(code))}</text>'
        f'<text x="256" y="230" text-anchor="middle" font-family="sans-serif" font-size="20" '
        f'fill="#222222">{tspans}</text>'
        f'<text x="256" y="335" text-anchor="middle" font-family="sans-serif" font-size="16" '
        f'fill="#555555">{escape(issuer[:40])}</text>'
        "</svg>\n"
    )


def _short(code: str) -> str:
    """``BC01`` from ``RNCP28754BC01`` (the fiche code is in the title line below)."""
    for marker in ("BC", "RS"):
        at = code.rfind(marker)
        if at > 0:
            return code[at:]
    return code[-8:]


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        lines.append(current)
    return lines


# --- PNG -----------------------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def badge_png(size: int = 256) -> bytes:
    """The medal as an RGB PNG (pure Python: concentric discs, no text)."""
    centre, outer, ring, inner = size / 2, size * 0.47, size * 0.41, size * 0.38
    navy, gold, white, background = (0x1D, 0x3F, 0x72), (0xC8, 0xA4, 0x3A), (0xFF, 0xFF, 0xFF), (0xF4, 0xF4, 0xF4)
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            d = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
            colour = (background if d > outer else navy if d > ring else gold if d > inner
                      else navy if d < size * 0.12 else white)
            rows.extend(colour)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9))
            + _chunk(b"IEND", b""))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise BakingError("not a PNG")
    found, at = [], len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        if len(body) != length:
            raise BakingError("truncated PNG chunk")
        found.append((kind, body))
        at += 12 + length
        if kind == b"IEND":
            break
    return found


def bake_png(png: bytes, token: str) -> bytes:
    """Insert the credential's ``iTXt`` chunk after ``IHDR`` (an existing one is replaced)."""
    chunks = [(k, b) for k, b in _chunks(png) if not (k == b"iTXt" and b.split(b"\0", 1)[0] == PNG_KEYWORD)]
    # keyword, NUL, compression flag 0, method 0, empty language tag + NUL, empty translated keyword + NUL
    itxt = PNG_KEYWORD + b"\0" + b"\0\0" + b"\0" + b"\0" + token.encode("ascii")
    out = PNG_SIGNATURE
    for kind, body in chunks:
        out += _chunk(kind, body)
        if kind == b"IHDR":
            out += _chunk(b"iTXt", itxt)
    return out


def unbake_png(data: bytes) -> str:
    for kind, body in _chunks(data):
        if kind != b"iTXt":
            continue
        keyword, _, rest = body.partition(b"\0")
        if keyword != PNG_KEYWORD:
            continue
        if len(rest) < 2 or rest[0] != 0:
            raise BakingError("compressed openbadgecredential chunk")
        language_end = rest.index(b"\0", 2)
        translated_end = rest.index(b"\0", language_end + 1)
        return rest[translated_end + 1:].decode("utf-8").strip()
    raise BakingError("no openbadgecredential chunk")


# --- SVG -----------------------------------------------------------------------------------------------

def unbake_svg(data: bytes | str) -> str:
    """The compact JWS of the first ``openbadges:credential`` element (``verify``), or its JSON body."""
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml raises its own errors for entities, ParseError otherwise
        raise BakingError("unreadable SVG") from exc
    for element in root.iter(f"{{{OB_NAMESPACE}}}credential"):
        verify = element.get("verify")
        if verify:
            return verify.strip()
        if element.text and element.text.strip():
            return element.text.strip()
        break
    raise BakingError("no openbadges:credential element")
