"""The JSON API, ``/api/v1``, authenticated by personal access tokens."""

from portfolio.blueprints.api.views import bp

__all__ = ["bp"]
