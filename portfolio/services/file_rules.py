"""What a stored file may be called and weigh: rules shared by the upload stream and the evidence service.

Kept apart so that portfolio.uploads (which applies them while the request arrives) and
services.evidence (which records the files) both import them without importing each other.
"""

from __future__ import annotations

from flask_babel import gettext as _

from portfolio.formatting import human_size
from portfolio.services.errors import DomainError

MAX_FILENAME = 255


class LimitExceeded(DomainError):
    code = "limit_exceeded"


def clean_filename(name: str) -> str:
    """Keep the name for display: no folders, no control or bidi-override characters, bounded length."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    bidi = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
            "\u200e", "\u200f"}
    name = "".join(ch for ch in name if ch.isprintable() and ch not in bidi).strip().strip(".")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = (stem if dot else name)[: MAX_FILENAME - len(ext) - 1] + (f".{ext}" if ext else "")
    return name or "fichier"


def size_refusal(filename: str, size: int, per_file: int, quota: int, remaining: int) -> LimitExceeded:
    """The refusal of a file too large for the per-file limit, or for what is left of the quota."""
    if size > per_file:
        return LimitExceeded(_(
            "Le fichier « %(name)s » pèse %(size)s : la limite est de %(limit)s par fichier "
            "(%(over)s de trop).", name=filename, size=human_size(size), limit=human_size(per_file),
            over=human_size(size - per_file)), field="files")
    return LimitExceeded(_(
        "Votre espace est presque plein : « %(name)s » (%(size)s) dépasse les %(left)s qui restent "
        "sur %(quota)s (%(over)s de trop).", name=filename, size=human_size(size),
        left=human_size(max(remaining, 0)), quota=human_size(quota),
        over=human_size(size - max(remaining, 0))), field="files")


