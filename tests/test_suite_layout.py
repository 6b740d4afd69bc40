"""The suite's own rules: test modules share builders through tests/factories.py and fixtures through the
conftest files, never by importing one another; no temporary markers are left in the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
TEST_MODULE_IMPORT = re.compile(r"^\s*(from|import)\s+(tests(\.\w+)*\.test_\w+|\.+test_\w+)", re.MULTILINE)
TEMP_MARKER = re.compile(r"\bTEMP\b")


def test_no_test_module_imports_another() -> None:
    offenders = [f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for match in TEST_MODULE_IMPORT.finditer(path.read_text(encoding="utf-8"))]
    assert offenders == [], "move what is shared to tests/factories.py or a conftest.py"


def test_no_temp_markers() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for folder in ("portfolio", "tests", "migrations", "bench", "tools")
                 for path in sorted((ROOT / folder).rglob("*"))
                 if path.suffix in {".py", ".html", ".js", ".css", ".sh"} and path != Path(__file__).resolve()
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if TEMP_MARKER.search(line)]
    assert offenders == []
