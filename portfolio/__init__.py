"""portfolio: a competency e-portfolio for French professional certifications (RNCP).

Every import is at the top of its module (tests/test_imports.py): importing any ``portfolio`` module
imports this package, and so the whole application, whose modules import one another without a circle.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portfolio import cli, i18n, jobs, storage, unit_of_work, uploads, web
from portfolio.blueprints.admin import succession as _admin_succession  # noqa: F401  (its routes, on admin_bp)
from portfolio.blueprints.admin.views import bp as admin_bp
from portfolio.blueprints.api.views import bp as api_bp
from portfolio.blueprints.assessment.views import bp as assessment_bp
from portfolio.blueprints.auth.views import bp as auth_bp
from portfolio.blueprints.credentials.views import bp as credentials_bp
from portfolio.blueprints.evidence.views import bp as evidence_bp
from portfolio.blueprints.frameworks.views import bp as frameworks_bp
from portfolio.blueprints.logbook.views import bp as logbook_bp
from portfolio.blueprints.lti.views import bp as lti_bp
from portfolio.blueprints.main.views import bp as main_bp
from portfolio.blueprints.privacy.views import bp as privacy_bp
from portfolio.blueprints.share.views import bp as share_bp
from portfolio.blueprints.vae.views import bp as vae_bp
from portfolio.config import PROXY_FIX_KEYS, ConfigError, default_config, load_env, validate_config
from portfolio.extensions import babel, csrf, db, limiter, login_manager, migrate
from portfolio.services import access
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
    register_proxy_fix(app)
    return app


def register_proxy_fix(app: Flask) -> None:
    """Trust the X-Forwarded-* headers of as many reverse proxies as configured, none by default: a
    client cannot pick its own address (for the sign-in limit) by sending the header itself."""
    hops = {key.removeprefix("PROXY_FIX_").lower(): app.config[key] for key in PROXY_FIX_KEYS}
    if any(hops.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **hops)  # type: ignore[method-assign]


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
    db.init_app(app)
    migrations = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    migrate.init_app(app, db, directory=migrations, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    access.init_login(login_manager)
    storage.init_app(app)


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(frameworks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(evidence_bp)
    app.register_blueprint(assessment_bp)
    app.register_blueprint(logbook_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(vae_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(share_bp)
    app.register_blueprint(lti_bp)
    app.register_blueprint(credentials_bp)
    # The API reads no cookie, only a bearer token: there is no cross-site request to forge.
    csrf.exempt(api_bp)


def register_hooks(app: Flask) -> None:
    unit_of_work.init_app(app)
    uploads.init_app(app)
    web.init_app(app)


def register_cli(app: Flask) -> None:
    cli.init_app(app)


jobs.use_app_factory(create_app)  # a job run outside an application builds one with it
