"""Forms of share links: the owner's creation form, the recipient's password form. The rules (a choice
from the lists, lengths) are the service's, which refuses in French and names the field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from portfolio.services.share import DEFAULT_EXPIRY_DAYS


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class ShareForm(FlaskForm):
    """What to share, for how long, with an optional password; the view fills the choices."""

    target = SelectField(_l("Ce que vous partagez"), validate_choice=False,
                         validators=[DataRequired(_l("Choisissez ce que vous partagez parmi la liste."))])
    days = SelectField(_l("Validité du lien"), default=str(DEFAULT_EXPIRY_DAYS), validate_choice=False)
    password = PasswordField(_l("Mot de passe (facultatif)"))
    label = StringField(_l("Note pour vous retrouver (facultatif)"), filters=[_strip])

    def days_value(self) -> int:
        value = self.days.data or ""
        return int(value) if value.isdigit() and len(value) < 4 else 0


class SharePasswordForm(FlaskForm):
    password = PasswordField(_l("Mot de passe du lien"), validators=[
        DataRequired(_l("Saisissez le mot de passe que la personne vous a communiqué.")),
        Length(max=1024, message=_l("Ce mot de passe est trop long."))])
