"""The sign-in limit holds per account as well as per address, across workers (another process sees the
same counts: the database, or Redis when configured), under parallel attempts, with a French 429."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.conftest import TEST_PASSWORD, make_config, new_app

WRONG = "not the password at all"  # noqa: S105


REDIS = "redis://127.0.0.1:6379/0"
SETTINGS = ("LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT", "REDIS_URL", "LOGIN_LIMIT_PREFIX")


def _redis_or_skip() -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS, socket_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")


@pytest.fixture(params=["database", "redis"])
def limited(request, app):  # type: ignore[no-untyped-def]
    """The app with small limits, counted in the database or in Redis (each test runs on both)."""
    saved = {name: app.config.get(name) for name in SETTINGS}
    app.config["LOGIN_RATE_LIMIT"], app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "8 per minute", "3 per minute"
    if request.param == "redis":
        _redis_or_skip()
        app.config["REDIS_URL"], app.config["LOGIN_LIMIT_PREFIX"] = REDIS, f"test:{uuid.uuid4().hex}"
    yield app
    app.config.update(saved)


def _attempt(app, email: str, password: str, address: str):  # type: ignore[no-untyped-def]
    return app.test_client().post("/login", data={"email": email, "password": password},
                                  environ_base={"REMOTE_ADDR": address})


def test_an_account_is_limited_whatever_the_address(limited, make_user):
    user = make_user("target@example.org", "learner")
    codes = [_attempt(limited, user.email, WRONG, f"198.51.100.{i}").status_code for i in range(4)]
    assert codes == [422, 422, 422, 429]
    # The right password, from yet another address, is refused while the limit holds.
    response = _attempt(limited, user.email, TEST_PASSWORD, "198.51.100.99")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Trop de tentatives de connexion. Réessayez dans 1 minute." in page
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another account is not affected.
    other = make_user("bystander@example.org", "learner")
    assert _attempt(limited, other.email, TEST_PASSWORD, "198.51.100.100").status_code == 302


def test_an_address_is_limited_whatever_the_account(limited, make_user):
    user = make_user("real@example.org", "learner")
    codes = [_attempt(limited, f"guess{i}@example.org", WRONG, "203.0.113.7").status_code for i in range(9)]
    assert codes == [422] * 8 + [429]
    assert _attempt(limited, user.email, TEST_PASSWORD, "203.0.113.7").status_code == 429
    assert _attempt(limited, user.email, TEST_PASSWORD, "203.0.113.8").status_code == 302


def test_a_successful_sign_in_clears_the_accounts_count_not_the_addresss(limited, make_user):
    user = make_user("typo@example.org", "learner")
    for _ in range(2):
        assert _attempt(limited, user.email, WRONG, "192.0.2.1").status_code == 422
    assert _attempt(limited, user.email, TEST_PASSWORD, "192.0.2.1").status_code == 302
    for _ in range(3):
        assert _attempt(limited, user.email, WRONG, "192.0.2.1").status_code == 422
    assert _attempt(limited, user.email, WRONG, "192.0.2.1").status_code == 429


def test_parallel_attempts_cannot_pass_the_account_limit_together(limited, make_user):
    email = make_user("burst@example.org", "learner").email
    results: list[int] = []
    start = threading.Barrier(10)

    def attempt(i: int) -> None:
        start.wait()
        results.append(_attempt(limited, email, WRONG, f"10.0.0.{i}").status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [422] * 3 + [429] * 7



def test_the_count_does_not_start_again_at_a_clock_edge(limited, make_user):
    """A sliding window: three tries just before a round time still count just after it (a fixed window,
    cut at multiples of its length, would let three more through at once)."""
    limited.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "3 per 4 seconds"
    for round_ in range(5):
        email = make_user(f"edge{round_}@example.org", "learner").email
        time.sleep((2.0 - time.time() % 4) % 4)  # the middle of a 4-second period
        started = time.time()
        codes = [_attempt(limited, email, WRONG, f"192.0.2.{10 * round_ + i}").status_code for i in range(3)]
        if time.time() // 4 != started // 4:
            continue  # the tries themselves crossed the edge: again, on a new account
        time.sleep(4 - time.time() % 4 + 0.1)  # just past the edge, under 4 s after the first try
        assert time.time() - started < 4
        codes.append(_attempt(limited, email, WRONG, f"192.0.2.{10 * round_ + 5}").status_code)
        assert codes == [422, 422, 422, 429]
        refused = time.time()
        time.sleep(4.1)  # every try, the refused one too, has left the window
        assert _attempt(limited, email, WRONG, f"192.0.2.{10 * round_ + 6}").status_code == 422
        assert time.time() - refused < 8
        return
    pytest.fail("three sign-in attempts never fitted in two seconds")

_WORKER = """
import json, sys
from tests.conftest import make_config
from portfolio import create_app
from pathlib import Path
config = json.loads(sys.argv[1])
app = create_app(make_config(config.pop("database_url"), Path(config.pop("tmp")), **config))
client = app.test_client()
codes = [client.post("/login", data={"email": "shared@example.org", "password": "wrong wrong wrong"},
                     environ_base={"REMOTE_ADDR": "198.18.0.%d" % i}).status_code for i in range(3)]
print(json.dumps(codes))
"""


def _other_worker(database_url: str, tmp_path, **config) -> list[int]:  # type: ignore[no-untyped-def]
    """Three wrong attempts from another process, as another gunicorn worker would receive them."""
    config = {"database_url": database_url, "tmp": str(tmp_path), "LOGIN_RATE_LIMIT": "100 per minute",
              "LOGIN_ACCOUNT_RATE_LIMIT": "3 per minute", **config}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(config)], cwd=root, capture_output=True,
                         text=True, timeout=120, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_the_limit_holds_across_worker_processes(app, database_url, tmp_path, make_user, backend):
    extra: dict = {"SECRET_KEY": "one secret shared by every worker " + uuid.uuid4().hex}
    if backend == "redis":
        _redis_or_skip()
        extra |= {"REDIS_URL": REDIS, "LOGIN_LIMIT_PREFIX": f"test:{uuid.uuid4().hex}"}
    make_user("shared@example.org", "learner")
    assert _other_worker(database_url, tmp_path, **extra) == [422, 422, 422]
    here = new_app(make_config(database_url, tmp_path, LOGIN_RATE_LIMIT="100 per minute",
                               LOGIN_ACCOUNT_RATE_LIMIT="3 per minute", **extra))
    response = here.test_client().post("/login", data={"email": "shared@example.org", "password": TEST_PASSWORD},
                                       environ_base={"REMOTE_ADDR": "198.18.1.1"})
    assert response.status_code == 429


# --- behind a reverse proxy (PROXY_FIX_X_FOR) ---------------------------------------------------------

def _proxied_app(database_url, tmp_path, hops: int):  # type: ignore[no-untyped-def]
    return new_app(make_config(database_url, tmp_path, PROXY_FIX_X_FOR=hops, LOGIN_RATE_LIMIT="8 per minute",
                               LOGIN_ACCOUNT_RATE_LIMIT="3 per minute"))


def _via(app, email: str, forwarded: str, peer: str = "10.0.0.2"):  # type: ignore[no-untyped-def]
    """A sign-in attempt arriving from ``peer`` (the proxy) carrying ``X-Forwarded-For: forwarded``."""
    return app.test_client().post("/login", data={"email": email, "password": WRONG},
                                  headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": peer})


def test_a_spoofed_forwarded_for_is_ignored_by_default(app, database_url, tmp_path):
    direct = _proxied_app(database_url, tmp_path, 0)
    # A client sending a new X-Forwarded-For each time is still the one address it connects from.
    codes = [_via(direct, f"guess{i}@example.org", f"192.0.2.{i}", peer="203.0.113.50").status_code
             for i in range(9)]
    assert codes == [422] * 8 + [429]


def test_forwarded_for_is_honoured_for_the_configured_hops_only(app, database_url, tmp_path, make_user):
    proxied = _proxied_app(database_url, tmp_path, 1)
    # Behind one proxy, the client is the last address the proxy appended; what the client wrote before
    # it (a spoofed first entry) changes nothing.
    codes = [_via(proxied, f"guess{i}@example.org", f"192.0.2.{i}, 198.51.100.7").status_code for i in range(9)]
    assert codes == [422] * 8 + [429]
    # Another client behind the same proxy is not limited by the first one's attempts.
    assert _via(proxied, "someone@example.org", "198.51.100.8").status_code == 422
    # Behind two proxies, the client is the entry before the last proxy's: each of these is another client.
    two = _proxied_app(database_url, tmp_path, 2)
    codes = [_via(two, f"other{i}@example.org", f"192.0.2.{i}, 198.51.100.9").status_code for i in range(9)]
    assert codes == [422] * 9


def test_proxy_hops_must_be_a_small_whole_number(tmp_path):
    from portfolio.config import ConfigError

    for bad in (-1, "1", 11, True):
        with pytest.raises(ConfigError, match="PORTFOLIO_PROXY_FIX_X_FOR"):
            new_app(make_config("sqlite://", tmp_path, PROXY_FIX_X_FOR=bad))
