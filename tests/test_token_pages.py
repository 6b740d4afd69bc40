from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import ApiToken
from portfolio.services import tokens


def test_create_list_and_revoke_a_token(app, world, client, login):
    login(world.learner)
    response = client.post("/account/tokens", data={"name": "CI GitLab"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    token = db.session.scalars(select(ApiToken)).one()
    raw = page.split("<code>", 1)[1].split("</code>", 1)[0]
    assert raw.startswith("pft_") and tokens.authenticate_token(raw) is not None
    db.session.commit()  # authenticate_token may touch last_used_at
    assert client.get("/account/tokens").get_data(as_text=True).count(raw) == 0  # shown once
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 302
    db.session.expire_all()
    assert tokens.authenticate_token(raw) is None


def test_someone_elses_token_cannot_be_revoked(app, world, client, login):
    token, raw = tokens.create_token(world.other_learner, "theirs")
    db.session.commit()
    login(world.learner)
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    assert tokens.authenticate_token(raw) is not None
