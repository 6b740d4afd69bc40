from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectChoice, StringField
from wtforms.validators import Length, Optional

from portfolio.blueprints.forms import TextAreaField


class ClaimForm(FlaskForm):
    """The learner's choices for one credential; the evidence boxes are read from the request (one per
    piece of evidence of the block), the service checks each belongs to them."""

    subject = RadioField(_l("M'identifier dans le badge par"), default="email_hash", choices=[
        SelectChoice("email_hash", _l("l'empreinte de mon adresse e-mail (salée, illisible sans l'adresse)")),
        SelectChoice("did", _l("un identifiant décentralisé (DID)"))])
    did = StringField(_l("Mon DID"), validators=[Optional()])
    include_name = BooleanField(_l("Inscrire mon nom dans le badge"), default=True)


class RevokeForm(FlaskForm):
    confirm = BooleanField(_l("Je révoque ce badge : il ne sera plus reconnu comme valide"))


class VerifyForm(FlaskForm):
    upload = FileField(_l("Fichier du badge (.jwt, .json, image .png ou .svg)"))
    text = TextAreaField(_l("Ou collez le JWT, ou l'adresse du badge"), validators=[
        Optional(), Length(max=20000, message=_l("Ce texte est trop long pour être un badge."))])
    email = StringField(_l("Adresse e-mail du·de la titulaire (facultatif, pour la comparer à l'empreinte)"),
                        validators=[Optional(), Length(max=254)])
