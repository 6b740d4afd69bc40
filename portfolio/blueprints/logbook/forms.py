from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, IntegerField, StringField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from portfolio.blueprints.admin.forms import MultiCheckboxField
from portfolio.blueprints.forms import TextAreaField


class InternshipForm(FlaskForm):
    organisation = StringField(_l("Organisme d'accueil"), validators=[
        DataRequired(_l("Indiquez l'organisme d'accueil.")), Length(max=200, message=_l("200 caractères au plus."))])
    supervisor_name = StringField(_l("Nom du maître de stage"), validators=[
        DataRequired(_l("Indiquez le nom du maître de stage.")),
        Length(max=200, message=_l("200 caractères au plus."))])
    supervisor_email = EmailField(_l("Adresse e-mail du maître de stage"), validators=[
        DataRequired(_l("Indiquez l'adresse e-mail du maître de stage.")),
        Email(_l("Cette adresse e-mail n'est pas valide.")), Length(max=254)])
    start_date = DateField(_l("Date de début"), validators=[DataRequired(_l("Indiquez une date valide (jj/mm/aaaa)."))])
    end_date = DateField(_l("Date de fin"), validators=[DataRequired(_l("Indiquez une date valide (jj/mm/aaaa)."))])
    expected_hours = IntegerField(_l("Durée prévue (heures)"), validators=[
        Optional(), NumberRange(min=1, max=10_000, message=_l("Entre 1 et 10 000 heures."))])


class EntryForm(FlaskForm):
    day = DateField(_l("Jour"), validators=[DataRequired(_l("Indiquez une date valide (jj/mm/aaaa)."))])
    # Text, not a number field: people type "7,5" or "7h30" (the service reads them).
    hours = StringField(_l("Heures"), validators=[DataRequired(_l("Indiquez le nombre d'heures.")), Length(max=10)])
    activities = TextAreaField(_l("Activités (Markdown)"), validators=[
        DataRequired(_l("Décrivez les activités de la journée.")),
        Length(max=20_000, message=_l("Les activités ne doivent pas dépasser 20 000 caractères."))])
    competencies = MultiCheckboxField(_l("Compétences mises en œuvre"), validators=[Optional()])


class SendForm(FlaskForm):
    entries = MultiCheckboxField(_l("Entrées à faire signer"), coerce=int,
                                 validators=[DataRequired(_l("Choisissez au moins une entrée à faire signer."))])


class PeriodForm(FlaskForm):
    start = DateField(_l("Du"), validators=[Optional()])
    end = DateField(_l("Au"), validators=[Optional()])


class PeriodQuery(PeriodForm):
    class Meta:
        csrf = False


class SignForm(FlaskForm):
    entries = MultiCheckboxField(_l("Entrées à signer"), coerce=int,
                                 validators=[DataRequired(_l("Cochez au moins une entrée à signer."))])
    name = StringField(_l("Votre nom (signature)"), validators=[
        DataRequired(_l("Indiquez votre nom pour signer.")), Length(max=200, message=_l("200 caractères au plus."))])
    comment = TextAreaField(_l("Commentaire (facultatif)"), validators=[
        Optional(), Length(max=2000, message=_l("Le commentaire ne doit pas dépasser 2000 caractères."))])
    #: Empty on the first submission (a code is then e-mailed); the code received, on the second.
    code = StringField(_l("Code reçu par e-mail"), validators=[Optional(), Length(max=12)])


class ReturnForm(FlaskForm):
    remark = TextAreaField(_l("Remarque pour l'apprenant·e"), validators=[
        DataRequired(_l("Expliquez ce qui doit être corrigé.")),
        Length(max=2000, message=_l("La remarque ne doit pas dépasser 2000 caractères."))])
