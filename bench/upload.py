#!/usr/bin/env python3
"""Upload bench: a large file through the app, beside a direct upload to the same store.

For each backend (local disk, S3) and each size (default 100 MiB and 1 GiB) it measures:

- ``app``: ``POST /api/v1/evidence`` (multipart, streamed by curl) to a gunicorn worker;
- ``boto3 direct`` (S3): ``boto3.client("s3").upload_file`` of the same file to the same server;
- ``disk copy`` (local): copy + fsync of the same file on the same filesystem, for reference;
- ``presigned``: ``POST /api/v1/uploads`` → presigned POST straight to S3 → ``POST /api/v1/evidence``
  with ``staged=<key>``; the file bytes should not go through the app at all.

Every app measurement runs on a fresh gunicorn (one worker, four threads), whose worker's peak
resident memory (``VmHWM``) is read from ``/proc`` after the upload. The upload timed through the
app is the worker's second of that size (``--prime``, the default): a worker in service has served
uploads before, and keeps their part buffers (portfolio.storage.s3). The first one, on a worker just
started, is timed too and reported on a ``note:`` line; ``--no-prime`` times that one instead. The S3
server is a throw-away Ceph RADOS Gateway when installed (``tests/servers/ceph.py``), else moto in a child process.

    .venv/bin/python bench/upload.py [--sizes 100M,1G] [--backend local|s3|both] [--repeat 3]
                                     [--warmup 1] [--server auto|ceph|moto] [--json OUT] [--keep]

Each measurement runs ``--repeat`` times, after ``--warmup`` rounds that are not counted; the table
shows the median time and the highest memory and byte counts. See bench/README.md for what each
column means and the targets checked.

Exit status: 0 when every target check passes (or is skipped), 1 when one fails, 2 on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KiB, MiB, GiB = 1024, 1024**2, 1024**3
BLOCK = 8 * MiB

EMAIL = "bench.learner@example.org"
COHORT = "Bench RNCP 28754"

# Target thresholds (see bench/README.md).
RSS_GROWTH_MAX = 1.20  # peak RSS at the largest size / at the smallest size
THROUGHPUT_MIN = 0.90  # app MiB/s / boto3 direct MiB/s, at every size from THROUGHPUT_FROM (issue 15: 100 MiB, 1 GiB)
THROUGHPUT_FROM = 100 * MiB  # smaller files are latency, not throughput
PRESIGNED_APP_BYTES_MAX = 64 * KiB  # what the client sends to the app on the presigned path

# Timeouts (seconds): every wait is bounded.
SETUP_TIMEOUT = 120
START_TIMEOUT = 60
STOP_TIMEOUT = 30
MIN_TRANSFER_TIMEOUT = 300
MIN_TRANSFER_RATE = 2 * MiB  # bytes/s below which a transfer is considered stuck

# Variables that could point boto3 at another account, profile or server than the bench's.
AWS_NOISE = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

# moto's S3 server in a child process, which runs until its stdin is closed (or it is killed).
MOTO_CHILD = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""

# The direct upload, in a child so that it is bounded by a timeout and its own memory is known.
BOTO3_CHILD = """
import json, sys, time
import boto3
path, bucket, key = sys.argv[1:4]
client = boto3.client("s3")
start = time.perf_counter()
client.upload_file(path, bucket, key)
seconds = time.perf_counter() - start
size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
# For reference: one server-side CopyObject of the same object, as the app does to move a presigned
# (direct) upload to its content-addressed key once checked; uploads through the app need none.
start = time.perf_counter()
client.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})
copy_seconds = time.perf_counter() - start
client.delete_object(Bucket=bucket, Key=key + ".copy")
client.delete_object(Bucket=bucket, Key=key)
print(json.dumps({"seconds": seconds, "size": size, "peak_rss": peak, "copy_seconds": copy_seconds}))
"""

# Last resort for the API token, when neither CLI command exists in this tree.
TOKEN_SNIPPET = """
import sys
from wsgi import app
from portfolio.extensions import db
from portfolio.services import tokens, users
with app.app_context():
    user = users.find_user_by_email(sys.argv[1])
    _row, raw = tokens.create_token(user, "bench")
    db.session.commit()
    print(raw)
"""


class BenchError(RuntimeError):
    """Something the bench needs failed; the message says what."""


# --- small helpers -------------------------------------------------------------------------------------

def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 10M, 100M, 1G or a number of bytes")
    number, unit = float(match[1]), match[2].upper()
    size = int(number * {"": 1, "K": KiB, "M": MiB, "G": GiB}[unit])
    if size < 1:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: must be at least one byte")
    return size


def human(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def transfer_timeout(size: int) -> float:
    return max(MIN_TRANSFER_TIMEOUT, size / MIN_TRANSFER_RATE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def make_file(path: Path, size: int) -> None:
    """Random bytes, so that nothing along the way can compress or deduplicate them."""
    with open(path, "wb") as out:
        left = size
        while left:
            n = min(BLOCK, left)
            out.write(os.urandom(n))
            left -= n


# --- /proc ---------------------------------------------------------------------------------------------

def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _sep, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * KiB
    return values


def proc_io(pid: int) -> dict[str, int]:
    """rchar/wchar of a process. They count read()/write() on files and pipes, but not the
    recv()/send() calls Python's sockets make: they show the worker's temporary files, not its network."""
    values = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _sep, rest = line.partition(":")
        values[name] = int(rest)
    return values


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(x) for x in (task / "children").read_text().split()]
    except OSError:
        return []
    if found:
        return found
    for entry in Path("/proc").iterdir():  # kernels without /proc/<pid>/task/<tid>/children
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class SocketMeter:
    """Bytes a process sent and received on its TCP connections, from ``ss -tinp`` (tcp_info).

    Sampled every ``interval`` seconds while running, so that a connection opened and closed
    between two samples is missed: the figures are lower bounds. Connections whose local port is
    ``exclude_port`` (the clients' connections to gunicorn) are left out: what remains is the
    worker's traffic with the evidence store (and nothing else in this bench).
    """

    def __init__(self, pid: int, exclude_port: int, interval: float = 0.25) -> None:
        self.pid, self.exclude_port, self.interval = pid, exclude_port, interval
        self.available = shutil.which("ss") is not None
        self._base: dict[tuple[str, str], tuple[int, int]] = {}
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(local, peer) → (bytes_acked, bytes_received) of the process's established TCP sockets."""
        try:
            out = subprocess.run(["ss", "-tinpH", "state", "established"], capture_output=True,  # noqa: S607
                                 text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        found: dict[tuple[str, str], tuple[int, int]] = {}
        key: tuple[str, str] | None = None
        for line in out.splitlines():
            if not line[:1].isspace():  # a socket line: Recv-Q Send-Q Local Peer users:(...)
                cols = line.split()
                key = None
                if len(cols) >= 4 and f"pid={self.pid}," in line and not cols[2].endswith(f":{self.exclude_port}"):
                    key = (cols[2], cols[3])
            elif key is not None:  # its tcp_info line
                sent = re.search(r"bytes_acked:(\d+)", line)
                received = re.search(r"bytes_received:(\d+)", line)
                found[key] = (int(sent[1]) if sent else 0, int(received[1]) if received else 0)
                key = None
        return found

    def _merge(self, sample: dict[tuple[str, str], tuple[int, int]]) -> None:
        for key, (sent, received) in sample.items():
            old = self._last.get(key, (0, 0))
            self._last[key] = (max(old[0], sent), max(old[1], received))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._merge(self._sample())

    def __enter__(self) -> SocketMeter:
        if self.available:
            self._base = self._sample()
            self._last = dict(self._base)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.available:
            self._stop.set()
            self._thread.join(timeout=30)
            self._merge(self._sample())

    def totals(self) -> tuple[int | None, int | None]:
        """(bytes sent, bytes received) since ``__enter__``; None without ``ss``."""
        if not self.available:
            return None, None
        sent = received = 0
        for key, (s, r) in self._last.items():
            base = self._base.get(key, (0, 0))
            sent += s - base[0]
            received += r - base[1]
        return sent, received


# --- curl ----------------------------------------------------------------------------------------------

@dataclass
class CurlResult:
    status: int
    seconds: float
    uploaded: int  # request body bytes curl sent
    body: str


def curl(args: list[str], *, timeout: float, scratch: Path) -> CurlResult:
    out = scratch / f"curl-{uuid.uuid4().hex[:8]}.out"
    cmd = ["curl", "-sS", "-o", str(out), "-w", "%{http_code} %{time_total} %{size_upload}",
           "-H", "Expect:", "--max-time", str(int(timeout)), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise BenchError(f"curl did not finish in {timeout + 30:.0f} s") from None
    try:
        body = out.read_text(errors="replace") if out.exists() else ""
    finally:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) != 3:
        raise BenchError(f"curl failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return CurlResult(int(fields[0]), float(fields[1]), int(float(fields[2])), body)


def error_code(body: str) -> str:
    """`` (code)`` of an API error body, or nothing."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return f" ({json.loads(body)['error']['code']})"
    return ""


def short(body: str, n: int = 300) -> str:
    body = " ".join(body.split())
    return body if len(body) <= n else body[:n] + "…"


# --- S3 servers ----------------------------------------------------------------------------------------

class MotoServer:
    name = "moto (in-memory, child process)"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", MOTO_CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        line = _readline(self.proc, START_TIMEOUT)
        if not line.strip().isdigit():
            self.stop()
            raise BenchError("the moto server did not start")
        self.env = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{int(line)}", "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
        return self.env

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """One line of a child's stdout, or "" after ``timeout`` seconds."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline()


class CephServer:
    name = "Ceph RADOS Gateway (tests/servers/ceph.py)"

    def __init__(self, tmpdir: Path, written: int) -> None:
        self.tmpdir = tmpdir
        self.started = False
        # Deleted RGW objects are only freed by its garbage collector hours later: every byte the
        # run writes stays on the OSD, so give its (sparse) block file room for all of them.
        if "CEPH_RGW_OSD_BLOCK_SIZE" not in os.environ:
            os.environ["CEPH_RGW_OSD_BLOCK_SIZE"] = str(max(16 * GiB, 6 * written + 4 * GiB))

    def start(self) -> dict[str, str]:
        sys.path.insert(0, str(ROOT))
        from tests.servers.ceph import start_ceph

        self.started = True
        return start_ceph(self.tmpdir)

    def stop(self) -> None:
        if self.started:
            from tests.servers.ceph import stop_ceph

            stop_ceph(self.tmpdir)
            self.started = False


def ceph_available() -> bool:
    sys.path.insert(0, str(ROOT))
    from tests.servers.ceph import ceph_available as available

    return available()


def s3_client(env: dict[str, str]):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env.get("AWS_REGION", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


def keeps_alive(endpoint: str) -> bool:
    """Whether the S3 server keeps connections open between requests (Ceph does, moto does not).

    The socket meter only sees open connections: against a server that closes each one, it would
    miss nearly everything, so the store columns are left empty then.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return not response.will_close
    except OSError:
        return False
    finally:
        conn.close()


def count_objects(env: dict[str, str], bucket: str, prefix: str) -> int:
    pages = s3_client(env).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(len(page.get("Contents", [])) for page in pages)


def purge_bucket(env: dict[str, str], bucket: str) -> None:
    client = s3_client(env)
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


# --- the app -------------------------------------------------------------------------------------------

def base_env() -> dict[str, str]:
    """This process's environment without PORTFOLIO_* or AWS_* settings that could leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFOLIO_", "AWS_"))}
    env.pop("FLASK_APP", None)
    env.pop("FLASK_DEBUG", None)
    return env


def s3_process_env(s3: dict[str, str], scratch: Path) -> dict[str, str]:
    """What boto3 reads, for the app and the direct upload alike: this server and nothing else."""
    env = dict(s3)
    env["AWS_DEFAULT_REGION"] = s3.get("AWS_REGION", "us-east-1")  # botocore ignores AWS_REGION
    env["AWS_CONFIG_FILE"] = str(scratch / "no-aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(scratch / "no-aws-credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    # The app's client asks for checksums only where required (portfolio/storage/s3.py); do the same
    # for the direct upload, so that both send the same bytes (CRC32 trailers cost CPU too).
    env["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
    env["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required"
    return env


class App:
    """A fresh instance folder (SQLite, evidence store), a learner in a cohort and an API token."""

    def __init__(self, workdir: Path, storage_url: str, extra_env: dict[str, str], max_size: int) -> None:
        self.workdir = workdir
        instance = workdir / "instance"
        instance.mkdir(parents=True)
        self.env = base_env() | extra_env | {
            "PORTFOLIO_ENV": "development",
            "PORTFOLIO_INSTANCE_PATH": str(instance),
            "PORTFOLIO_DATABASE_URL": f"sqlite:///{instance / 'portfolio.sqlite3'}",
            "PORTFOLIO_STORAGE_URL": storage_url,
            "PORTFOLIO_MAX_FILE_SIZE": str(max(2 * GiB, max_size + MiB)),
            "PORTFOLIO_MAX_BYTES_PER_USER": str(max(10 * GiB, 4 * max_size)),
            "TMPDIR": str(workdir),  # werkzeug spools multipart files to disk here
        }
        self.token = ""

    def flask(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False,
        )
        if check and proc.returncode != 0:
            raise BenchError(f"flask {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def set_up(self) -> None:
        self.flask("db", "upgrade")
        self.flask("frameworks", "import", "RNCP28754")
        self.flask("users", "create", EMAIL, "--name", "Bench Learner", "--role", "learner", "--password-stdin",
                   stdin=secrets.token_urlsafe(24) + "\n")
        self.flask("cohorts", "create", COHORT, "--certification", "RNCP28754", "--year", "2026")
        self.flask("cohorts", "add", COHORT, EMAIL, "--as", "learner")
        self.token = self._token()

    def _token(self) -> str:
        # `users token EMAIL` (token alone on its last line), else `tokens create EMAIL NAME`, else the service.
        for args in (("users", "token", EMAIL), ("tokens", "create", EMAIL, "bench")):
            proc = self.flask(*args, check=False)
            lines = proc.stdout.strip().splitlines()
            if proc.returncode == 0 and lines and lines[-1].strip().startswith("pft_"):
                return lines[-1].strip()
        proc = subprocess.run(  # noqa: S603
            [sys.executable, "-c", TOKEN_SNIPPET, EMAIL], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=SETUP_TIMEOUT, check=False,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("pft_"):
            raise BenchError(f"could not create an API token:\n{proc.stdout}{proc.stderr}")
        return lines[-1].strip()


@functools.cache
def no_control_socket() -> tuple[str, ...]:
    """gunicorn 24+ opens a control socket under ~/.gunicorn, shared by every instance: not for us."""
    proc = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True,  # noqa: S603
                          timeout=SETUP_TIMEOUT, check=False)
    return ("--no-control-socket",) if "--no-control-socket" in proc.stdout else ()


class Gunicorn:
    """One gunicorn master with one worker (four threads); a new one per measurement."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker = 0
        self.log_path = app.workdir / "gunicorn.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-b", f"127.0.0.1:{self.port}",
                 "--timeout", "600", *no_control_socket(), "wsgi:app"],
                cwd=ROOT, env=self.app.env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            if self._healthy():
                workers = child_pids(self.proc.pid)
                if len(workers) == 1:
                    self.worker = workers[0]
                    return
            time.sleep(0.2)
        raise BenchError(f"gunicorn not ready after {START_TIMEOUT} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as response:  # noqa: S310
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def check_worker(self) -> None:
        """The worker measured must be the one that served the request (no crash, no restart)."""
        assert self.proc is not None
        if child_pids(self.proc.pid) != [self.worker]:
            raise BenchError(f"the gunicorn worker {self.worker} was replaced during the upload:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the master and its worker
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None

    def error_tail(self, status: int) -> str:
        """For a 5xx: the end of the log (the traceback), for the report."""
        return f"\n--- gunicorn log ---\n{self.log_tail(25)}" if status >= 500 else ""

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def fresh_worker(app: App) -> Iterator[Gunicorn]:
    server = Gunicorn(app)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- measurements --------------------------------------------------------------------------------------

@dataclass
class Row:
    backend: str
    size: int
    path: str
    status: str = "ok"  # "ok", "n/a: ...", "error: ..."
    seconds: float | None = None
    mib_s: float | None = None
    idle_rss: int | None = None  # web worker RSS before the upload (after start-up and one API call)
    peak_rss: int | None = None  # web worker VmHWM after the upload
    client_to_app: int | None = None  # request bytes the client sent to the app (curl's size_upload)
    app_to_store: int | None = None  # bytes the web worker sent on its connections to the store (S3)
    store_to_app: int | None = None  # bytes the web worker received on them
    detail: dict[str, Any] | None = None

    def done(self, seconds: float) -> Row:
        self.seconds = seconds
        self.mib_s = self.size / MiB / seconds if seconds > 0 else None
        return self


class Bench:
    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.runs: list[Row] = []  # every measurement
        self.primers: dict[Path, Path] = {}  # file → another of its size, for a worker's first upload (--prime)
        self.rows: list[Row] = []  # one per (backend, size, path): medians and maxima of its runs
        self.notes: list[str] = []
        self.server_name = ""
        self.meter_store = True  # False when the S3 server closes its connections (see keeps_alive)
        self.load_start = os.getloadavg()  # other work on the machine skews the figures: say so

    def auth(self, app: App) -> list[str]:
        return ["-H", f"Authorization: Bearer {app.token}"]

    def _warm(self, app: App, server: Gunicorn) -> tuple[int, dict[str, int]]:
        """One authenticated API call, then the worker's RSS and I/O counters before the upload."""
        result = curl([*self.auth(app), f"{server.base}/api/v1/certifications"], timeout=60, scratch=self.scratch)
        if result.status == 404:
            raise BenchError("the API is not there (404 on /api/v1/certifications): is its blueprint registered?")
        if result.status != 200:
            raise BenchError(f"GET /api/v1/certifications answered {result.status}: {short(result.body)}")
        return proc_status(server.worker)["VmRSS"], proc_io(server.worker)

    def _finish(self, row: Row, server: Gunicorn, io_before: dict[str, int], meter: SocketMeter) -> None:
        server.check_worker()
        row.peak_rss = proc_status(server.worker)["VmHWM"]
        io_after = proc_io(server.worker)
        if row.backend == "s3" and self.meter_store:
            row.app_to_store, row.store_to_app = meter.totals()
        row.detail = (row.detail or {}) | {
            # Temporary files and local-store files (not sockets): see proc_io.
            "worker_file_read": io_after["rchar"] - io_before["rchar"],
            "worker_file_written": io_after["wchar"] - io_before["wchar"],
        }

    def _delete_evidence(self, app: App, server: Gunicorn, body: str) -> None:
        """Remove what the upload created, so that the next one is not deduplicated against it."""
        with contextlib.suppress(ValueError, KeyError, TypeError):
            evidence_id = int(json.loads(body)["id"])
            result = curl(["-X", "DELETE", *self.auth(app), f"{server.base}/api/v1/evidence/{evidence_id}"],
                          timeout=120, scratch=self.scratch)
            if result.status != 204:
                self.notes.append(f"DELETE evidence {evidence_id} answered {result.status}: {short(result.body)}")

    def _post_file(self, app: App, server: Gunicorn, path: Path, size: int) -> CurlResult:
        result = curl([*self.auth(app), "-F", "title=bench", "-F", "kind=other",
                       "-F", f"file=@{path};type=application/octet-stream",
                       f"{server.base}/api/v1/evidence"], timeout=transfer_timeout(size), scratch=self.scratch)
        if result.status == 404:
            raise BenchError("POST /api/v1/evidence answered 404: the API is not there")
        if result.status != 201:
            raise BenchError(f"POST /api/v1/evidence answered {result.status}: {short(result.body)}"
                             + server.error_tail(result.status))
        return result

    def measure_app(self, backend: str, app: App, path: Path, size: int) -> Row:
        row = Row(backend, size, "app")
        with fresh_worker(app) as server:
            row.idle_rss, io_before = self._warm(app, server)
            first: float | None = None
            if self.args.prime:
                # The worker's first upload of this size, of other bytes (nothing to deduplicate
                # against): timed, reported in a note, not in the table.
                primer = self.primers[path]
                result = self._post_file(app, server, primer, size)
                first = result.seconds
                self._check_stored(json.loads(result.body), size)
                self._delete_evidence(app, server, result.body)
                io_before = proc_io(server.worker)
            with SocketMeter(server.worker, server.port) as meter:
                result = self._post_file(app, server, path, size)
            self._finish(row, server, io_before, meter)
            row.client_to_app = result.uploaded
            row.detail = (row.detail or {}) | {"first_upload_seconds": first}
            self._check_stored(json.loads(result.body), size)
            self._delete_evidence(app, server, result.body)
        return row.done(result.seconds)

    def measure_presigned(self, backend: str, app: App, path: Path, size: int) -> Row:
        row = Row(backend, size, "presigned")
        with fresh_worker(app) as server:
            row.idle_rss, io_before = self._warm(app, server)
            with SocketMeter(server.worker, server.port) as meter:
                # 1. Ask the app for a presigned POST.
                ask = curl([*self.auth(app), "-H", "Content-Type: application/json",
                            "--data-binary", json.dumps({"filename": path.name, "size": size}),
                            f"{server.base}/api/v1/uploads"], timeout=60, scratch=self.scratch)
                if ask.status >= 500:
                    raise BenchError(f"POST /api/v1/uploads answered {ask.status}: {short(ask.body)}"
                                     + server.error_tail(ask.status))
                if ask.status != 201:
                    row.status = f"n/a: POST /api/v1/uploads answered {ask.status}{error_code(ask.body)}"
                    row.detail = {"body": short(ask.body)}
                    return row
                offer = json.loads(ask.body)
                fields: dict[str, str] = dict(offer.get("fields") or {})
                fields.setdefault("key", offer["key"])
                # 2. The file straight to the store: form fields first, the file last.
                form = ["--form-string", f"key={fields.pop('key')}"]
                for name, value in fields.items():
                    form += ["--form-string", f"{name}={value}"]
                put = curl([*form, "-F", f"file=@{path};type=application/octet-stream", offer["url"]],
                           timeout=transfer_timeout(size), scratch=self.scratch)
                if put.status not in (200, 201, 204):
                    raise BenchError(f"the presigned POST to {offer['url']} answered {put.status}: {short(put.body)}")
                # 3. Record the evidence from the staged object (the app looks its size up; it reads the
                #    object back once to check its SHA-256 after the response: on RQ with Redis, on a
                #    thread of the worker here).
                record = curl([*self.auth(app), "-F", "title=bench", "-F", "kind=other",
                               "-F", f"staged={offer['key']}", f"{server.base}/api/v1/evidence"],
                              timeout=transfer_timeout(size), scratch=self.scratch)
                if record.status != 201:
                    raise BenchError(f"POST /api/v1/evidence with staged= answered {record.status}: "
                                     f"{short(record.body)}" + server.error_tail(record.status))
            row.detail = {"ask_seconds": ask.seconds, "upload_seconds": put.seconds, "record_seconds": record.seconds,
                          "upload_url": offer["url"], "client_to_store": put.uploaded}
            self._finish(row, server, io_before, meter)
            row.client_to_app = ask.uploaded + record.uploaded
            # The 201 lists the file under pending_files: its bytes are checked once the request has
            # committed, while the response goes out. The evidence is read until the file is kept.
            evidence_id = int(json.loads(record.body)["id"])
            started = time.perf_counter()
            deadline = started + transfer_timeout(size)
            while True:
                after = curl([*self.auth(app), f"{server.base}/api/v1/evidence/{evidence_id}"], timeout=60,
                             scratch=self.scratch)
                evidence = json.loads(after.body)
                if not evidence.get("pending_files"):
                    break
                if time.perf_counter() > deadline:
                    raise BenchError("the staged file was still being checked after "
                                     f"{transfer_timeout(size)} s")
                time.sleep(0.05)
            row.detail = (row.detail or {}) | {"check_seconds": time.perf_counter() - started}
            self._check_stored(evidence, size)
            self._delete_evidence(app, server, record.body)
        return row.done(ask.seconds + put.seconds + record.seconds)

    @staticmethod
    def _check_stored(evidence: dict, size: int) -> None:
        stored = sum(int(f.get("size", 0)) for f in evidence.get("files", []))
        if stored != size:
            raise BenchError(f"the app recorded {stored} bytes, not {size}")

    def measure_boto3(self, env: dict[str, str], bucket: str, path: Path, size: int) -> Row:
        row = Row("s3", size, "boto3 direct")
        proc = subprocess.run(  # noqa: S603
            [sys.executable, "-c", BOTO3_CHILD, str(path), bucket, f"bench-direct/{uuid.uuid4().hex}"],
            env=base_env() | env, capture_output=True, text=True, timeout=transfer_timeout(size), check=False,
        )
        if proc.returncode != 0:
            raise BenchError(f"the direct boto3 upload failed:\n{proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if result["size"] != size:
            raise BenchError(f"the direct upload stored {result['size']} bytes, not {size}")
        row.detail = {"uploader_peak_rss": result["peak_rss"], "server_copy_seconds": result["copy_seconds"]}
        return row.done(result["seconds"])

    def measure_disk_copy(self, path: Path, target_dir: Path, size: int) -> Row:
        row = Row("local", size, "disk copy")
        target = target_dir / f"copy-{uuid.uuid4().hex}"
        start = time.perf_counter()
        with open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, BLOCK)
            dst.flush()
            os.fsync(dst.fileno())
        seconds = time.perf_counter() - start
        target.unlink()
        return row.done(seconds)

    def attempt(self, row_factory: Any, *args: Any) -> None:
        """Run one measurement; an error is recorded in its row and the bench carries on."""
        try:
            row = row_factory(*args)
        except (BenchError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            backend, size, name = self._describe(row_factory, args)
            row = Row(backend, size, name, status=f"error: {exc}")
            log(f"  {name}: {exc}")
        else:
            if row.status == "ok":
                log(f"  {row.path}: {row.seconds:.2f} s, {row.mib_s:.1f} MiB/s"
                    + (f", worker peak {row.peak_rss / MiB:.0f} MiB" if row.peak_rss else ""))
            else:
                log(f"  {row.path}: {row.status}")
        self.runs.append(row)

    def rounds(self, *measurements: tuple[Any, ...]) -> None:
        """``--repeat`` rounds of the given measurements, interleaved (a, b, c, a, b, c...), so that
        other work on the machine weighs on all of them alike; a path found not available is dropped."""
        pending = list(measurements)
        # Warm-up rounds first, not counted: the first writes to a store just started (Ceph allocating
        # its first objects, its caches empty) took up to 1.6 x as long as the later ones (2026-12-03).
        for _ in range(self.args.warmup):
            log("  warm-up round (not counted)")
            counted = len(self.runs)
            for measurement in list(pending):
                self.attempt(*measurement)
                if self.runs[-1].status.startswith("n/a"):
                    pending.remove(measurement)
            del self.runs[counted:]
        for _ in range(self.args.repeat):
            for measurement in list(pending):
                self.attempt(*measurement)
                if self.runs[-1].status.startswith("n/a"):
                    pending.remove(measurement)

    def aggregate(self) -> None:
        """One row per (backend, size, path): median time, maximum memory and bytes; any error wins."""
        groups: dict[tuple[str, int, str], list[Row]] = {}
        for run in self.runs:
            groups.setdefault((run.backend, run.size, run.path), []).append(run)
        self.rows = []
        for (backend, size, path), runs in groups.items():
            row = Row(backend, size, path)
            failed = [r for r in runs if r.status != "ok"]
            if failed:
                # The first error (or n/a) is the row's status; figures of the runs that went through stay.
                row.status = failed[0].status.splitlines()[0]
                if len(runs) > 1:
                    row.status += f" [{len(failed)} of {len(runs)} runs]"
            good = [r for r in runs if r.status == "ok" and r.seconds is not None]
            if good:
                row.done(statistics.median(r.seconds or 0.0 for r in good))
            for name in ("idle_rss", "peak_rss", "client_to_app", "app_to_store", "store_to_app"):
                values = [getattr(r, name) for r in good if getattr(r, name) is not None]
                if values:
                    setattr(row, name, max(values))
            row.detail = {"runs": [{k: v for k, v in asdict(r).items() if k not in ("backend", "size", "path")}
                                   for r in runs]}
            self.rows.append(row)

    @staticmethod
    def _describe(factory: Any, args: tuple) -> tuple[str, int, str]:
        name = {"measure_app": "app", "measure_presigned": "presigned", "measure_boto3": "boto3 direct",
                "measure_disk_copy": "disk copy"}[factory.__name__]
        size = args[-1]
        backend = args[0] if name in ("app", "presigned") else ("s3" if name == "boto3 direct" else "local")
        return backend, size, name

    # -- the run --------------------------------------------------------------------------------------------

    def run(self) -> None:
        sizes = self.args.sizes
        files = {}
        for size in sizes:
            path = self.scratch / f"bench-{human(size).replace(' ', '')}.bin"
            log(f"writing {human(size)} of random bytes to {path}")
            make_file(path, size)
            files[size] = path
            if self.args.prime:
                self.primers[path] = path.with_suffix(".first.bin")
                make_file(self.primers[path], size)
        if self.args.backend in ("local", "both"):
            self.run_local(files)
        if self.args.backend in ("s3", "both"):
            self.run_s3(files)

    def run_local(self, files: dict[int, Path]) -> None:
        workdir = self.scratch / "app-local"
        evidence = workdir / "evidence"
        app = App(workdir, f"file://{evidence}", {}, max(files))
        log("local backend: setting up the app")
        app.set_up()
        for size, path in files.items():
            log(f"local, {human(size)}")
            self.rounds((self.measure_disk_copy, path, workdir, size), (self.measure_app, "local", app, path, size),
                        (self.measure_presigned, "local", app, path, size))
            self._check_empty_local(evidence)

    def _check_empty_local(self, evidence: Path) -> None:
        left = [p for p in (evidence / "blobs").rglob("*") if p.is_file()] if (evidence / "blobs").exists() else []
        if left:
            self.notes.append(f"local store still holds {len(left)} blob(s) after the deletes")

    def run_s3(self, files: dict[int, Path]) -> None:
        choice = self.args.server
        if choice == "auto":
            choice = "ceph" if ceph_available() else "moto"
        server: CephServer | MotoServer
        # per path; each path writes at most ~2x (upload, copy)
        written = sum(files) * (self.args.repeat + self.args.warmup)
        server = CephServer(self.scratch / "ceph", written) if choice == "ceph" else MotoServer()
        self.server_name = server.name
        log(f"s3 backend: starting {server.name}")
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        s3: dict[str, str] = {}
        try:
            s3 = server.start()
            s3_client(s3).create_bucket(Bucket=bucket)
            self.meter_store = keeps_alive(s3["AWS_ENDPOINT_URL_S3"]) and shutil.which("ss") is not None
            if not self.meter_store:
                self.notes.append("app→store and store→app not measured: needs `ss` and an S3 server that keeps "
                                  "connections open (moto closes each one)")
            env = s3_process_env(s3, self.scratch)
            parts = f"&parts={self.args.parts}" if self.args.parts else ""
            parts += f"&part_mib={self.args.part_mib}" if self.args.part_mib else ""
            app = App(self.scratch / "app-s3", f"s3://{bucket}/evidence?addressing=path{parts}", env, max(files))
            log("s3 backend: setting up the app")
            app.set_up()
            for size, path in files.items():
                log(f"s3 ({choice}), {human(size)}")
                self.rounds((self.measure_boto3, env, bucket, path, size), (self.measure_app, "s3", app, path, size),
                            (self.measure_presigned, "s3", app, path, size))
                with contextlib.suppress(Exception):
                    left = count_objects(s3, bucket, "evidence/blobs/")
                    if left:
                        self.notes.append(f"bucket still holds {left} blob(s) after the deletes ({human(size)})")
        finally:
            if s3:
                purge_bucket(s3, bucket)
            log(f"s3 backend: stopping {server.name}")
            server.stop()

    # -- report ---------------------------------------------------------------------------------------------

    def checks(self) -> list[tuple[str, str, str]]:
        """(verdict, target, figures) for each target; verdict is PASS, FAIL or SKIP."""
        out: list[tuple[str, str, str]] = []
        ok = {(r.backend, r.size, r.path): r for r in self.rows if r.seconds is not None}
        small, large = min(self.args.sizes), max(self.args.sizes)
        for backend in self._backends():
            for path in ("app", "presigned"):
                target = f"{backend} {path}: web worker peak RSS does not grow with file size"
                a, b = ok.get((backend, small, path)), ok.get((backend, large, path))
                if small == large:
                    out.append(("SKIP", target, "needs two sizes"))
                elif a is None or b is None or not a.peak_rss or not b.peak_rss:
                    out.append(("SKIP", target, "a measurement is missing"))
                else:
                    ratio = b.peak_rss / a.peak_rss
                    out.append(("PASS" if ratio <= RSS_GROWTH_MAX else "FAIL", target,
                                f"{b.peak_rss / MiB:.0f} MiB at {human(large)} vs {a.peak_rss / MiB:.0f} MiB at "
                                f"{human(small)}: x{ratio:.2f} (limit x{RSS_GROWTH_MAX:.2f})"))
        if "s3" in self._backends():
            sizes = [size for size in sorted(self.args.sizes) if size >= THROUGHPUT_FROM] or [large]
            for size in sizes:
                target = f"s3 app throughput >= {THROUGHPUT_MIN:.0%} of boto3 direct at {human(size)}"
                app, direct = ok.get(("s3", size, "app")), ok.get(("s3", size, "boto3 direct"))
                if app is None or direct is None or not app.mib_s or not direct.mib_s:
                    out.append(("SKIP", target, "a measurement is missing"))
                else:
                    ratio = app.mib_s / direct.mib_s
                    out.append(("PASS" if ratio >= THROUGHPUT_MIN else "FAIL", target,
                                f"{app.mib_s:.1f} vs {direct.mib_s:.1f} MiB/s: {ratio:.0%}"))
        for backend in self._backends():
            target = f"{backend} presigned: no file bytes through the app"
            rows = [r for r in self.rows if r.backend == backend and r.path == "presigned"]
            measured = [r for r in rows if r.seconds is not None]
            if not measured:
                reason = rows[0].status if rows else "not measured"
                out.append(("SKIP", target, f"presigned path not available ({reason})"))
                continue
            worst = max(r.client_to_app or 0 for r in measured)
            out.append(("PASS" if worst <= PRESIGNED_APP_BYTES_MAX else "FAIL", target,
                        f"at most {worst} B sent to the app per upload (limit {PRESIGNED_APP_BYTES_MAX // KiB} KiB), "
                        f"for {', '.join(human(r.size) for r in measured)}"))
        return out

    def _backends(self) -> list[str]:
        return [b for b in ("local", "s3") if self.args.backend in (b, "both")]

    def table(self) -> str:
        head = ("backend", "size", "path", "seconds", "MiB/s", "idle RSS MiB", "peak RSS MiB", "client→app",
                "app→store", "store→app", "worker file writes")
        lines = [head]
        for r in self.rows:
            def num(value: float | None, fmt: str) -> str:
                return "—" if value is None else format(value, fmt)

            def size_or_dash(value: int | None) -> str:
                return "—" if value is None else human(value) if value >= KiB else f"{value} B"

            lines.append((r.backend, human(r.size), r.path, num(r.seconds, ".2f"), num(r.mib_s, ".1f"),
                          num(r.idle_rss and r.idle_rss / MiB, ".0f"), num(r.peak_rss and r.peak_rss / MiB, ".0f"),
                          size_or_dash(r.client_to_app), size_or_dash(r.app_to_store),
                          size_or_dash(r.store_to_app), size_or_dash(file_writes(r))))
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        text = []
        for n, line in enumerate(lines):
            text.append("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in
                                  enumerate(zip(line, widths, strict=True))).rstrip())
            if n == 0:
                text.append("  ".join("-" * w for w in widths))
        for r in self.rows:
            if r.status != "ok":
                text.append(f"{r.backend} {human(r.size)} {r.path}: {r.status}")
        return "\n".join(text)

    def breakdown_notes(self) -> list[str]:
        """Where the time goes, for reading the table: the presigned path's three steps, and one
        server-side CopyObject measured beside each direct upload (the presigned path ends with one)."""
        out = []
        for r in self.rows:
            runs = [run.get("detail") or {} for run in (r.detail or {}).get("runs", []) if run["status"] == "ok"]

            def median(name: str, runs: list[dict] = runs) -> float | None:
                values = [run[name] for run in runs if run.get(name) is not None]
                return statistics.median(values) if values else None

            copy = median("server_copy_seconds")
            if r.path == "boto3 direct" and copy is not None:
                out.append(f"{r.backend} {human(r.size)}: one CopyObject of the object on the S3 server took "
                           f"{copy:.2f} s")
            first = median("first_upload_seconds")
            if r.path == "app" and first is not None and r.seconds:
                direct = next((d for d in self.rows if d.seconds
                               and (d.backend, d.size, d.path) == (r.backend, r.size, "boto3 direct")), None)
                versus = f" ({direct.seconds / first:.0%} of boto3 direct's MiB/s)" if direct else ""
                out.append(f"{r.backend} {human(r.size)} app: the timed upload is the worker's second of this size; "
                           f"its first, on the worker just started, took {first:.2f} s{versus}")
            steps = [median(n) for n in ("ask_seconds", "upload_seconds", "record_seconds", "check_seconds")]
            if r.path == "presigned" and None not in steps:
                out.append(f"{r.backend} {human(r.size)} presigned: ask {steps[0]:.2f} s + POST to the store "
                           f"{steps[1]:.2f} s + record {steps[2]:.2f} s; then, after the response, the app "
                           f"reads the object back (SHA-256) in {steps[3]:.2f} s")
        return out

    def meta(self) -> dict[str, Any]:
        return {
            "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "loadavg_1min_start_end": [round(self.load_start[0], 2), round(os.getloadavg()[0], 2)],
            "python": platform.python_version(),
            "platform": platform.platform(),
            "s3_server": self.server_name or None,
            "gunicorn": "-w 1 --threads 4",
            "prime": self.args.prime,
            "sizes": self.args.sizes,
            "repeat": self.args.repeat,
            "warmup": self.args.warmup,
            "backend": self.args.backend,
        }


def file_writes(row: Row) -> int | None:
    """The most the web worker wrote to files in one run (temporary spool, local store, SQLite)."""
    runs = (row.detail or {}).get("runs", [])
    values = [(run.get("detail") or {}).get("worker_file_written") for run in runs]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100M,1G",
                        type=lambda s: sorted({parse_size(x) for x in s.split(",") if x.strip()}),
                        help="comma-separated file sizes (default 100M,1G)")
    parser.add_argument("--backend", choices=("local", "s3", "both"), default="both")
    parser.add_argument("--server", choices=("auto", "ceph", "moto"), default="auto",
                        help="S3 server: Ceph RGW when installed (auto), else moto")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="runs of each measurement; the table shows the median time, the highest memory")
    parser.add_argument("--warmup", type=int, default=1, metavar="N",
                        help="rounds run first and not counted, per size (default 1)")
    parser.add_argument("--parts", type=int, metavar="N",
                        help="the app's S3 parts in flight per upload (?parts=N; default: the app's, 2)")
    parser.add_argument("--part-mib", type=int, metavar="M",
                        help="the app's S3 part size after the first ones (?part_mib=M; default: the app's, 32)")
    parser.add_argument("--prime", action=argparse.BooleanOptionalAction, default=True,
                        help="time the worker's second upload of each size, after an untimed first one of other "
                             "bytes (default); --no-prime times a fresh worker's first upload")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (files, logs, DBs)")
    args = parser.parse_args(argv)
    if not args.sizes:
        parser.error("--sizes: give at least one size")
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    if args.warmup < 0:
        parser.error("--warmup: 0 or more")
    if shutil.which("curl") is None:
        parser.error("curl is needed (apt-get install curl)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    bench = Bench(args, scratch)
    failed = False
    try:
        bench.run()
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        log(f"error: {exc}")
        failed = True
    except KeyboardInterrupt:
        log("interrupted")
        failed = True
    finally:
        bench.aggregate()
        if args.keep:
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    meta = bench.meta()
    print()
    load = meta["loadavg_1min_start_end"]
    print(f"Upload bench — {meta['date']} — {meta['cpus']} CPUs (load {load[0]} at start, {load[1]} at end) — "
          f"S3 server: {meta['s3_server'] or 'not used'}")
    timed = "its second upload (after one of other bytes)" if args.prime else "its first upload"
    print(f"web: gunicorn {meta['gunicorn']}, a fresh worker per measurement, {timed} timed; "
          f"RSS = the worker's VmRSS/VmHWM; {args.repeat} run(s) each: median seconds, highest RSS and bytes")
    print()
    print(bench.table())
    print()
    checks = bench.checks()
    for verdict, target, figures in checks:
        print(f"{verdict}  {target}: {figures}")
    for note in bench.breakdown_notes() + bench.notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in bench.rows],
                                         "checks": [{"verdict": v, "target": t, "figures": f} for v, t, f in checks],
                                         "notes": bench.notes}, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if failed or any(r.status.startswith("error") for r in bench.rows):
        return 2
    return 1 if any(v == "FAIL" for v, _t, _f in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
