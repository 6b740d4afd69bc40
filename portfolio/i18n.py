"""Locale selection and French typography.

The locale is the one chosen with the header's language link on this browser (a cookie), else the
account's, else the session's (older form), else French.
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import format_date, get_locale, get_translations
from flask_login import current_user
from markupsafe import Markup

LOCALE_COOKIE = "portfolio_locale"
LOCALE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest lifetime browsers keep a cookie

_NBSP, _NARROW_NBSP = "\u00a0", "\u202f"
_BEFORE_HIGH_PUNCT = re.compile(r"[ \t\u00a0]+([;!?»])")
_BEFORE_COLON = re.compile(r"[ \t]+:(?=\s|$|<)")
_AFTER_GUILLEMET = re.compile(r"«[ \t]+")


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI and background jobs speak the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen is not None and chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("locale")
    if chosen is not None and chosen in languages:
        return chosen
    # French is the default whatever the browser says; English is on request (PRODUCT.md).
    if request.args.get("lang") in languages:
        return request.args["lang"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _translations():
    """This request's catalogue for templates, looked up once per locale instead of on every string.

    Flask-Babel's own template callables find the domain, the locale and the catalogue again for each
    ``_()`` in a template (several context-local lookups each); a progress page has over a hundred.
    The catalogue is kept beside Flask-Babel's locale, keyed by that very locale object, so that
    ``force_locale`` (e-mails in the recipient's language) still gets its own.
    """
    ctx = g.get("_flask_babel") if g else None
    if ctx is None:
        return get_translations()
    cached = getattr(ctx, "portfolio_translations", None)
    locale = getattr(ctx, "babel_locale", None)
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    translations = get_translations()
    locale = getattr(ctx, "babel_locale", None)
    ctx.portfolio_translations = (locale, translations)
    ctx.portfolio_french = str(locale or "") == "fr"
    return translations


def _template_french() -> bool:
    """Whether the catalogue :func:`_translations` just gave is French's (no new lookup)."""
    ctx = g.get("_flask_babel") if g else None
    french = getattr(ctx, "portfolio_french", None) if ctx is not None else None
    return _speaks_french() if french is None else french


def remember_locale_on_account(user) -> None:
    """Keep on the account the language chosen on this browser with the header's link (a GET, which
    writes nothing): called by sign-in and sign-out, which are POSTs."""
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in current_app.config["LANGUAGES"] and user.locale != chosen:
        user.locale = chosen


def french_typography(text: str) -> str:
    """No-break spaces where French wants them: narrow before ``; ! ? »``, plain before ``:``, after ``«``.

    Only a space the author typed is replaced (``http://``, ``10:30`` or ``a:b`` are left alone).
    """
    if not text:
        return text
    text = _BEFORE_HIGH_PUNCT.sub(_NARROW_NBSP + r"\1", text)
    text = _BEFORE_COLON.sub(_NBSP + ":", text)
    return _AFTER_GUILLEMET.sub("«" + _NARROW_NBSP, text)


def _speaks_french() -> bool:
    return has_request_context() and str(get_locale() or "") == "fr"


def typography(value):
    """Template filter: French typography on a message in French (Markup stays Markup)."""
    if not value or not _speaks_french():
        return value
    if isinstance(value, Markup):
        # Only spaces in front of punctuation change: what was safe markup stays safe.
        return Markup(french_typography(str(value)))  # noqa: S704
    return french_typography(str(value))


#: Catalogue strings are a finite set: their typography is worked out once each.
_typographed = lru_cache(maxsize=4096)(french_typography)


def template_gettext(string: str) -> str:
    """A catalogue string as templates get it (translated, French typography when in French), before its
    variables are put in: for pages that format one string many times (``Markup(text) % values``)."""
    text = _translations().ugettext(string)
    return _typographed(text) if _template_french() else text


def template_ngettext(singular: str, plural: str, n: int) -> str:
    """:func:`template_gettext` for a plural (the form for ``n``, its variables not yet put in)."""
    text = _translations().ungettext(singular, plural, n)
    return _typographed(text) if _template_french() else text


def init_app(app: Flask) -> None:
    """Template strings in French get French typography, applied to the translated text before the
    variables are put in (a learner's own words are never changed)."""
    gettext = template_gettext

    ngettext = template_ngettext
    # Added to the environment by jinja2.ext.i18n (which Flask-Babel loads); Environment's type lacks it.
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    app.add_template_filter(typography, "typography")
    app.add_template_filter(date_short, "date_short")


def date_short(value):
    """A date in the interface's language, short (``2 déc. 2026``, ``Dec 2, 2026``)."""
    return format_date(value, "medium") if value else ""
