from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), filters=[lambda value: value.strip() if value else value], validators=[
        DataRequired(_l("Saisissez votre adresse e-mail.")),
        Email(_l("Cette adresse e-mail n'est pas valide.")),
        Length(max=254),
    ])
    password = PasswordField(_l("Mot de passe"), validators=[
        DataRequired(_l("Saisissez votre mot de passe.")), Length(max=1024),
    ])
    remember = BooleanField(_l("Rester connecté·e sur cet appareil"))


class TokenForm(FlaskForm):
    name = StringField(_l("Nom du jeton"), filters=[lambda value: value.strip() if value else value], validators=[
        DataRequired(_l("Donnez un nom au jeton (par exemple « CI GitLab »).")), Length(max=100),
    ])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Mot de passe actuel"), validators=[
        DataRequired(_l("Saisissez votre mot de passe actuel.")), Length(max=1024)])
    password = PasswordField(_l("Nouveau mot de passe"), validators=[
        DataRequired(_l("Saisissez le nouveau mot de passe.")),
        Length(min=10, max=1024, message=_l("Le mot de passe doit contenir au moins 10 caractères."))])
    confirm = PasswordField(_l("Nouveau mot de passe (confirmation)"), validators=[
        DataRequired(_l("Saisissez à nouveau le nouveau mot de passe.")),
        EqualTo("password", _l("Les deux saisies du nouveau mot de passe diffèrent."))])
