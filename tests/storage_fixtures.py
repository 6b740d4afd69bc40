"""Evidence-store fixtures: real S3 servers over HTTP, and a ``storage`` fixture over every backend.

- ``moto_server`` (session): moto's ThreadedMotoServer on a free port, run in a child process so that
  its memory (moto keeps objects in RAM) never counts in a test's tracemalloc figures.
- ``ceph_server`` (session): a real Ceph RADOS Gateway (``tests/servers/ceph.py``), only when
  ``PORTFOLIO_TEST_CEPH=1`` or ``PORTFOLIO_REQUIRE_CEPH=1``; with the latter, a missing Ceph fails.
- ``storage``: parametrized over ``local`` (tmp_path), ``s3`` (moto, a fresh bucket per test) and
  ``ceph`` (only when enabled as above, so the default run stays quick).
- ``s3_enforcing``: a Ceph-backed S3Storage for ``@pytest.mark.s3_enforcing`` tests (signatures and
  POST policies checked for real, which moto does not do).
- ``restartable_s3``: an S3Storage on its own moto server that a test may stop and start again.

boto3 finds the server through the standard ``AWS_*`` variables, set per test with ``monkeypatch``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from portfolio.storage import LocalStorage, S3Storage, Storage, create_storage

CEPH_ABSENT = "Ceph RGW absent: install radosgw ceph-mon ceph-osd ceph-common (CI does)"
CEPH_OFF = "Ceph tests off: set PORTFOLIO_TEST_CEPH=1 to run them"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


REQUIRE_CEPH = _flag("PORTFOLIO_REQUIRE_CEPH")
TEST_CEPH = REQUIRE_CEPH or _flag("PORTFOLIO_TEST_CEPH")
BACKENDS = ["local", "s3", *(["ceph"] if TEST_CEPH else [])]

# Variables that could point boto3 at another account, profile or server than the test's.
_AWS_NOISE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

# The child process: a ThreadedMotoServer that runs until its stdin is closed (or it is killed).
_MOTO_CHILD = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def s3_env(endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1") -> dict[str, str]:
    """The environment boto3 reads to reach one S3 server."""
    return {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": region,
    }


def apply_s3_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], scratch: Path) -> None:
    """Point boto3 at the test's server, and at nothing else (no profile, no config file)."""
    for name in _AWS_NOISE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(scratch / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def admin_client(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """A boto3 client built from explicit settings, for setting up and inspecting buckets."""
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_REGION", "us-east-1"),
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def create_bucket(env: dict[str, str]) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    admin_client(env).create_bucket(Bucket=name)
    return name


def purge_bucket(env: dict[str, str], bucket: str) -> None:
    """Remove a test bucket with everything in it; quiet if the server is already gone."""
    client = admin_client(env)
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


class MotoProcess:
    """A moto S3 server in a child process; ``stop`` loses its data, like a crashed in-memory server."""

    def __init__(self) -> None:
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return s3_env(self.endpoint, "testing", "testing")

    def start(self) -> None:
        self._proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _MOTO_CHILD, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("the moto server did not start")
        self.port = int(line)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream:
                    stream.close()
            self._proc = None


class RestartableMotoServer:
    """moto's ThreadedMotoServer in this process: stopping it closes the port (clients get
    "connection refused"), starting it again on the same port finds the same buckets and objects,
    since moto keeps its state in the process — like a real server restarting on its disk."""

    def __init__(self) -> None:
        self.port = 0
        self._server = None

    @property
    def env(self) -> dict[str, str]:
        return s3_env(f"http://127.0.0.1:{self.port}", "testing", "testing")

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            # ThreadedMotoServer.stop() leaves the socket listening: connections would hang, not fail.
            self._server._server.server_close()
            self._server = None


@dataclass
class S3Server:
    """What the fixtures hand out about a running S3 server."""

    name: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server = MotoProcess()
    server.start()
    try:
        yield S3Server("moto", server.env)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ceph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if not TEST_CEPH:
        pytest.skip(CEPH_OFF)
    from tests.servers import ceph

    if not ceph.ceph_available():
        if REQUIRE_CEPH:
            pytest.fail(f"{CEPH_ABSENT}; PORTFOLIO_REQUIRE_CEPH=1 makes this a failure", pytrace=False)
        pytest.skip(CEPH_ABSENT)
    tmpdir = tmp_path_factory.mktemp("ceph")
    env = ceph.start_ceph(tmpdir)
    try:
        yield S3Server("ceph", env)
    finally:
        ceph.stop_ceph(tmpdir)


def _s3_storage(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: S3Server
) -> S3Storage:
    apply_s3_env(monkeypatch, server.env, tmp_path)
    bucket = create_bucket(server.env)
    request.addfinalizer(lambda: purge_bucket(server.env, bucket))
    # A prefix, so that every test also checks that keys are stored and listed under it.
    storage = create_storage(f"s3://{bucket}/evidence")
    assert isinstance(storage, S3Storage)
    return storage


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Storage:
    """An empty evidence store on each backend in turn."""
    if request.param == "local":
        return LocalStorage(tmp_path / "evidence")
    server = request.getfixturevalue("moto_server" if request.param == "s3" else "ceph_server")
    return _s3_storage(request, monkeypatch, tmp_path, server)


@pytest.fixture
def s3_enforcing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ceph_server: S3Server
) -> S3Storage:
    """An empty S3Storage on a server that enforces signatures, expiry and POST policies (Ceph)."""
    return _s3_storage(request, monkeypatch, tmp_path, ceph_server)


@dataclass
class RestartableS3:
    server: RestartableMotoServer
    storage: S3Storage


@pytest.fixture
def restartable_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RestartableS3]:
    """An S3Storage on its own moto server, which the test may ``server.stop()`` and ``server.start()``."""
    server = RestartableMotoServer()
    server.start()
    try:
        apply_s3_env(monkeypatch, server.env, tmp_path)
        bucket = create_bucket(server.env)
        yield RestartableS3(server, S3Storage(bucket, "evidence"))
        if not server.running:
            server.start()
        purge_bucket(server.env, bucket)  # moto's state outlives the server in this process
    finally:
        server.stop()
