from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectChoice, SelectField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portfolio.blueprints.forms import TextAreaField
from portfolio.services.assessment import MAX_COMMENT

LEVEL_CHOICES = [
    SelectChoice("acquired", _l("acquis")),
    SelectChoice("in_progress", _l("en cours d'acquisition")),
    SelectChoice("not_acquired", _l("non acquis")),
]
SORT_CHOICES = [SelectChoice("name", _l("Nom")), SelectChoice("acquired", _l("Compétences acquises"))]


class AssessmentForm(FlaskForm):
    competency = HiddenField(validators=[DataRequired(_l("Compétence manquante."))])
    level = RadioField(_l("Niveau"), choices=LEVEL_CHOICES,
                       validators=[InputRequired(_l("Choisissez un niveau."))])
    comment = TextAreaField(_l("Commentaire (Markdown)"), validators=[
        Optional(), Length(max=MAX_COMMENT, message=_l("Le commentaire ne doit pas dépasser 10 000 caractères."))])


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Votre message (Markdown)"), validators=[
        DataRequired(_l("Le commentaire est vide.")),
        Length(max=MAX_COMMENT, message=_l("Le commentaire ne doit pas dépasser 10 000 caractères."))])


class DecisionForm(FlaskForm):
    comment = TextAreaField(_l("Commentaire"), validators=[Optional(), Length(max=MAX_COMMENT)])


class QueueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    cohort = SelectField(_l("Promotion"), validators=[Optional()])
    learner = SelectField(_l("Apprenant·e"), validators=[Optional()])
    block = SelectField(_l("Bloc"), validators=[Optional()])


class MatrixFilterForm(FlaskForm):
    class Meta:
        csrf = False

    block = SelectField(_l("Bloc"), validators=[Optional()])
    sort = SelectField(_l("Trier par"), choices=SORT_CHOICES, validators=[Optional()])
