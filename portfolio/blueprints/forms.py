"""What every blueprint's forms share."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from portfolio.services.errors import DomainError


def form_error(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's refusal beside the field it names, or as a message when it names none."""
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, exc.message]
    else:
        flash(exc.message, "error")
