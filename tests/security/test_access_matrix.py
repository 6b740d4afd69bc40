"""Every route, with every role and with no login: the permission matrix, in one table.

A route missing from ROUTES fails the test, so no new page can escape the matrix. The GET matrix reads one
world built once for the module (``MatrixWorld``: the people signed in once each, their session cookies
reused); the tests that post build their own world, as every other test does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import build_world, shared_world, signed_in_cookie, with_session

ROLES = ["anonymous", "learner", "other_learner", "tutor", "other_tutor", "vae", "jury", "admin"]

# endpoint -> (path template, {role: expected status}); "login" means a redirect to the sign-in page.
L, OK, NF, FB = "login", 200, 404, 403


def everyone(status: int | str = OK, anonymous: int | str = L) -> dict:
    return {role: (anonymous if role == "anonymous" else status) for role in ROLES}


def only(allowed: dict[str, int], others: int = FB) -> dict:
    result = everyone(others)
    result.update(allowed)
    return result


ROUTES: dict[str, tuple[str, dict]] = {
    "main.home": ("/", everyone()),
    "main.healthz": ("/healthz", everyone(OK, anonymous=OK)),
    "main.set_language": ("/language", everyone(405, anonymous=405)),  # POST only
    "main.switch_language": ("/lang/en", everyone(302, anonymous=302)),  # the header's link, for everyone
    "main.cohort": ("/cohorts/{cohort}", only({"tutor": OK, "other_tutor": NF, "admin": OK}) | {"anonymous": L}),
    "auth.login": ("/login", everyone(302, anonymous=OK)),
    "auth.logout": ("/logout", everyone(405, anonymous=405)),
    "frameworks.certifications": ("/certifications/", only({"admin": OK}) | {"anonymous": L}),
    "frameworks.certification": ("/certifications/{certification}", everyone()),
    "frameworks.block": ("/blocks/RNCP28754BC01",
                         only({"learner": OK, "other_learner": OK, "vae": NF}) | {"anonymous": L}),
    "admin.index": ("/admin/", only({"admin": OK}) | {"anonymous": L}),
    "admin.user_list": ("/admin/users/", only({"admin": OK}) | {"anonymous": L}),
    "admin.user_create": ("/admin/users/new", only({"admin": OK}) | {"anonymous": L}),
    "admin.user_edit": ("/admin/users/{learner_id}", only({"admin": OK}) | {"anonymous": L}),
    "admin.cohort_list": ("/admin/cohorts/", only({"admin": OK}) | {"anonymous": L}),
    "admin.cohort_detail": ("/admin/cohorts/{cohort}", only({"admin": OK}) | {"anonymous": L}),
    "admin.cohort_remove_member": ("/admin/cohorts/{cohort}/members/{learner_id}/remove",
                                   everyone(405, anonymous=405)),
    # The next version of a fiche: administrators only (the world holds one registration, so the pair
    # page answers 404 even to them: a version is not its own successor; tests/test_succession.py has the rest).
    "admin.successions": ("/admin/successions/", only({"admin": OK}) | {"anonymous": L}),
    "admin.succession_mapping": ("/admin/successions/{certification}/{certification}",
                                 only({"admin": NF}) | {"anonymous": L}),
    "admin.succession_migrate": ("/admin/successions/{certification}/{certification}/migrate",
                                 everyone(405, anonymous=405)),
    "admin.emails": ("/admin/emails/", only({"admin": OK}) | {"anonymous": L}),
    "admin.email_retry": ("/admin/emails/1/retry", everyone(405, anonymous=405)),  # POST only
    "auth.api_tokens": ("/account/tokens", everyone()),
    "auth.change_password": ("/account/password", everyone()),
    "auth.revoke_api_token": ("/account/tokens/1/revoke", everyone(405, anonymous=405)),  # POST only
    "api.openapi": ("/api/v1/openapi.json", everyone(OK, anonymous=OK)),
    # The API ignores the session cookie: without a bearer token, 401 for everyone (tests/test_api.py
    # walks the same routes with a token for every role).
    "api.list_certifications": ("/api/v1/certifications", everyone(401, anonymous=401)),
    "api.list_evidence": ("/api/v1/evidence", everyone(401, anonymous=401)),
    "api.create_evidence": ("/api/v1/evidence", everyone(401, anonymous=401)),
    "api.get_evidence": ("/api/v1/evidence/1", everyone(401, anonymous=401)),
    "api.update_evidence": ("/api/v1/evidence/1", everyone(401, anonymous=401)),
    "api.delete_evidence": ("/api/v1/evidence/1", everyone(401, anonymous=401)),
    "api.download_file": ("/api/v1/evidence/1/files/1", everyone(401, anonymous=401)),
    "api.add_tag": ("/api/v1/evidence/1/tags", everyone(405, anonymous=405)),  # POST only
    "api.remove_tag": ("/api/v1/evidence/1/tags/RNCP28754BC01-C01", everyone(405, anonymous=405)),  # DELETE only
    "api.my_progress": ("/api/v1/me/progress", everyone(401, anonymous=401)),
    "static": ("/static/app.css", everyone(OK, anonymous=OK)),
    # Evidence of world.learner: the owner, the tutors of their cohort and administrators read it;
    # anyone else gets 404 (nothing reveals it exists); only the owner changes it.
    "evidence.index": ("/evidence/", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "evidence.create": ("/evidence/new", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "evidence.detail": ("/evidence/{evidence}", only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "evidence.edit": ("/evidence/{evidence}/edit",
                      only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "evidence.download": ("/evidence/{evidence}/files/{file}",
                          only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    # Views of one file (an image, a file inside an archive): the same readers as the evidence page.
    "evidence.image": ("/evidence/{evidence}/files/{image_file}/image",
                       only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "evidence.archive_entry": ("/evidence/{evidence}/files/{archive_file}/archive?path=src/app.py",
                               only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "evidence.delete": ("/evidence/{evidence}/delete", everyone(405, anonymous=405)),
    "evidence.delete_file": ("/evidence/{evidence}/files/{file}/delete", everyone(405, anonymous=405)),
    "evidence.add_tag": ("/evidence/{evidence}/tags", everyone(405, anonymous=405)),
    "evidence.remove_tag": ("/evidence/{evidence}/tags/RNCP28754BC01-C01/delete", everyone(405, anonymous=405)),
    "evidence.preview": ("/evidence/preview", everyone(405, anonymous=405)),
    "evidence.stage_upload": ("/evidence/uploads", everyone(405, anonymous=405)),
    "api.create_upload": ("/api/v1/uploads", everyone(405, anonymous=405)),
    "api.submit_evidence": ("/api/v1/evidence/{evidence}/submit", everyone(405, anonymous=405)),  # POST only
    "api.withdraw_evidence": ("/api/v1/evidence/{evidence}/withdraw", everyone(405, anonymous=405)),  # POST only
    "api.assessment_queue": ("/api/v1/assessments/queue", everyone(401, anonymous=401)),
    "api.list_assessments": ("/api/v1/evidence/{evidence}/assessments", everyone(401, anonymous=401)),
    "api.create_assessment": ("/api/v1/evidence/{evidence}/assessments", everyone(401, anonymous=401)),
    "api.validate_block": ("/api/v1/learners/{learner_id}/blocks/RNCP28754BC01/validation",
                           everyone(405, anonymous=405)),  # POST only
    "api.list_cohorts": ("/api/v1/cohorts", everyone(401, anonymous=401)),
    "api.cohort_matrix": ("/api/v1/cohorts/{cohort}/matrix", everyone(401, anonymous=401)),
    "api.learner_progress": ("/api/v1/learners/{learner_id}/progress", everyone(401, anonymous=401)),
    "api.list_internships": ("/api/v1/internships", everyone(401, anonymous=401)),
    "api.list_entries": ("/api/v1/internships/1/entries", everyone(401, anonymous=401)),
    "api.create_entry": ("/api/v1/internships/1/entries", everyone(401, anonymous=401)),  # GET lists
    "api.get_dossier": ("/api/v1/dossiers/1", everyone(401, anonymous=401)),
    "api.update_dossier_section": ("/api/v1/dossiers/1/sections/RNCP28754BC01", everyone(405, anonymous=405)),
    "api.send_dossier": ("/api/v1/dossiers/1/send", everyone(405, anonymous=405)),  # POST only
    # Submission (the owner only; tests/test_assessment.py posts to them with every role).
    "evidence.submit": ("/evidence/{evidence}/submit", everyone(405, anonymous=405)),
    "evidence.self_assess": ("/evidence/{evidence}/self-assessment", everyone(405, anonymous=405)),  # POST only
    "evidence.withdraw": ("/evidence/{evidence}/withdraw", everyone(405, anonymous=405)),
    "evidence.new_version": ("/evidence/{evidence}/new-version", everyone(405, anonymous=405)),
    # Assessment: the queue for those who assess; a learner's progress for themself, their tutors and
    # administrators (404 for anyone else); the cohort matrix for the cohort's tutors and administrators.
    "assessment.queue": ("/assessments/", only({"tutor": OK, "other_tutor": OK, "admin": OK}) | {"anonymous": L}),
    "assessment.record": ("/evidence/{evidence}/assessments", everyone(405, anonymous=405)),
    "assessment.review": ("/assessments/review",
                          only({"tutor": OK, "other_tutor": OK, "admin": OK}) | {"anonymous": L}),
    "assessment.record_review": ("/assessments/review/{evidence}", everyone(405, anonymous=405)),
    "assessment.comment": ("/evidence/{evidence}/comments", everyone(405, anonymous=405)),
    "assessment.progress": ("/learners/{learner_id}/progress",
                            only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "assessment.progress_block": ("/learners/{learner_id}/progress/blocks/RNCP28754BC01",
                                  only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "assessment.validate_block": ("/learners/{learner_id}/blocks/RNCP28754BC01/validation",
                                  everyone(405, anonymous=405)),
    "assessment.revoke_block": ("/learners/{learner_id}/blocks/RNCP28754BC01/revocation",
                                everyone(405, anonymous=405)),
    "assessment.matrix": ("/cohorts/{cohort}/matrix",
                          only({"tutor": OK, "other_tutor": NF, "admin": OK}) | {"anonymous": L}),
    "assessment.notifications": ("/notifications", everyone()),
    "assessment.mark_read": ("/notifications/read", everyone(405, anonymous=405)),
    "assessment.open_notification": ("/notifications/1/open", everyone(405, anonymous=405)),  # POST only
    # Internship logbook of world.learner (tests/test_logbook.py walks the same routes with its own table):
    # the learner, their tutors and administrators read it (404 for anyone else); only the learner writes
    # (403 for the readers). The supervisor's page needs no login: the token is the key.
    "logbook.index": ("/internships/", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "logbook.create": ("/internships/new", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "logbook.learner_internships": ("/learners/{learner_id}/internships",
                                    only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "logbook.detail": ("/internships/{internship}",
                       only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "logbook.edit": ("/internships/{internship}/edit",
                     only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "logbook.add_entry": ("/internships/{internship}/entries/new",
                          only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "logbook.edit_entry": ("/internships/{internship}/entries/{entry}/edit",
                           only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "logbook.delete_entry": ("/internships/{internship}/entries/{entry}/delete", everyone(405, anonymous=405)),
    "logbook.send": ("/internships/{internship}/signoff", everyone(405, anonymous=405)),
    "logbook.revoke": ("/internships/{internship}/links/{link}/revoke", everyone(405, anonymous=405)),
    "logbook.to_evidence": ("/internships/{internship}/evidence", everyone(405, anonymous=405)),
    # No signed entry yet: whoever may read is sent back to the logbook with a message.
    "logbook.pdf": ("/internships/{internship}/logbook.pdf",
                    only({"learner": 302, "tutor": 302, "admin": 302}, NF) | {"anonymous": L}),
    # The learner is turned away from their own link (403): the signature is the supervisor's.
    "logbook.signoff": ("/signoff/{token}", everyone(OK, anonymous=OK) | {"learner": FB}),
    "logbook.return_entry": ("/signoff/{token}/entries/{entry}/return", everyone(405, anonymous=405)),
    "logbook.static": ("/static/logbook/copy.js", everyone(OK, anonymous=OK)),
    # VAE (tests/test_vae.py): world.vae's dossier, its sent version assigned to world.jury's jury, world.tutor
    # as adviser. The candidate writes (403 for other readers); the adviser and administrators read the draft;
    # the jury reads only the version assigned to it; anyone else gets 404.
    "vae.home": ("/vae/", only({"vae": 302}) | {"anonymous": L}),
    "vae.experiences": ("/vae/experiences/", only({"vae": OK}) | {"anonymous": L}),
    "vae.experience_create": ("/vae/experiences/new", only({"vae": OK}) | {"anonymous": L}),
    "vae.experience_edit": ("/vae/experiences/{vae_experience}/edit", only({"vae": OK}) | {"anonymous": L}),
    "vae.experience_delete": ("/vae/experiences/{vae_experience}/delete", everyone(405, anonymous=405)),
    "vae.dossier_detail": ("/vae/dossiers/{vae_dossier}",
                           only({"vae": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "vae.edit_presentation": ("/vae/dossiers/{vae_dossier}/presentation",
                              only({"vae": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "vae.edit_section": ("/vae/dossiers/{vae_dossier}/blocks/RNCP28754BC01",
                         only({"vae": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "vae.send": ("/vae/dossiers/{vae_dossier}/send", everyone(405, anonymous=405)),
    "vae.comment": ("/vae/dossiers/{vae_dossier}/comments", everyone(405, anonymous=405)),
    "vae.version_detail": ("/vae/versions/{vae_version}",
                           only({"vae": OK, "tutor": OK, "admin": OK, "jury": OK}, NF) | {"anonymous": L}),
    "vae.decide_block": ("/vae/versions/{vae_version}/decisions", everyone(405, anonymous=405)),
    "vae.decide_outcome": ("/vae/versions/{vae_version}/outcome", everyone(405, anonymous=405)),
    "vae.assign": ("/vae/versions/{vae_version}/assign", everyone(405, anonymous=405)),
    "vae.jury_dossiers": ("/vae/jury/", only({"jury": OK}) | {"anonymous": L}),
    "vae.candidates": ("/vae/candidates/", only({"tutor": OK, "other_tutor": OK, "admin": OK}) | {"anonymous": L}),
    "vae.set_adviser": ("/vae/candidates/{vae_candidate}/adviser", everyone(405, anonymous=405)),
    "vae.juries": ("/vae/juries/", only({"admin": OK}) | {"anonymous": L}),
    "vae.jury_detail": ("/vae/juries/{vae_jury}", only({"admin": OK}) | {"anonymous": L}),
    # A draft's export is read like the draft; a sent version's export like the version (jury included).
    "vae.export_dossier": ("/vae/dossiers/{vae_dossier}/exports", everyone(405, anonymous=405)),
    "vae.export_detail": ("/vae/exports/{vae_export}",
                          only({"vae": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "vae.export_download": ("/vae/exports/{vae_version_export}/download",
                            only({"vae": OK, "tutor": OK, "admin": OK, "jury": OK}, NF) | {"anonymous": L}),
    "vae.jury_remove_member": ("/vae/juries/{vae_jury}/members/{vae_candidate}/remove", everyone(405, anonymous=405)),
    # Personal data: one's own only (an archive of another person answers 404; tests/test_privacy.py).
    "privacy.notice": ("/privacy", everyone(OK, anonymous=OK)),
    "privacy.my_data": ("/me/data", everyone()),
    "privacy.request_export": ("/me/data/export", everyone(405, anonymous=405)),
    "privacy.export_progress": ("/me/data/export/1/progress", everyone(NF)),
    "privacy.download_export": ("/me/data/export/1/download", everyone(NF)),
    "privacy.request_erasure": ("/me/data/erasure", everyone(405, anonymous=405)),
    "privacy.requests": ("/admin/privacy", only({"admin": OK}) | {"anonymous": L}),
    "privacy.handle": ("/admin/privacy/requests/1", only({"admin": NF}) | {"anonymous": L}),
    "privacy.register": ("/admin/privacy/register", only({"admin": OK}) | {"anonymous": L}),
    # LTI: the platform's entry points carry their own proof; in-course pages need an LTI session.
    "lti.login": ("/lti/login", everyone(400, anonymous=400)),  # no initiation parameters: refused
    "lti.launch_view": ("/lti/launch", everyone(405, anonymous=405)),
    "lti.handoff": ("/lti/handoff", everyone(405, anonymous=405)),
    "lti.jwks": ("/lti/jwks", everyone(OK, anonymous=OK)),
    # Open Badges: the learner's badges for those who keep evidence; one's own download only (no badge in
    # this world: 404 for them, tests/test_credentials.py downloads a real one and refuses it to others);
    # what a verifier needs is public: the page, the issuer profile, its keys, each achievement.
    "credentials.mine": ("/credentials/", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "credentials.claim": ("/credentials/claim/tutor/1", everyone(405, anonymous=405)),  # POST only
    "credentials.revoke": ("/credentials/00000000-0000-4000-8000-000000000000/revocation",
                           everyone(405, anonymous=405)),  # POST only (tests/test_credentials.py posts to it)
    "credentials.download": ("/credentials/00000000-0000-4000-8000-000000000000/download.png",
                             only({"learner": NF, "other_learner": NF, "vae": NF}) | {"anonymous": L}),
    "credentials.verify": ("/credentials/verify", everyone(OK, anonymous=OK)),
    "credentials.issuer": ("/credentials/issuer", everyone(OK, anonymous=OK)),
    "credentials.jwks": ("/credentials/jwks", everyone(OK, anonymous=OK)),
    "credentials.status_list": ("/credentials/status/1", everyone(NF, anonymous=NF)),  # no badge, no list yet
    "credentials.achievement": ("/credentials/achievements/{block}", everyone(OK, anonymous=OK)),
    "credentials.achievement_image": ("/credentials/achievements/{block}/image.svg", everyone(OK, anonymous=OK)),
    "credentials.hosted": ("/credentials/00000000-0000-4000-8000-000000000000", everyone(NF, anonymous=NF)),
    "lti.config_json": ("/lti/config.json", everyone(OK, anonymous=OK)),
    "lti.config_page": ("/lti/config", everyone(OK, anonymous=OK)),
    "lti.register": ("/lti/register", everyone(FB, anonymous=FB)),  # no invitation
    "lti.context_setup": ("/lti/context/setup", everyone(FB)),
    "lti.deep_link": ("/lti/deep-link", everyone(FB)),
    "lti.admin_platforms": ("/lti/admin/platforms", only({"admin": OK}) | {"anonymous": L}),
    "lti.sync_roster": ("/lti/cohorts/{cohort}/roster", everyone(405, anonymous=405)),
    "lti.admin_platform_toggle": ("/lti/admin/platforms/1/enabled", everyone(405, anonymous=405)),
    # Share links (tests/test_share.py): the owner's page for those who keep evidence; one link's page (its log
    # of openings) for its owner only. The shared page opens for anyone holding the token, signed in or not;
    # a file through it only when the selection holds it (world.learner's submitted evidence of BC01).
    "share.manage": ("/me/shares", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "share.detail": ("/me/shares/{share_link}", only({"learner": OK}, NF) | {"anonymous": L}),
    "share.revoke": ("/me/shares/{share_link}/revoke", everyone(405, anonymous=405)),
    "share.open_link": ("/s/{share_token}", everyone(OK, anonymous=OK)),
    "share.file": ("/s/{share_token}/files/{share_file}", everyone(OK, anonymous=OK)),
    "share.outside_file": ("/s/{share_token}/files/{file}", everyone(NF, anonymous=NF)),
    # A block's link offers no badge (tests/test_share.py opens a credential's link).
    "share.badge": ("/s/{share_token}/badge.png", everyone(NF, anonymous=NF)),
}
# Not a route: the same shared file route with a file outside the selection (the draft's first file).
OUTSIDE = {"share.outside_file"}


def add_evidence(world):  # type: ignore[no-untyped-def]
    """A piece of evidence of world.learner, with three files: code (the first), an image, an archive."""
    import io
    import zipfile
    from datetime import date

    from portfolio.extensions import db
    from portfolio.services.evidence import Upload, create_evidence

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("src/app.py", b"print(1)\n")
    item = create_evidence(world.learner, title="Preuve", kind="code", context="project",
                           occurred_on=date(2026, 1, 1), uploads=[
                               Upload("a.py", io.BytesIO(b"print(1)")),
                               Upload("pic.png", io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(32))),
                               Upload("code.zip", io.BytesIO(archive.getvalue()))])
    db.session.commit()
    return item


def add_logbook(world) -> dict:  # type: ignore[no-untyped-def]
    """An internship of world.learner: a draft entry, and a pending one sent through a sign-off link."""
    from datetime import date

    from flask import current_app

    from portfolio.extensions import db
    from portfolio.services import logbook as service

    internship = service.create_internship(world.learner, organisation="Acme", supervisor_name="Marc",
                                           supervisor_email="marc@acme.example", start_date=date(2026, 3, 2),
                                           end_date=date(2026, 5, 29))
    draft = service.add_entry(internship, actor=world.learner, day=date(2026, 3, 2), hours="7", activities="API")
    pending = service.add_entry(internship, actor=world.learner, day=date(2026, 3, 3), hours="7", activities="Tests")
    with current_app.test_request_context():
        link, url = service.send_for_signoff(internship, [pending], actor=world.learner)
    db.session.commit()
    return {"internship": internship.id, "entry": draft.id, "link": link.id, "token": url.rsplit("/", 1)[-1]}


def add_vae_case(world) -> dict:  # type: ignore[no-untyped-def]
    """world.vae's dossier (BC01 complete) sent as version 1, assigned to a jury with world.jury; world.tutor
    accompanies them."""
    from portfolio.extensions import db
    from portfolio.services import vae
    from tests.factories import complete_block, own_evidence

    vae.enrol_candidate(world.vae, world.certification, actor=None)
    vae.set_adviser(world.vae, world.tutor, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    experience = complete_block(dossier, own_evidence(world.vae))
    version = vae.send_dossier(dossier, actor=world.vae)
    jury = vae.create_jury("Jury CDA", [world.jury], actor=None)
    vae.assign_version(version, jury, actor=None)
    # Two finished exports (rows over a small stored object: rendering is tested elsewhere).
    import io

    from portfolio.models import DossierExport, ExportKind, ExportStatus
    from portfolio.storage import get_storage

    stored = get_storage().put_stream(io.BytesIO(b"%PDF-1.7 export"))
    exports = [DossierExport(dossier_id=dossier.id, version_id=v, kind=ExportKind.PDF, status=ExportStatus.DONE,
                             progress=100, storage_key=stored.key, sha256=stored.sha256, size=stored.size)
               for v in (None, version.id)]
    db.session.add_all(exports)
    db.session.commit()
    return {"vae_dossier": dossier.id, "vae_version": version.id, "vae_experience": experience.id,
            "vae_jury": jury.id, "vae_candidate": world.vae.id, "vae_export": exports[0].id,
            "vae_version_export": exports[1].id}


def add_share(world) -> dict:  # type: ignore[no-untyped-def]
    """A link of world.learner to block BC01, which holds one submitted piece of evidence with one file."""
    import io
    from datetime import date

    from flask import current_app

    from portfolio.extensions import db
    from portfolio.services import assessment
    from portfolio.services import share as service
    from portfolio.services.evidence import Upload, create_evidence, tag_evidence

    with current_app.test_request_context():
        item = create_evidence(world.learner, title="Partagée", kind="code", context="project",
                               occurred_on=date(2026, 1, 2), uploads=[Upload("b.py", io.BytesIO(b"print(2)"))])
        tag_evidence(item, "RNCP28754BC01-C01", "Parce que.", actor=world.learner)
        assessment.submit_evidence(item, actor=world.learner)
        link, token = service.create_share_link(world.learner, target="block:RNCP28754BC01", days=30)
    db.session.commit()
    return {"share_link": link.id, "share_token": token, "share_file": item.files[0].id}


@pytest.fixture
def evidence(app, world):  # type: ignore[no-untyped-def]
    return add_evidence(world)


@dataclass(frozen=True)
class MatrixWorld:
    """The world every GET of the matrix reads: what the path templates take, and a session per role."""

    values: dict  # path template field -> value
    cookies: dict  # role -> session cookie of that person signed in (None: anonymous)


def build_matrix_world() -> MatrixWorld:
    from flask import current_app

    world = build_world()
    item = add_evidence(world)
    values = {"cohort": world.cohort.id, "certification": world.certification.id, "learner_id": world.learner.id,
              "block": world.certification.blocks[0].id,
              "evidence": item.id, "file": item.files[0].id, "image_file": item.files[1].id,
              "archive_file": item.files[2].id, **add_logbook(world), **add_vae_case(world),
              **add_share(world)}
    cookies = {role: None if role == "anonymous" else signed_in_cookie(current_app, getattr(world, role).email)
               for role in ROLES}
    return MatrixWorld(values, cookies)


@pytest.fixture
def matrix_world(app, request) -> MatrixWorld:  # type: ignore[no-untyped-def]
    return shared_world(request, build_matrix_world)


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - ROUTES.keys() == set(), "add these routes to the permission matrix"
    assert ROUTES.keys() - OUTSIDE - endpoints == set(), "these routes no longer exist"


@pytest.mark.shared_world
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_get_matrix(app, matrix_world, endpoint, role):
    # Also the proof that no GET writes: the unit of work raises WriteOnSafeRequest in testing, and the
    # shared world is checked unchanged after each case.
    path, expected = ROUTES[endpoint]
    path = path.format(**matrix_world.values)
    client = with_session(app, matrix_world.cookies[role])
    response = client.get(path)
    response.close()
    want = expected[role]
    if want == L:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    else:
        assert response.status_code == want, f"{role} GET {path}"


@pytest.mark.parametrize("role", ["anonymous", "other_learner", "tutor", "other_tutor", "jury", "admin"])
def test_evidence_posts_are_refused_to_all_but_the_owner(app, world, evidence, login, client, role):
    from portfolio.extensions import db
    from portfolio.models import Claim, Evidence

    if role != "anonymous":
        login(getattr(world, role))
    file_id = evidence.files[0].id
    for path, data in [
        (f"/evidence/{evidence.id}/edit", {"title": "Hacked", "kind": "code", "context": "project",
                                           "occurred_on": "2026-01-01"}),
        (f"/evidence/{evidence.id}/tags", {"competency": "RNCP28754BC01-C01", "justification": "x"}),
        (f"/evidence/{evidence.id}/files/{file_id}/delete", {}),
        (f"/evidence/{evidence.id}/delete", {}),
    ]:
        response = client.post(path, data=data)
        if role == "anonymous":
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        else:
            assert response.status_code in (403, 404), (role, path)
    db.session.expire_all()
    item = db.session.get(Evidence, evidence.id)
    assert item.title == "Preuve" and len(item.files) == 3
    assert db.session.scalar(db.select(db.func.count()).select_from(Claim)) == 0


@pytest.mark.parametrize("role", ["anonymous", "learner", "tutor", "vae", "jury"])
def test_admin_posts_are_refused_to_non_admins(app, world, login, client, role):
    if role != "anonymous":
        login(getattr(world, role))
    targets = [
        ("/admin/users/new", {"email": "x@example.org", "name": "X", "roles": "admin", "password": "p" * 12}),
        (f"/admin/users/{world.learner.id}", {"name": "Hacked", "roles": "admin", "locale": "fr"}),
        ("/admin/cohorts/", {"name": "Evil", "certification": world.certification.id, "year": 2026}),
        (f"/admin/cohorts/{world.cohort.id}", {"email": world.other_learner.email, "role": "learner"}),
        (f"/admin/cohorts/{world.cohort.id}/members/{world.learner.id}/remove", {}),
        ("/admin/emails/1/retry", {}),
    ]
    from portfolio.extensions import db
    from portfolio.models import Cohort, User

    for path, data in targets:
        response = client.post(path, data=data)
        assert response.status_code in (302, 403)
        if role == "anonymous":
            assert "/login" in response.headers["Location"]
        else:
            assert response.status_code == 403
    db.session.expire_all()
    assert db.session.scalar(db.select(User).where(User.email == "x@example.org")) is None
    assert db.session.get(User, world.learner.id).name == "Lina Apprenante"
    assert db.session.scalar(db.select(Cohort).where(Cohort.name == "Evil")) is None
    assert len(db.session.get(Cohort, world.cohort.id).memberships) == 2


def test_object_rules(app, world):
    from portfolio.services import access

    assert access.can_view_learner(world.tutor, world.learner)
    assert not access.can_view_learner(world.tutor, world.other_learner)
    assert not access.can_view_learner(world.other_learner, world.learner)
    assert access.can_view_learner(world.learner, world.learner)
    assert access.can_view_learner(world.admin, world.other_learner)
    assert not access.can_view_learner(world.jury, world.learner)
    assert access.can_view_cohort(world.tutor, world.cohort)
    assert not access.can_view_cohort(world.tutor, world.other_cohort)
    assert not access.can_view_cohort(world.learner, world.cohort)
