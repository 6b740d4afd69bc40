from portfolio.blueprints.admin.views import bp

__all__ = ["bp"]
