from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, MultipleFileField, SelectChoice, SelectField, StringField, URLField
from wtforms.validators import DataRequired, Length, Optional

from portfolio.blueprints.forms import TextAreaField

KIND_CHOICES = [
    SelectChoice("code", _l("Code source")),
    SelectChoice("uml", _l("Diagramme UML")),
    SelectChoice("test_report", _l("Rapport de tests")),
    SelectChoice("logbook", _l("Journal de stage")),
    SelectChoice("document", _l("Document")),
    SelectChoice("link", _l("Lien")),
    SelectChoice("other", _l("Autre")),
]
CONTEXT_CHOICES = [
    SelectChoice("project", _l("Projet")),
    SelectChoice("internship", _l("Stage")),
    SelectChoice("professional", _l("Expérience professionnelle")),
    SelectChoice("case_study", _l("Étude de cas")),
]


class EvidenceForm(FlaskForm):
    title = StringField(_l("Titre"), validators=[
        DataRequired(_l("Le titre est obligatoire.")),
        Length(max=200, message=_l("Le titre ne doit pas dépasser 200 caractères."))])
    kind = SelectField(_l("Type de preuve"), choices=KIND_CHOICES)
    context = SelectField(_l("Contexte"), choices=CONTEXT_CHOICES)
    occurred_on = DateField(_l("Date"), validators=[DataRequired(_l("Indiquez une date valide (jj/mm/aaaa)."))])
    description = TextAreaField(_l("Description (Markdown)"), validators=[
        Optional(), Length(max=50_000, message=_l("La description ne doit pas dépasser 50 000 caractères."))])
    url = URLField(_l("Lien (http ou https)"), validators=[Optional(), Length(max=2000)])
    files = MultipleFileField(_l("Fichiers"))


class TagForm(FlaskForm):
    competency = SelectField(_l("Compétence"), validators=[DataRequired(_l("Choisissez une compétence."))])
    justification = TextAreaField(_l("Justification"), validators=[
        DataRequired(_l("Expliquez en quelques mots en quoi cette preuve montre la compétence.")),
        Length(max=2000, message=_l("La justification ne doit pas dépasser 2000 caractères."))])


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Rechercher dans les titres"), validators=[Optional(), Length(max=200)])
    block = SelectField(_l("Bloc"), validators=[Optional()])
    competency = SelectField(_l("Compétence"), validators=[Optional()])
    kind = SelectField(_l("Type"), validators=[Optional()])
