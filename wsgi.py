"""The WSGI entry point: ``gunicorn wsgi:app`` serves this ``app``."""

import logging

from portfolio import create_app
from portfolio.storage import StorageError, get_storage

app = create_app()

# Check the evidence store once at start-up (not in create_app, which has no side effects):
# a misconfigured bucket is reported at once, and /healthz keeps reporting it.
if app.config["STORAGE_CHECK_AT_STARTUP"]:
    with app.app_context():
        try:
            get_storage().check()
        except StorageError as exc:
            logging.getLogger("portfolio").error("Evidence store not ready: %s", exc)
