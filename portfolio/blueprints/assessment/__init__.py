from portfolio.blueprints.assessment.views import bp

__all__ = ["bp"]
