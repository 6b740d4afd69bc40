from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from portfolio.blueprints.admin.forms import MultiCheckboxField
from portfolio.blueprints.forms import TextAreaField

LONG = Length(max=20_000, message=_l("20 000 caractères au plus."))
SHORT = Length(max=200, message=_l("200 caractères au plus."))


class EnrolForm(FlaskForm):
    certification = SelectField(_l("Certification visée"), coerce=int,
                                validators=[DataRequired(_l("Choisissez une certification."))])


class ExperienceForm(FlaskForm):
    organisation = StringField(_l("Employeur ou organisation"), validators=[
        DataRequired(_l("Indiquez l'employeur ou l'organisation.")), SHORT])
    sector = StringField(_l("Secteur d'activité"), validators=[Optional(), SHORT])
    job_title = StringField(_l("Emploi occupé"), validators=[DataRequired(_l("Indiquez l'emploi occupé.")), SHORT])
    start_date = DateField(_l("Date de début"), validators=[DataRequired(_l("Indiquez une date valide (jj/mm/aaaa)."))])
    end_date = DateField(_l("Date de fin (vide si en cours)"), validators=[Optional()])
    time_basis = RadioField(_l("Temps de travail"), default="full_time", choices=[
        SelectChoice("full_time", _l("Temps plein")), SelectChoice("part_time", _l("Temps partiel"))],
        validators=[DataRequired(_l("Choisissez temps plein ou temps partiel."))])
    is_volunteer = BooleanField(_l("Expérience bénévole"))
    activities = TextAreaField(_l("Activités principales"), validators=[Optional(), LONG])
    tools = TextAreaField(_l("Outils et technologies"), validators=[Optional(), LONG])
    evidence = MultiCheckboxField(_l("Preuves liées à cette expérience"), coerce=int, validators=[Optional()])


class PresentationForm(FlaskForm):
    presentation = TextAreaField(_l("Présentation de votre parcours"), validators=[Optional(), LONG])


class SectionForm(FlaskForm):
    """The block's own fields; each competency's narrative and evidence are read from the request."""

    is_applied = BooleanField(_l("Je demande la validation de ce bloc"))
    activities = TextAreaField(_l("Activités réalisées"), validators=[Optional(), LONG])
    context = TextAreaField(_l("Contexte"), validators=[Optional(), LONG])
    means = TextAreaField(_l("Moyens mis en œuvre"), validators=[Optional(), LONG])
    experiences = MultiCheckboxField(_l("Expériences concernées"), coerce=int, validators=[Optional()])


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Commentaire"), validators=[
        DataRequired(_l("Écrivez votre commentaire.")), Length(max=5000, message=_l("5 000 caractères au plus."))])


class JuryCreateForm(FlaskForm):
    name = StringField(_l("Nom du jury"), validators=[DataRequired(_l("Le nom du jury est obligatoire.")), SHORT])
    members = MultiCheckboxField(_l("Membres"), coerce=int, validators=[Optional()])


class JuryMemberForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail du membre"), validators=[
        DataRequired(_l("L'adresse e-mail est obligatoire.")), Email(_l("Cette adresse e-mail n'est pas valide."))])


class AdviserForm(FlaskForm):
    adviser = SelectField(_l("Accompagnateur·rice"), coerce=int, validators=[Optional()])


class AssignForm(FlaskForm):
    jury = SelectField(_l("Jury"), coerce=int, validators=[DataRequired(_l("Choisissez un jury."))])


class BlockDecisionForm(FlaskForm):
    block = StringField(validators=[DataRequired()])
    result = RadioField(_l("Décision"), choices=[
        SelectChoice("validated", _l("Validé")), SelectChoice("not_validated", _l("Non validé"))],
        validators=[DataRequired(_l("Choisissez validé ou non validé."))])
    comment = TextAreaField(_l("Motivation"), validators=[
        DataRequired(_l("Motivez la décision du jury.")), Length(max=5000, message=_l("5 000 caractères au plus."))])


class SendForm(FlaskForm):
    """Sending freezes a version for the jury: the candidate confirms it first (works without JavaScript)."""

    confirm = BooleanField(_l("Je confirme l'envoi au jury : cette version sera figée telle quelle."),
                           validators=[DataRequired(_l("Cochez la case pour confirmer l'envoi au jury."))])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.missing: list[str] = []


class OutcomeForm(FlaskForm):
    outcome = RadioField(_l("Décision globale"), choices=[
        SelectChoice("full", _l("Validation totale")), SelectChoice("partial", _l("Validation partielle")),
        SelectChoice("refusal", _l("Refus"))], validators=[DataRequired(_l("Choisissez la décision du jury."))])
    comment = TextAreaField(_l("Motivation"), validators=[
        DataRequired(_l("Motivez la décision du jury.")), Length(max=5000, message=_l("5 000 caractères au plus."))])
    # Checked by the service (with the agreement with the block decisions), so that every refusal shows at once.
    confirm = BooleanField(_l("Je confirme : cette décision clôt la délibération et sera notifiée au·à la "
                              "candidat·e."))
