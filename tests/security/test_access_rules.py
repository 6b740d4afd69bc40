"""Permissions are decided in one place, ``portfolio/services/access.py``: nowhere else is a person's
role compared to decide what they may do, and templates ask through ``can("name", obj)``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portfolio.services import access

ROOT = Path(__file__).resolve().parents[2] / "portfolio"

# A person's roles compared: has_role(...), Role.X in user.roles, UserRole.role == Role.X (a loop over
# the roles, to show or edit them, is not a comparison).
ROLE_TEST_PY = re.compile(r"\bhas_role\(|\bRole\.[A-Z_]+\s+(?:not\s+)?in\b|"
                          r"(?<!for )\b\w+\s+(?:not\s+)?in\s+[\w.]+\.roles\b|\bUserRole\.role\s*(?:==|!=)")
ROLE_TEST_JINJA = re.compile(r"\bhas_role\(|\bhas_permission\(|\bPermission\.|\.roles?\s*(?:==|!=)|"
                             r"[\"'](?:admin|tutor|learner|jury|vae_candidate)[\"']\s+(?:not\s+)?in\b")
# Services that give roles, or check that a person holds the role a membership needs: they handle
# roles as data, and say why at the line.
ROLE_DATA = {
    "services/users.py",        # assigns roles (an administrator keeps their own)
    "services/cohorts.py",      # a cohort member holds the role their membership gives
    "services/lti/launch.py",   # a launch's course role needs the matching account role
    "services/share.py",        # what an owner is offered to share (a learner's progress); access imports it
}
CAN_CALL = re.compile(r"""\bcan\(\s*["']([a-z_]+)["']""")


def _python_files() -> list[Path]:
    return [path for path in ROOT.rglob("*.py")
            if path.relative_to(ROOT).as_posix() not in {"services/access.py", *ROLE_DATA}
            and not path.relative_to(ROOT).as_posix().startswith(("models/", "cli"))]


def test_no_role_comparison_outside_access() -> None:
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _python_files()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if ROLE_TEST_PY.search(line)]
    assert found == [], "ask portfolio.services.access (has_permission, can_*), not the roles"


def test_templates_ask_can() -> None:
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in (ROOT / "templates").rglob("*.html")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if ROLE_TEST_JINJA.search(line)]
    assert found == [], 'templates ask can("name", obj), a name of access.RULES'


def test_every_name_a_template_asks_is_a_rule() -> None:
    asked = {name for path in (ROOT / "templates").rglob("*.html")
             for name in CAN_CALL.findall(path.read_text(encoding="utf-8"))}
    assert asked, "the templates ask can(...)"
    assert asked - set(access.RULES) == set()


def test_every_permission_is_a_rule() -> None:
    assert {permission.value for permission in access.Permission} <= set(access.RULES)


def test_an_unknown_name_raises_in_tests(app) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context(), pytest.raises(access.UnknownRule):
        access.can(None, "edit_evrything")


def test_an_unknown_name_is_refused_in_production(app, caplog) -> None:  # type: ignore[no-untyped-def]
    app.testing = False
    try:
        with app.test_request_context():
            assert access.can(None, "edit_evrything") is False
    finally:
        app.testing = True
    assert "unknown rule" in caplog.text


def test_can_asks_the_rule(app, world) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        assert access.can(world.admin, "administer") and not access.can(world.learner, "administer")
        assert access.can(world.learner, "follow_training") and not access.can(world.tutor, "follow_training")
        assert not access.can(None, "administer")
