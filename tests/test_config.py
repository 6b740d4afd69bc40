"""Configuration: defaults, instance file, environment, and refusals with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portfolio import ConfigError, create_app
from portfolio.config import DEV_SECRET_KEY


def build(tmp_path: Path, monkeypatch, instance_config: str = "", **env: str):  # type: ignore[no-untyped-def]
    for key in list(os.environ):
        if key.startswith("PORTFOLIO_") and not key.startswith(("PORTFOLIO_TEST_", "PORTFOLIO_REQUIRE")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PORTFOLIO_INSTANCE_PATH", str(tmp_path))
    (tmp_path / "config.py").write_text(instance_config)
    for key, value in env.items():
        monkeypatch.setenv(f"PORTFOLIO_{key}", value)
    return create_app()


def test_production_is_the_default_and_needs_a_secret_key(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="PORTFOLIO_SECRET_KEY is missing"):
        build(tmp_path, monkeypatch)


@pytest.mark.parametrize("secret", [DEV_SECRET_KEY, "short"])
def test_production_refuses_a_weak_secret_key(tmp_path, monkeypatch, secret):
    with pytest.raises(ConfigError, match="development default or shorter than 32"):
        build(tmp_path, monkeypatch, SECRET_KEY=secret)


def test_order_defaults_then_instance_file_then_environment(tmp_path, monkeypatch):
    app = build(tmp_path, monkeypatch, 'ENV = "development"\nMAX_FILE_SIZE = 1234\nFRAME_ANCESTORS = "x"\n',
                FRAME_ANCESTORS="https://moodle.example.org")
    assert app.config["MAX_FILE_SIZE"] == 1234                   # instance file over default
    assert app.config["FRAME_ANCESTORS"] == "https://moodle.example.org"  # environment over file
    assert app.config["SECRET_KEY"] == DEV_SECRET_KEY               # allowed outside production
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith(f"sqlite:///{tmp_path}")
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_environment_database_url_uses_psycopg3(tmp_path, monkeypatch):
    app = build(tmp_path, monkeypatch, ENV="development", DATABASE_URL="postgresql://u@h/db")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("key,value,message", [
    ("ENV", "staging", "PORTFOLIO_ENV must be one of"),
    ("DATABASE_URL", "mysql://x/y", "PORTFOLIO_DATABASE_URL must be"),
    ("STORAGE_URL", "file://relative/path", "PORTFOLIO_STORAGE_URL must be file:///absolute/path"),
    ("STORAGE_URL", "ftp://host/x", "PORTFOLIO_STORAGE_URL must be"),
    ("STORAGE_URL", "s3://", "must name a bucket"),
    ("MAX_FILE_SIZE", "-5", "PORTFOLIO_MAX_FILE_SIZE must be a positive whole number"),
    ("MAX_FILE_SIZE", "big", "PORTFOLIO_MAX_FILE_SIZE must be a positive whole number"),
    ("REDIS_URL", "http://localhost", "PORTFOLIO_REDIS_URL must be a redis://"),
])
def test_bad_settings_are_refused_by_name(tmp_path, monkeypatch, key, value, message):
    env = {"ENV": "development", key: value}
    with pytest.raises(ConfigError, match=message):
        build(tmp_path, monkeypatch, **env)


def test_gunicorn_entry_point_refuses_to_start_with_one_line(tmp_path):
    """The WSGI module fails fast in production without a secret key, with one readable line."""
    env = {"PATH": "/usr/bin:/bin", "PORTFOLIO_INSTANCE_PATH": str(tmp_path), "PORTFOLIO_ENV": "production"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=Path(__file__).parents[1],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ConfigError: PORTFOLIO_SECRET_KEY is missing" in result.stderr.strip().splitlines()[-1]
