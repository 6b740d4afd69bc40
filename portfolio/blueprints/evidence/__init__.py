from portfolio.blueprints.evidence.views import bp

__all__ = ["bp"]
