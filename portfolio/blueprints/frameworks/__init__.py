from portfolio.blueprints.frameworks.views import bp

__all__ = ["bp"]
