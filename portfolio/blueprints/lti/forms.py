from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class PlatformForm(FlaskForm):
    name = StringField(_l("Nom de la plateforme"), validators=[Optional(), Length(max=200)])
    issuer = StringField(_l("Émetteur (issuer)"), validators=[DataRequired(_l("L'émetteur est obligatoire."))])
    client_id = StringField(_l("Identifiant client (client_id)"),
                            validators=[DataRequired(_l("L'identifiant client est obligatoire."))])
    deployment_ids = TextAreaField(_l("Identifiants de déploiement (un par ligne)"), validators=[Optional()])
    auth_login_url = StringField(_l("URL d'authentification OIDC"),
                                 validators=[DataRequired(_l("Cette adresse est obligatoire."))])
    auth_token_url = StringField(_l("URL des jetons OAuth2"),
                                 validators=[DataRequired(_l("Cette adresse est obligatoire."))])
    jwks_url = StringField(_l("URL des clés publiques (JWKS)"),
                           validators=[DataRequired(_l("Cette adresse est obligatoire."))])
    certification = SelectField(_l("Certification par défaut des cours"), validators=[Optional()])


class CertificationChoiceForm(FlaskForm):
    certification = SelectField(_l("Certification préparée dans ce cours"),
                                validators=[DataRequired(_l("Choisissez une certification."))])


class DeepLinkForm(FlaskForm):
    target = SelectField(_l("Ce que le lien ouvre"))
    block = SelectField(_l("Bloc (pour « un bloc »)"), validators=[Optional()])
    title = StringField(_l("Titre du lien dans le cours"), validators=[Optional(), Length(max=200)])
