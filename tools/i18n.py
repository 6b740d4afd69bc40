"""Keep the translation catalogues in step with the code.

    python tools/i18n.py            extract messages, merge them into each catalogue, compile
    python tools/i18n.py --check    exit 1 if a message has no translation (used by the tests)

Source strings are French (the default language); ``portfolio/translations/en`` holds English.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "portfolio" / "translations"
POT = ROOT / "build" / "messages.pot"


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=ROOT)  # noqa: S603


def extract() -> None:
    POT.parent.mkdir(exist_ok=True)
    # Babel skips folders named "_*" by default: the shared macros live in templates/_macros.
    run("extract", "-F", "babel.cfg", "--ignore-dirs", ".*", "-k", "_l", "-k", "lazy_gettext", "--no-location",
        "--sort-output", "-o", str(POT), ".")


def main() -> int:
    extract()
    if not any(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        print("No catalogue found under portfolio/translations.")
        return 1
    if "--check" in sys.argv:
        from babel.messages.pofile import read_po

        with POT.open("rb") as fp:
            wanted = {m.id for m in read_po(fp) if m.id}
        missing = []
        for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
            with po.open("rb") as fp:
                catalog = read_po(fp)
            for msgid in sorted(wanted, key=str):
                message = catalog.get(msgid)
                # A plural message's string is a tuple: every form must be translated.
                forms = message.string if message is not None and isinstance(message.string, tuple) else None
                if message is None or not message.string or message.fuzzy or (forms and not all(forms)):
                    missing.append(f"{po.parent.parent.name}: {msgid}")
        print("\n".join(missing) or "All messages are translated.")
        return 1 if missing else 0
    for po in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        # Width 120, as the catalogues are written: babel's default (76) would rewrap every long message.
        run("update", "-i", str(POT), "-o", str(po), "-l", po.parent.parent.name, "--no-fuzzy-matching",
            "--width", "120")
    run("compile", "-d", str(TRANSLATIONS), "--statistics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
