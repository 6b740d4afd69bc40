"""Write ``tests/module_costs.json`` from a JUnit report of a whole run: seconds spent per test module.

    .venv/bin/python -m pytest -n 3 --dist loadfile --junitxml=/tmp/junit.xml
    .venv/bin/python tools/test_costs.py /tmp/junit.xml

``tests/conftest.py`` hands the costliest modules to the test processes first, so that no long module
starts last and leaves the other processes idle (``--dist loadfile`` keeps a module in one process).
A module missing from the file counts as one second; the order is only a schedule, never a result.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from defusedxml import ElementTree

OUT = Path(__file__).resolve().parent.parent / "tests" / "module_costs.json"


def module_of(classname: str) -> str:
    """``tests.browser.test_ui`` or ``tests.test_api.TestSomething`` → ``tests/browser/test_ui.py``."""
    parts = classname.split(".")
    while parts and not parts[-1].startswith("test_"):
        parts.pop()
    return "/".join(parts) + ".py"


def main(report: str) -> int:
    costs: Counter[str] = Counter()
    for case in ElementTree.parse(report).iter("testcase"):
        costs[module_of(case.get("classname", ""))] += float(case.get("time") or 0)
    ordered = {name: round(seconds, 1) for name, seconds in costs.most_common() if name != ".py"}
    OUT.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}: {len(ordered)} modules, "
          f"{sum(ordered.values()):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
