"""The app as ``bench/load.py`` serves it: the real application plus one bench-only page.

``/_bench/reference`` renders a 200-line Jinja template (no database, no session): the yardstick the
home and progress pages are compared with. It exists only in this wrapper, never in the app's routes.

    gunicorn --pythonpath bench _load_app:app
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from portfolio import create_app as create_portfolio_app

_LINES = ["<!doctype html>", '<html lang="fr">', "<head>", '  <meta charset="utf-8">',
          "  <title>{{ title }}</title>", "</head>", "<body>", "<main>", "  <h1>{{ title }}</h1>"]
for _i in range(1, 186):
    _LINES.append(f'  <p class="line-{_i}">Ligne {_i} : {{{{ words[{_i} % words|length] }}}} — '
                  f"{{{{ (n * {_i}) % 97 }}}}</p>")
_LINES += ["  <ul>", "  {% for item in items %}<li>{{ item }}</li>{% endfor %}", "  </ul>", "</main>",
           "</body>", "</html>"]
TEMPLATE = "\n".join(_LINES)
assert len(_LINES) == 200, len(_LINES)


def create_app() -> Flask:
    app = create_portfolio_app()
    template = app.jinja_env.from_string(TEMPLATE)  # compiled once, as a file template would be
    bp = Blueprint("bench_reference", __name__)

    @bp.get("/_bench/reference")
    def reference() -> str:
        return render_template(template, title="Page de référence", n=7,
                               words=["compétence", "preuve", "bloc", "évaluation", "promotion"],
                               items=[f"élément {i}" for i in range(20)])

    app.register_blueprint(bp)
    return app


app = create_app()
