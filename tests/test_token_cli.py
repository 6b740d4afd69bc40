from portfolio.services import tokens


def test_tokens_cli(app, world, runner):
    result = runner.invoke(args=["tokens", "create", world.learner.email, "CI"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip()
    assert tokens.authenticate_token(raw) is not None
    from portfolio.extensions import db
    db.session.commit()
    listed = runner.invoke(args=["tokens", "list", world.learner.email])
    assert "CI" in listed.output and raw not in listed.output
    token_id = listed.output.split("\t", 1)[0]
    assert runner.invoke(args=["tokens", "revoke", token_id]).exit_code == 0
    db.session.expire_all()
    assert tokens.authenticate_token(raw) is None
    assert runner.invoke(args=["tokens", "create", "nobody@example.org", "CI"]).exit_code == 1


def test_users_token_prints_the_token_alone_on_the_last_line(app, world, runner):
    result = runner.invoke(args=["users", "token", world.learner.email])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("pft_") and " " not in raw
    assert tokens.authenticate_token(raw).id == world.learner.id
    failed = runner.invoke(args=["users", "token", "nobody@example.org"])
    assert failed.exit_code == 1 and "Aucun compte" in failed.output
