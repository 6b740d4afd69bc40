"""What every blueprint's forms share."""

from __future__ import annotations

import enum

from flask import flash
from flask_wtf import FlaskForm
from wtforms import TextAreaField as _TextAreaField

from portfolio import unit_of_work
from portfolio.services.errors import DomainError


def flash_refusal(exc: DomainError) -> None:
    """Show a service's refusal as a message; the request's writes are rolled back (the page then
    redirects, which alone would commit: see ``portfolio.unit_of_work``)."""
    unit_of_work.rollback()
    flash(exc.message, "error")


def form_error(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's refusal beside the field it names, or as a message when it names none; the
    request's writes are rolled back (see ``portfolio.unit_of_work``)."""
    unit_of_work.rollback()
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, exc.message]
    else:
        flash(exc.message, "error")


class _Saved:
    """A record seen through the names of a form's fields, with ``overrides`` winning.

    WTForms reads ``obj`` before its keyword arguments: ``Form(obj=section, experiences=[ids])`` shows
    ``section.experiences`` (model objects, never equal to a choice's id), so every box came unticked and
    the next save dropped what was saved. Here a related list is given as ids, an enum as its value.
    """

    def __init__(self, obj: object, overrides: dict) -> None:
        self._obj, self._overrides = obj, overrides

    def __getattr__(self, name: str) -> object:
        if name in self._overrides:
            return self._overrides[name]
        value = getattr(self._obj, name)
        if isinstance(value, enum.Enum):
            return value.value
        return value


def edit_form(form_class: type[FlaskForm], obj: object | None, **overrides: object) -> FlaskForm:
    """The form to edit ``obj``: on GET it shows every saved value (``overrides`` for the fields whose
    saved value is not the attribute itself, e.g. linked records as ids); on POST, what was sent."""
    if obj is None:
        return form_class(**overrides)
    return form_class(obj=_Saved(obj, overrides))


class TextAreaField(_TextAreaField):
    """A text area whose line breaks are stored as ``\n``: browsers send ``\r\n``, which made every save of
    an unchanged text a change (and counted twice against a length limit)."""

    data: str | None

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)
        if self.data:
            self.data = self.data.replace("\r\n", "\n").replace("\r", "\n")
