from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, Length


class ErasureRequestForm(FlaskForm):
    message = TextAreaField(_l("Message (facultatif)"), validators=[
        Length(max=2000, message=_l("Votre message ne doit pas dépasser %(max)d caractères."))])
    confirm = BooleanField(_l("Je comprends que mes preuves, mes journaux et mon dossier seront effacés "
                              "définitivement."),
                           validators=[DataRequired(_l("Cochez la case pour confirmer votre demande."))])


class HandleRequestForm(FlaskForm):
    decision = RadioField(_l("Décision"), choices=[
        SelectChoice("erase", _l("Effacer les données")), SelectChoice("refuse", _l("Refuser la demande"))],
        validators=[DataRequired(_l("Choisissez une décision."))])
    reason = TextAreaField(_l("Motif (communiqué à la personne)"), validators=[
        DataRequired(_l("Indiquez le motif de votre décision : il figure dans la réponse.")),
        Length(max=2000, message=_l("Le motif ne doit pas dépasser %(max)d caractères."))])
    confirm = BooleanField(_l("J'ai vérifié l'identité de la personne et je confirme ma décision."),
                           validators=[DataRequired(_l("Cochez la case pour confirmer votre décision."))])
