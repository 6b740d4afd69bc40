from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.fields import SelectMultipleField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

ROLE_CHOICES = [
    SelectChoice("learner", _l("Apprenant·e")),
    SelectChoice("vae_candidate", _l("Candidat·e VAE")),
    SelectChoice("tutor", _l("Formateur·rice")),
    SelectChoice("jury", _l("Membre du jury")),
    SelectChoice("admin", _l("Administrateur·rice")),
]
LOCALE_CHOICES = [SelectChoice("fr", "Français"), SelectChoice("en", "English")]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserCreateForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[
        DataRequired(_l("L'adresse e-mail est obligatoire.")),
        Email(_l("Cette adresse e-mail n'est pas valide.")), Length(max=254)])
    name = StringField(_l("Nom complet"), validators=[
        DataRequired(_l("Le nom est obligatoire.")), Length(max=200, message=_l("200 caractères au plus."))])
    roles = MultiCheckboxField(_l("Rôles"), choices=ROLE_CHOICES,
                               validators=[DataRequired(_l("Choisissez au moins un rôle."))])
    locale = SelectField(_l("Langue"), choices=LOCALE_CHOICES, default="fr")
    password = PasswordField(_l("Mot de passe initial"), validators=[
        DataRequired(_l("Le mot de passe est obligatoire.")),
        Length(min=10, max=1024, message=_l("Le mot de passe doit contenir au moins 10 caractères."))])


class UserEditForm(FlaskForm):
    name = StringField(_l("Nom complet"), validators=[
        DataRequired(_l("Le nom est obligatoire.")), Length(max=200, message=_l("200 caractères au plus."))])
    roles = MultiCheckboxField(_l("Rôles"), choices=ROLE_CHOICES,
                               validators=[DataRequired(_l("Choisissez au moins un rôle."))])
    locale = SelectField(_l("Langue"), choices=LOCALE_CHOICES)
    is_enabled = BooleanField(_l("Compte actif"))
    password = PasswordField(_l("Nouveau mot de passe (laisser vide pour ne pas changer)"), validators=[
        Optional(), Length(min=10, max=1024, message=_l("Le mot de passe doit contenir au moins 10 caractères."))])


class CohortCreateForm(FlaskForm):
    name = StringField(_l("Nom de la promotion"), validators=[
        DataRequired(_l("Le nom est obligatoire.")), Length(max=200, message=_l("200 caractères au plus."))])
    certification = SelectField(_l("Certification"), coerce=int,
                                validators=[DataRequired(_l("Choisissez une certification."))])
    year = IntegerField(_l("Année"), validators=[
        DataRequired(_l("Indiquez l'année (par exemple 2026).")),
        NumberRange(min=2000, max=2100, message=_l("L'année doit être comprise entre 2000 et 2100."))])


class MemberAddForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail de la personne"), validators=[
        DataRequired(_l("L'adresse e-mail est obligatoire.")),
        Email(_l("Cette adresse e-mail n'est pas valide."))])
    role = SelectField(_l("En tant que"), choices=ROLE_CHOICES[0:1] + ROLE_CHOICES[2:3])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons."""


class MigrateCohortsForm(FlaskForm):
    """The confirmation asked before moving cohorts to the next version of a fiche."""

    confirm = BooleanField(_l("Je confirme le passage des promotions à la nouvelle version"), validators=[
        DataRequired(_l("Cochez la case de confirmation pour migrer les promotions."))])
