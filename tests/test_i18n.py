"""The English catalogue covers every message, and the compiled catalogue matches its source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
EN = ROOT / "portfolio" / "translations" / "en" / "LC_MESSAGES"


def test_every_message_has_an_english_translation():
    result = subprocess.run([sys.executable, "tools/i18n.py", "--check"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, "untranslated messages (run python tools/i18n.py):\n" + result.stdout


def _plain(value):  # type: ignore[no-untyped-def]
    # A plural message is a (singular, plural) pair: a tuple from the .po, a list from the .mo.
    return tuple(value) if isinstance(value, list | tuple) else value


def test_compiled_catalogue_is_up_to_date():
    with (EN / "messages.po").open("rb") as fp:
        source = {_plain(m.id): _plain(m.string) for m in read_po(fp) if m.id}
    with (EN / "messages.mo").open("rb") as fp:
        compiled = {_plain(m.id): _plain(m.string) for m in read_mo(fp) if m.id}
    assert compiled == source, "run python tools/i18n.py to recompile"
