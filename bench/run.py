#!/usr/bin/env python3
"""Run every bench in bench/ (each ``*.py`` but this one), one after the other, with its defaults.

    python bench/run.py            # all of them (what `make bench` does)
    python bench/run.py upload     # only bench/upload.py
    python bench/run.py upload -- --sizes 10M,100M   # arguments after -- go to every bench run

Exit status: the worst of the benches' (0 all targets met, 1 a target missed, 2 an error).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    benches = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if argv:
        wanted = {name.removesuffix(".py") for name in argv}
        unknown = wanted - {p.stem for p in benches}
        if unknown:
            print(f"no such bench: {', '.join(sorted(unknown))} (have: {', '.join(p.stem for p in benches)})")
            return 2
        benches = [p for p in benches if p.stem in wanted]
    worst = 0
    for bench in benches:
        print(f"=== {bench.relative_to(HERE.parent)} ===", flush=True)
        code = subprocess.run([sys.executable, str(bench), *extra], check=False).returncode  # noqa: S603
        print(f"=== {bench.name}: exit {code} ===\n", flush=True)
        worst = max(worst, code if code >= 0 else 2)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
