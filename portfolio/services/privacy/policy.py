"""What is kept, why, for how long and who sees it: one declaration, from the configuration, read by the
public privacy page, the record of processing activities and the retention sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

#: Retention periods in days (``PORTFOLIO_RETENTION_DAYS`` overrides any of them, as JSON).
DEFAULT_RETENTION_DAYS: dict[str, int] = {
    "personal_data_exports": 7,      # an archive of one's data is offered for a week
    "dossier_exports": 30,           # PDF and archives of VAE dossiers, rebuilt on request
    "read_notifications": 365,
    "departed_drafts": 365,          # drafts of disabled accounts, counted from the last sign-in
    "signoff_links": 90,             # supervisors' links, counted from their expiry or revocation
    "share_links": 90,               # share links and the log of their openings, from expiry or revocation
    "privacy_requests": 5 * 365,     # proof that a request was answered
    "sent_emails": 90,               # e-mails sent or given up (address, subject, text), from their sending
}
#: Requests about one's data are answered within a month (GDPR art. 12(3)).
REQUEST_DEADLINE = timedelta(days=30)


def retention_days() -> dict[str, int]:
    configured = current_app.config.get("RETENTION_DAYS") or {}
    return {**DEFAULT_RETENTION_DAYS, **{k: int(v) for k, v in configured.items() if k in DEFAULT_RETENTION_DAYS}}


def days_label(days: int) -> str:
    if days % 365 == 0:
        years = days // 365
        return ngettext("%(num)d an", "%(num)d ans", years)
    return ngettext("%(num)d jour", "%(num)d jours", days)


@dataclass
class Processing:
    """One processing activity, as the record of processing activities (GDPR art. 30) lists it."""

    name: Any
    purpose: Any
    legal_basis: Any
    people: Any
    data: Any
    recipients: Any
    retention: Any


def processing_activities() -> list[Processing]:
    days = retention_days()
    return [
        Processing(
            name=_l("Portfolio de compétences"),
            purpose=_l("Conserver les preuves des apprenant·es et les rattacher aux compétences de leur "
                       "certification."),
            legal_basis=_l("Mission de formation de l'établissement (contrat de formation ou intérêt public)."),
            people=_l("Apprenant·es, candidat·es VAE."),
            data=_l("Nom, adresse e-mail, preuves (fichiers, descriptions, liens), rattachements et "
                    "justifications."),
            recipients=_l("La personne ; les formateur·rices de ses promotions ; les administrateur·rices."),
            retention=_l("Tant que le compte existe ; les brouillons d'un compte désactivé sont supprimés "
                         "%(period)s après la dernière connexion.", period=days_label(days["departed_drafts"])),
        ),
        Processing(
            name=_l("Évaluation et validation des blocs"),
            purpose=_l("Évaluer les compétences, valider les blocs et en garder la trace exigée par la "
                       "certification."),
            legal_basis=_l("Obligation liée à la délivrance de la certification."),
            people=_l("Apprenant·es, formateur·rices."),
            data=_l("Niveaux par compétence, commentaires, décisions de validation, auteur et date."),
            recipients=_l("La personne évaluée ; ses formateur·rices ; les administrateur·rices."),
            retention=_l("Conservées après un effacement, pseudonymisées, pour la durée exigée par la "
                         "certification."),
        ),
        Processing(
            name=_l("Journal de stage"),
            purpose=_l("Tenir le journal de stage et le faire signer par le maître de stage."),
            legal_basis=_l("Convention de stage."),
            people=_l("Apprenant·es, maîtres de stage."),
            data=_l("Organisation, nom et adresse e-mail du maître de stage, activités, heures, signatures."),
            recipients=_l("L'apprenant·e ; ses formateur·rices ; le maître de stage par un lien personnel."),
            retention=_l("Tant que le compte existe ; les liens de signature sont supprimés %(period)s "
                         "après leur expiration.", period=days_label(days["signoff_links"])),
        ),
        Processing(
            name=_l("Courriels"),
            purpose=_l("Prévenir les personnes (liens et codes de signature, évaluations, demandes sur les "
                       "données) et réessayer un envoi qui a échoué."),
            legal_basis=_l("Mission de formation de l'établissement ; convention de stage pour les maîtres de "
                           "stage."),
            people=_l("Toute personne ayant un compte ; les maîtres de stage."),
            data=_l("Adresse du destinataire, objet et texte du message, date d'envoi ; jamais le code de "
                    "signature, effacé dès l'envoi."),
            recipients=_l("Le serveur de courrier de l'établissement."),
            retention=_l("Supprimés %(period)s après leur envoi (ou leur abandon).",
                         period=days_label(days["sent_emails"])),
        ),
        Processing(
            name=_l("Partage par lien"),
            purpose=_l("Montrer, à la demande de la personne, une partie de son portfolio en lecture seule à qui "
                       "elle choisit (employeur, école), et lui dire quand le lien a été ouvert."),
            legal_basis=_l("Consentement de la personne, qui crée et retire chaque lien."),
            people=_l("Apprenant·es, candidat·es VAE ; les personnes qui ouvrent un lien."),
            data=_l("Ce que le lien montre ; pour chaque ouverture, la date, le réseau d'origine (adresse IP "
                    "tronquée : /24 en IPv4, /48 en IPv6), la famille du navigateur et ce qui a été ouvert."),
            recipients=_l("Qui détient le lien (et son mot de passe s'il en a un) ; le journal, la personne seule."),
            retention=_l("Jusqu'à l'expiration ou au retrait du lien ; le lien et son journal sont ensuite "
                         "supprimés après %(period)s.", period=days_label(days["share_links"])),
        ),
        Processing(
            name=_l("Dossier de validation (VAE)"),
            purpose=_l("Rédiger le dossier de validation et le présenter au jury."),
            legal_basis=_l("Demande de VAE de la personne (code du travail, art. L6411-1)."),
            people=_l("Candidat·es VAE, accompagnateur·rices, membres du jury."),
            data=_l("Expériences, récits, preuves, versions envoyées, décisions du jury."),
            recipients=_l("La personne ; son accompagnateur·rice ; le jury auquel le dossier est envoyé."),
            retention=_l("Tant que le compte existe ; les décisions du jury sont conservées, pseudonymisées, "
                         "après un effacement ; les exports sont supprimés après %(period)s.",
                         period=days_label(days["dossier_exports"])),
        ),
        Processing(
            name=_l("Sécurité et traçabilité"),
            purpose=_l("Prouver qui a fait quoi (journal d'audit chaîné) et protéger les comptes."),
            legal_basis=_l("Obligation de sécurité (RGPD, art. 32)."),
            people=_l("Toute personne ayant un compte."),
            data=_l("Identifiants numériques des personnes et des objets, action, date ; aucune donnée de "
                    "contenu."),
            recipients=_l("Les administrateur·rices."),
            retention=_l("Pendant la vie de l'instance (la chaîne doit rester vérifiable) ; les événements ne "
                         "contiennent que des identifiants, pseudonymisés lors d'un effacement."),
        ),
    ]


@dataclass
class RetentionRule:
    key: str
    label: Any
    days: int


def retention_rules() -> list[RetentionRule]:
    labels = {
        "personal_data_exports": _l("Archives de vos données"),
        "dossier_exports": _l("Exports des dossiers VAE"),
        "read_notifications": _l("Notifications lues"),
        "departed_drafts": _l("Brouillons des comptes désactivés"),
        "signoff_links": _l("Liens de signature des maîtres de stage"),
        "share_links": _l("Liens de partage et journal de leurs ouvertures"),
        "privacy_requests": _l("Demandes sur les données (preuve de la réponse)"),
        "sent_emails": _l("Courriels envoyés ou abandonnés (adresse, objet, texte)"),
    }
    return [RetentionRule(key, labels[key], days) for key, days in retention_days().items()]
