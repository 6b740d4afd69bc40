from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectField
from wtforms.validators import AnyOf, DataRequired


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Langue"), choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")],
                         validators=[DataRequired(), AnyOf(["fr", "en"])])
    next = HiddenField()
