"""Templates translate through the per-request catalogue (portfolio.i18n._translations)."""

from __future__ import annotations

from flask import render_template_string
from flask_babel import force_locale


def test_templates_follow_the_locale_and_force_locale(app, world):  # type: ignore[no-untyped-def]
    source = "{{ _('Vous devez vous connecter.') }}"
    with app.test_request_context("/"):
        assert render_template_string(source) == "Vous devez vous connecter."
        with force_locale("en"):
            english = render_template_string(source)
        assert english != "Vous devez vous connecter." and ("log in" in english.lower() or "sign in" in english.lower())
        assert render_template_string(source) == "Vous devez vous connecter."  # back to French
