from portfolio.blueprints.logbook.views import bp

__all__ = ["bp"]
