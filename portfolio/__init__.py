"""portfolio: a competency e-portfolio for French professional certifications (RNCP)."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from portfolio.config import ConfigError, default_config, load_env, validate_config
from portfolio.uploads import StreamingRequest

__all__ = ["ConfigError", "create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, CLI, error pages.

    ``config`` (used by tests) is applied last, over ``instance/config.py`` and the environment.
    No side effects beyond reading files: no migrations, no table creation, no network.
    """
    app = Flask(__name__, instance_path=os.environ.get("PORTFOLIO_INSTANCE_PATH"), instance_relative_config=True)
    app.request_class = StreamingRequest
    register_config(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    register_cli(app)
    return app


def register_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    app.config.update(default_config(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    load_env(app.config)
    if overrides:
        app.config.update(overrides)
    validate_config(app.config)
    app.debug = app.config["ENV"] == "development" and app.debug
    logging.getLogger("portfolio").setLevel(logging.INFO)


def register_extensions(app: Flask) -> None:
    from portfolio import i18n, storage
    from portfolio.extensions import babel, csrf, db, limiter, login_manager, migrate
    from portfolio.services import access

    db.init_app(app)
    migrations = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    migrate.init_app(app, db, directory=migrations, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    login_manager.init_app(app)
    access.init_login(login_manager)
    storage.init_app(app)


def register_blueprints(app: Flask) -> None:
    from portfolio.blueprints.admin import bp as admin_bp
    from portfolio.blueprints.api import bp as api_bp
    from portfolio.blueprints.assessment import bp as assessment_bp
    from portfolio.blueprints.auth import bp as auth_bp
    from portfolio.blueprints.evidence import bp as evidence_bp
    from portfolio.blueprints.frameworks import bp as frameworks_bp
    from portfolio.blueprints.logbook import bp as logbook_bp
    from portfolio.blueprints.main import bp as main_bp
    from portfolio.blueprints.vae import bp as vae_bp
    from portfolio.extensions import csrf

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(frameworks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(evidence_bp)
    app.register_blueprint(assessment_bp)
    app.register_blueprint(logbook_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(vae_bp)
    # The API reads no cookie, only a bearer token: there is no cross-site request to forge.
    csrf.exempt(api_bp)


def register_hooks(app: Flask) -> None:
    from portfolio import web

    web.init_app(app)


def register_cli(app: Flask) -> None:
    from portfolio import cli

    cli.init_app(app)
