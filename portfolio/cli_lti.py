"""``flask --app wsgi lti ...``: platforms, our keys, roster synchronisation."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from portfolio import unit_of_work
from portfolio.cli_support import fail
from portfolio.extensions import db
from portfolio.models import KeyPurpose, LtiKey, LtiPlatform
from portfolio.services.cohorts import current_certification, find_cohort
from portfolio.services.errors import DomainError
from portfolio.services.lti import keys, platforms, registration, roster

lti_cli = AppGroup("lti", help="LTI 1.3: platforms, keys, roster synchronisation.")
platforms_cli = AppGroup("platforms", help="Platforms (LMS) that launch the portfolio.")
keys_cli = AppGroup("keys", help="Our signing keys, published at /lti/jwks.")
lti_cli.add_command(platforms_cli)
lti_cli.add_command(keys_cli)


def _run(step):
    try:
        with unit_of_work.command():
            return step()
    except DomainError as exc:
        fail(exc.message)


@platforms_cli.command("add")
@click.option("--name", default="", help="A name for the administrator (defaults to the issuer's host).")
@click.option("--issuer", required=True, help="The platform's issuer (iss), e.g. https://moodle.example.org")
@click.option("--client-id", required=True, help="The client id the platform gave the tool.")
@click.option("--deployment", "deployments", multiple=True, help="A deployment id; repeat for several.")
@click.option("--auth-url", required=True, help="OIDC authentication request URL.")
@click.option("--token-url", required=True, help="OAuth2 access token URL.")
@click.option("--jwks-url", required=True, help="The platform's public keyset URL.")
@click.option("--token-audience", default=None, help="Audience of our token assertions, if not the token URL.")
@click.option("--certification", default=None, help="Default certification of new courses, e.g. RNCP28754.")
@with_appcontext
def platforms_add(name: str, issuer: str, client_id: str, deployments: tuple[str, ...], auth_url: str,
                  token_url: str, jwks_url: str, token_audience: str | None, certification: str | None) -> None:
    """Register a platform by hand."""

    def step():
        cert = None
        if certification:
            cert = current_certification(certification)
            if cert is None:
                fail(f"Certification inconnue : {certification} (flask frameworks import).")
        platform = platforms.register_platform(
            name=name, issuer=issuer, client_id=client_id, auth_login_url=auth_url, auth_token_url=token_url,
            jwks_url=jwks_url, deployment_ids=deployments, auth_token_audience=token_audience,
            certification=cert, actor=None)
        return platform.id

    platform_id = _run(step)
    click.echo(f"Plateforme {platform_id} enregistrée : {issuer} ({client_id}).")


@platforms_cli.command("deployment")
@click.argument("platform_id", type=int)
@click.argument("deployment_id")
@with_appcontext
def platforms_deployment(platform_id: int, deployment_id: str) -> None:
    """Add a deployment id to a registered platform."""

    def step():
        platform = db.session.get(LtiPlatform, platform_id)
        if platform is None:
            fail(f"Plateforme inconnue : {platform_id}.")
        platforms.add_deployment(platform, deployment_id, actor=None)

    _run(step)
    click.echo(f"Déploiement {deployment_id} ajouté.")


@platforms_cli.command("list")
@with_appcontext
def platforms_list() -> None:
    """List the registered platforms."""

    for p in platforms.list_platforms():
        state = "active" if p.is_enabled else "désactivée"
        deployments = ",".join(d.deployment_id for d in p.deployments) or "-"
        click.echo(f"{p.id}\t{p.name}\t{p.issuer}\t{p.client_id}\t{deployments}\t{p.source.value}\t{state}")


@platforms_cli.command("invite")
@with_appcontext
def platforms_invite() -> None:
    """Print a dynamic registration URL to paste into a platform (valid LTI_INVITATION_MAX_AGE seconds)."""

    if not current_app.config.get("SERVER_NAME"):
        fail("définissez PORTFOLIO_SERVER_NAME (le nom d'hôte public) pour construire l'adresse.")
    with current_app.test_request_context("/", base_url=f"https://{current_app.config['SERVER_NAME']}"):
        click.echo(registration.invitation_url())


@keys_cli.command("rotate")
@click.option("--overlap", type=int, default=None, help="Seconds the retired key stays published.")
@with_appcontext
def keys_rotate(overlap: int | None) -> None:
    """Make a new signing key; the old one stays published until it expires."""

    new_kid, retired = _run(lambda: (lambda r: (r[0].kid, [k.kid for k in r[1]]))(
        keys.rotate_keys(overlap_seconds=overlap)))
    click.echo(f"Nouvelle clé active : {new_kid}")
    for kid in retired:
        click.echo(f"Clé retirée (publiée jusqu'à expiration) : {kid}")


@keys_cli.command("list")
@with_appcontext
def keys_list() -> None:
    """List our keys and whether they are published."""

    published = {k.kid for k in keys.published_keys()}

    for k in db.session.scalars(db.select(LtiKey).where(LtiKey.purpose == KeyPurpose.LTI).order_by(LtiKey.id)):
        click.echo(f"{k.kid}\t{k.status.value}\t{'publiée' if k.kid in published else 'expirée'}\t"
                   f"{k.expires_at.isoformat() if k.expires_at else '-'}")
@lti_cli.command("sync")
@click.argument("cohort")
@with_appcontext
def lti_sync(cohort: str) -> None:
    """Synchronise a cohort's learners and tutors from its course membership (NRPS)."""

    def step():
        found = find_cohort(cohort)
        if found is None:
            fail(f"Promotion inconnue : {cohort}.")
        return roster.sync_cohort(found)

    reports = _run(step)
    for report in reports:
        click.echo(report.summary())
