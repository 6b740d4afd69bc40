from portfolio.blueprints.auth.views import bp

__all__ = ["bp"]
