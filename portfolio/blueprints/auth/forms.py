from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length


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
