"""The request body read straight from gunicorn's socket (``portfolio.body_reader``), served by a real
gunicorn: every byte once, nothing past the body, the connection still good for the next request."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from portfolio.body_reader import body_reader

ROOT = Path(__file__).parents[1]

APP = textwrap.dedent('''
    import hashlib, json
    from urllib.parse import parse_qs
    from portfolio.body_reader import body_reader

    def app(environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        limit = int(query.get("limit", ["-1"])[0])
        buffer = memoryview(bytearray(int(query.get("buf", ["65536"])[0])))
        reader = body_reader(environ, environ["wsgi.input"])
        sha, total = hashlib.sha256(), 0
        while limit < 0 or total < limit:
            view = buffer if limit < 0 else buffer[:min(len(buffer), limit - total)]
            n = reader(view)
            if not n:
                break
            sha.update(view[:n])
            total += n
        body = json.dumps({"size": total, "sha256": sha.hexdigest(),
                           "direct": reader.__qualname__.startswith("_gunicorn_reader"),
                           "port": environ.get("REMOTE_PORT")}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
''')


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, int]]:
    where = tmp_path_factory.mktemp("body-reader")
    (where / "echo_app.py").write_text(APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(where), str(ROOT)])}
    log = (where / "gunicorn.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", "1", "--worker-class", "gthread",
         "--threads", "2", "--keep-alive", "30", "--bind", f"127.0.0.1:{port}", "--no-control-socket",
         "echo_app:app"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(where))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start:\n" + (where / "gunicorn.log").read_text(errors="replace"))
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _body(size: int) -> bytes:
    return hashlib.shake_256(str(size).encode()).digest(size) if size else b""


@pytest.mark.parametrize("size", [0, 1, 65_535, 3 * 1024 * 1024 + 7])
@pytest.mark.parametrize("buf", [1000, 1 << 20])
def test_every_byte_of_a_known_length_body_once_from_the_socket(served, size, buf):
    base, _port = served
    data = _body(size)
    answer = requests.post(f"{base}/?buf={buf}", data=data, timeout=30).json()
    answer.pop("port")
    assert answer == {"size": size, "sha256": hashlib.sha256(data).hexdigest(), "direct": True}


def test_a_chunked_body_goes_through_gunicorns_own_reader(served):
    base, _port = served
    data = _body(300_000)
    answer = requests.post(f"{base}/", data=iter([data[:100_000], data[100_000:]]), timeout=30).json()
    answer.pop("port")
    assert answer == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "direct": False}


def test_a_body_read_in_part_leaves_the_connection_good_for_the_next_request(served):
    base, _port = served
    # gunicorn drains up to 64 KiB of an unread body to keep the connection (more, it closes it).
    first, second = _body(40_000), _body(5000)
    with requests.Session() as session:
        partial = session.post(f"{base}/?limit=1000", data=first, timeout=30).json()
        port = partial.pop("port")
        assert port
        assert partial == {"size": 1000, "sha256": hashlib.sha256(first[:1000]).hexdigest(), "direct": True}
        # gunicorn drops the rest of the first body (its count of what is left was kept) and reads the
        # next request on the same connection.
        whole = session.post(f"{base}/", data=second, timeout=30).json()
        assert whole.pop("port") == port
        assert whole == {"size": 5000, "sha256": hashlib.sha256(second).hexdigest(), "direct": True}


def test_pipelined_requests_each_get_their_own_body(served):
    """Both requests in one write: gunicorn reads the second with the first's headers; the reader
    must hand back the first body only and leave the second request where gunicorn finds it."""
    _base, port = served
    bodies = [_body(700), _body(1300)]
    raw = b"".join(b"POST /?buf=4096 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b) for b in bodies)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(raw)
        received = b""
        answers: list[dict] = []
        while len(answers) < 2:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed after {len(answers)} answer(s): {received!r}"
            received += chunk
            while b"\r\n\r\n" in received:
                head, rest = received.split(b"\r\n\r\n", 1)
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                if len(rest) < length:
                    break
                answers.append(json.loads(rest[:length]))
                answers[-1].pop("port")
                received = rest[length:]
    assert answers == [{"size": len(b), "sha256": hashlib.sha256(b).hexdigest(), "direct": True} for b in bodies]


def test_other_servers_use_the_streams_readinto_or_read():
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, n: int) -> bytes:
            out, self.data = self.data[:n], self.data[n:]
            return out

    stream = ReadOnly(b"abcdefgh")
    reader = body_reader({"wsgi.input": stream}, stream)
    buffer = bytearray(5)
    assert reader(memoryview(buffer)) == 5 and buffer == b"abcde"
    assert reader(memoryview(buffer)) == 3 and buffer[:3] == b"fgh"
    assert reader(memoryview(buffer)) == 0
