#!/usr/bin/env python3
"""Dossier export bench: the PDF and the archive of a VAE dossier with 5 blocks and 300 pieces of evidence.

For each total size of evidence (default ~100 MiB and ~1 GiB) it writes 300 files of random bytes into
a fresh local evidence store (streamed, never held in memory), builds the dossier's snapshot (the
``DossierVersion`` schema: 5 blocks, 3 competencies each, 20 pieces of evidence per competency), then
runs, each in its own child process:

- ``pdf``: ``render_dossier_pdf`` (WeasyPrint) of the snapshot;
- ``archive``: ``write_archive`` of the PDF and every evidence file into a ZIP on disk.

Each child reports its time and its peak resident memory (``VmHWM`` from /proc/self/status, else
``ru_maxrss``). Target: the archive's peak does not grow with the size of the files (the 1 GiB
archive's peak within 32 MiB of the 100 MiB one's).

    .venv/bin/python bench/export.py [--sizes 100M,1G] [--files 300] [--json OUT] [--keep]

Exit status: 0 target met, 1 missed, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BLOCKS = 5
COMPETENCIES_PER_BLOCK = 3
TOLERANCE_MIB = 32


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def peak_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RandomReader:
    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def build(folder: Path, total: int, n_files: int) -> Path:
    """Fill an evidence store with ``n_files`` random files (``total`` bytes in all); return the snapshot's path."""
    from portfolio.storage import LocalStorage

    storage = LocalStorage(folder / "store")
    size = max(1, total // n_files)
    per_competency = max(1, n_files // (BLOCKS * COMPETENCIES_PER_BLOCK))
    blocks = []
    evidence_id = 0
    for b in range(1, BLOCKS + 1):
        competencies = []
        for c in range(1, COMPETENCIES_PER_BLOCK + 1):
            evidence = []
            for _ in range(per_competency):
                evidence_id += 1
                blob = storage.put_stream(RandomReader(size), filename=f"preuve-{evidence_id}.bin")
                evidence.append({"id": evidence_id, "title": f"Preuve n° {evidence_id}", "kind": "document",
                                 "files": [{"filename": f"preuve {evidence_id}.bin", "sha256": blob.sha256,
                                            "size": blob.size, "media_type": blob.media_type,
                                            "storage_key": blob.key}]})
            competencies.append({"code": f"RNCP28754BC0{b}-C{c}", "statement": f"Compétence {c} du bloc {b}",
                                 "narrative": "J'ai conduit ce travail : analyse, conception, tests. " * 20,
                                 "evidence": evidence})
        blocks.append({"code": f"RNCP28754BC0{b}", "title": f"Bloc {b}", "activities": "Activités. " * 50,
                       "context": "Contexte. " * 20, "means": "Moyens. " * 20, "experience_ids": [1],
                       "competencies": competencies})
    snapshot = {"candidate": {"name": "Bench Candidat", "email": "bench@example.org"},
                "certification": {"code": "RNCP28754", "title": "Concepteur développeur d'applications",
                                  "registration": "RNCP28754"},
                "presentation": "Parcours. " * 100, "version": 1, "sent_at": "2025-03-01T10:00:00+00:00",
                "experiences": [{"id": 1, "organisation": "ACME", "sector": "Industrie", "job_title": "Développeur",
                                 "start": "2015-01-01", "end": None, "time_basis": "full_time", "volunteer": False,
                                 "activities": "Développement", "tools": "Python"}],
                "blocks": blocks}
    path = folder / "snapshot.json"
    path.write_text(json.dumps(snapshot))
    return path


def child(step: str, folder: Path) -> None:
    from portfolio.services.dossier_export import render_dossier_pdf, write_archive
    from portfolio.storage import LocalStorage

    snapshot = json.loads((folder / "snapshot.json").read_text())
    base = peak_mib()
    start = time.perf_counter()
    if step == "pdf":
        pdf = render_dossier_pdf(snapshot, draft=False)
        (folder / "dossier.pdf").write_bytes(pdf)
        extra = {"pdf_bytes": len(pdf)}
    else:
        pdf = (folder / "dossier.pdf").read_bytes()
        with open(folder / "dossier.zip", "wb") as out:
            manifest = write_archive(snapshot, pdf, LocalStorage(folder / "store"), out, draft=False)
        extra = {"zip_bytes": (folder / "dossier.zip").stat().st_size, "files": len(manifest["files"])}
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "base_mib": base, **extra}))


def run_child(step: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", step, str(folder)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{step} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100M,1G")
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--json", dest="json_out")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    rows = []
    try:
        for text in args.sizes.split(","):
            total = parse_size(text)
            folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
            try:
                started = time.perf_counter()
                build(folder, total, args.files)
                setup = time.perf_counter() - started
                pdf = run_child("pdf", folder)
                archive = run_child("archive", folder)
                rows.append({"size": text, "bytes": total, "files": archive["files"], "setup_s": setup,
                             "pdf": pdf, "archive": archive})
            finally:
                if not args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    print(f"kept {folder}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'evidence':>10} {'files':>6} {'pdf s':>7} {'pdf peak MiB':>13} {'archive s':>10} {'MiB/s':>7} "
          f"{'archive peak MiB':>17} {'zip MiB':>8}")
    for r in rows:
        mib = r["bytes"] / 2 ** 20
        print(f"{r['size']:>10} {r['files']:>6} {r['pdf']['seconds']:>7.2f} {r['pdf']['peak_mib']:>13.1f} "
              f"{r['archive']['seconds']:>10.2f} {mib / r['archive']['seconds']:>7.1f} "
              f"{r['archive']['peak_mib']:>17.1f} {r['archive']['zip_bytes'] / 2 ** 20:>8.1f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))
    peaks = [r["archive"]["peak_mib"] for r in rows]
    ok = max(peaks) - min(peaks) <= TOLERANCE_MIB
    print(f"target (archive peak does not grow with the files, within {TOLERANCE_MIB} MiB): "
          f"{'met' if ok else 'MISSED'} ({' / '.join(f'{p:.1f}' for p in peaks)} MiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
