"""The OpenAPI 3.1 document of ``/api/v1``, generated from the routes' declarations (``spec.py``)."""

from portfolio.blueprints.api.spec import build_document

__all__ = ["build_document"]
