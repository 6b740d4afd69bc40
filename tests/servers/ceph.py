"""Start/stop a throw-away single-node Ceph RADOS Gateway (a real S3 server).

Thin wrapper around ``tests/servers/ceph_rgw.sh``; see ``tests/servers/README.md``.
No pytest fixtures here: callers wire them, e.g.::

    if not ceph_available():
        pytest.skip("Ceph RGW binaries not installed")
    tmpdir = tmp_path_factory.mktemp("ceph")
    env = start_ceph(tmpdir)
    try:
        yield env  # AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
    finally:
        stop_ceph(tmpdir)
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().with_name("ceph_rgw.sh")

# Everything ceph_rgw.sh runs (packages radosgw, ceph-mon, ceph-osd, ceph-common).
REQUIRED_BINARIES = (
    "radosgw",
    "radosgw-admin",
    "ceph-mon",
    "ceph-osd",
    "ceph-authtool",
    "monmaptool",
    "ceph",
)

ENV_KEYS = ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")

START_TIMEOUT = 600  # seconds for the whole bootstrap (normally well under 30 s)
STOP_TIMEOUT = 120


class CephStartError(RuntimeError):
    """ceph_rgw.sh start failed; the message carries its output (incl. log tails)."""


def ceph_available() -> bool:
    """True when every binary the bootstrap needs is on PATH."""
    return all(shutil.which(name) for name in REQUIRED_BINARIES)


def _run(action: str, tmpdir: os.PathLike[str] | str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), action, os.fspath(tmpdir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_env(tmpdir: os.PathLike[str] | str) -> dict[str, str]:
    """Parse DIR/env (KEY=VALUE lines) written by a successful start."""
    env: dict[str, str] = {}
    for line in (Path(tmpdir) / "env").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        parts = shlex.split(value)
        env[key.strip()] = parts[0] if parts else ""
    missing = [k for k in ENV_KEYS if not env.get(k)]
    if missing:
        raise CephStartError(f"{Path(tmpdir) / 'env'} lacks {', '.join(missing)}")
    return env


def start_ceph(tmpdir: os.PathLike[str] | str) -> dict[str, str]:
    """Bootstrap mon + OSD + radosgw under *tmpdir*; return the S3 settings.

    The returned dict has AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY and AWS_REGION. Raises CephStartError on failure
    (the script has then already stopped whatever it had started).
    """
    try:
        proc = _run("start", tmpdir, START_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        stop_ceph(tmpdir)
        raise CephStartError(f"ceph_rgw.sh start timed out after {START_TIMEOUT}s") from exc
    if proc.returncode != 0:
        raise CephStartError(
            f"ceph_rgw.sh start {tmpdir} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return read_env(tmpdir)


def stop_ceph(tmpdir: os.PathLike[str] | str) -> None:
    """Stop every process started under *tmpdir*. Idempotent; never raises on a clean stop."""
    if not Path(tmpdir).is_dir():
        return
    proc = _run("stop", tmpdir, STOP_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"ceph_rgw.sh stop {tmpdir} failed (exit {proc.returncode}):\n{proc.stderr}")
