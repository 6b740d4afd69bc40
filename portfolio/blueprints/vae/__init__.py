from portfolio.blueprints.vae.views import bp

__all__ = ["bp"]
