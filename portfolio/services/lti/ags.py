"""Assignment and Grade Services 2.0: one line item per block, a score per learner and block.

The score is the share of the block's competencies acquired (0–100), with ``activityProgress`` and
``gradingProgress`` and a comment naming the block decision. It is posted after the commit of the
assessment or block decision that changes it, by a background job (:mod:`.background`) with retries.
Access tokens come from the platform's OAuth2 token endpoint (client credentials, our signed JWT
assertion) and are cached until they expire.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    Block,
    BlockDecision,
    CohortMembership,
    Competency,
    CompetencyState,
    DecisionKind,
    Level,
    LtiContext,
    LtiLineItem,
    LtiPlatform,
    LtiScorePost,
    LtiUserLink,
    MemberRole,
    ScoreStatus,
    User,
)
from portfolio.models.base import utcnow
from portfolio.services.assessment import current_block_decision
from portfolio.services.locks import lock_name
from portfolio.services.lti import SCOPE_LINEITEM, SCOPE_SCORE, keys
from portfolio.services.lti.background import RetryLater, dispatch
from portfolio.services.lti.http import PlatformHttpError, request_json

TAG = "portfolio-block"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
_PENDING = "portfolio.lti.scores"

# --- OAuth2 client credentials ------------------------------------------------------------------------

_tokens: dict[tuple[int, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def access_token(platform: LtiPlatform, scopes: list[str]) -> str:
    """A bearer token for ``scopes``, from the cache until 30 s before it expires."""
    scope = " ".join(sorted(scopes))
    key = (platform.id, scope)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
    now = int(time.time())
    audience = platform.auth_token_audience or platform.auth_token_url
    assertion = keys.sign({"iss": platform.client_id, "sub": platform.client_id, "aud": audience,
                           "iat": now, "exp": now + 300, "jti": secrets.token_urlsafe(16)})
    answer, _headers = request_json("POST", platform.auth_token_url, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion, "scope": scope})
    if not isinstance(answer, dict) or not answer.get("access_token"):
        raise PlatformHttpError("the token endpoint gave no access_token")
    lifetime = int(answer.get("expires_in") or 3600)
    with _tokens_lock:
        _tokens[key] = (answer["access_token"], time.monotonic() + max(lifetime - 30, 0))
    return answer["access_token"]


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()


# --- the score ----------------------------------------------------------------------------------------------

def block_score(learner: User, block: Block) -> dict:
    """The score of ``learner`` on ``block``: acquired share, progress and the decision's comment."""
    comp_ids = [c.id for c in block.competencies]
    levels = dict(db.session.execute(select(CompetencyState.competency_id, CompetencyState.level).where(
        CompetencyState.learner_id == learner.id, CompetencyState.competency_id.in_(comp_ids))).all())
    acquired = sum(1 for cid in comp_ids if levels.get(cid) == Level.ACQUIRED)
    total = len(comp_ids)
    decision = current_block_decision(learner, block)
    with force_locale(learner.locale or "fr"):
        if decision is not None and decision.kind == DecisionKind.VALIDATED:
            verdict = _("Bloc %(code)s validé", code=block.code)
        elif decision is not None and decision.kind == DecisionKind.REVOKED:
            verdict = _("Validation du bloc %(code)s retirée", code=block.code)
        else:
            verdict = _("Bloc %(code)s pas encore validé", code=block.code)
        comment = ngettext("%(verdict)s : %(num)d compétence acquise sur %(total)d.",
                           "%(verdict)s : %(num)d compétences acquises sur %(total)d.", acquired, verdict=verdict,
                           total=total)
    if decision is not None and decision.kind == DecisionKind.VALIDATED:
        activity, grading = "Completed", "FullyGraded"
    elif levels:
        activity, grading = "InProgress", "Pending"
    else:
        activity, grading = "Initialized", "NotReady"
    return {"scoreGiven": round(100 * acquired / total, 2) if total else 0.0, "scoreMaximum": 100,
            "activityProgress": activity, "gradingProgress": grading, "comment": comment}


def line_item(context: LtiContext, block: Block, platform: LtiPlatform) -> str:
    """The URL of the block's line item in the course: known, found by tag and resource id, or created."""
    row = db.session.scalar(select(LtiLineItem).where(LtiLineItem.context_id == context.id,
                                                      LtiLineItem.block_id == block.id))
    if row is not None:
        return row.url
    headers = {"Authorization": "Bearer " + access_token(platform, [SCOPE_LINEITEM, SCOPE_SCORE])}
    resource_id = f"block:{block.code}"
    base = context.lineitems_url or ""
    separator = "&" if "?" in base else "?"
    found, _h = request_json("GET", f"{base}{separator}resource_id={resource_id}&tag={TAG}", headers=headers,
                             accept=CONTAINER_TYPE)
    match = next((i for i in found or [] if isinstance(i, dict) and i.get("resourceId") == resource_id
                  and i.get("id")), None)
    if match is None:
        match, _h = request_json("POST", base, headers=headers, accept=LINEITEM_TYPE, content_type=LINEITEM_TYPE,
                                 json={"scoreMaximum": 100, "label": f"{block.code} — {block.title}"[:250],
                                       "resourceId": resource_id, "tag": TAG})
    if not isinstance(match, dict) or not match.get("id"):
        raise PlatformHttpError("the platform gave no line item id")
    db.session.add(LtiLineItem(context_id=context.id, block_id=block.id, url=match["id"]))
    db.session.flush()
    return match["id"]


def contexts_for(learner: User) -> list[LtiContext]:
    """The courses with a gradebook service whose cohort has ``learner`` as a learner."""
    return list(db.session.scalars(
        select(LtiContext).join(CohortMembership, CohortMembership.cohort_id == LtiContext.cohort_id)
        .where(CohortMembership.user_id == learner.id, CohortMembership.role == MemberRole.LEARNER,
               LtiContext.lineitems_url.is_not(None))))


def post_block_scores(learner_id: int, block_id: int, *, attempt: int = 1,
                      last: bool = True) -> tuple[int, list[str]]:
    """Post ``learner``'s current score on ``block`` to each of their courses; returns the count sent and
    the failures (each attempt is recorded in ``lti_score_posts``)."""
    # One job at a time per learner and block, from before the score is read until the job commits:
    # the jobs of two assessments committed in a row (a competency, then the block's validation) would
    # otherwise read the score in one order and reach the gradebook in the other, leaving it on the
    # older score. The second waits here, then reads (and sends) everything the first one could not see.
    lock_name(f"lti-score:{learner_id}:{block_id}")
    learner, block = db.session.get(User, learner_id), db.session.get(Block, block_id)
    if learner is None or block is None:
        return 0, []
    sent, failures = 0, []
    for context in contexts_for(learner):
        platform = context.platform
        if not platform.is_enabled or (context.ags_scopes and SCOPE_SCORE not in context.ags_scopes):
            continue
        link = db.session.scalar(select(LtiUserLink).where(LtiUserLink.issuer == platform.issuer,
                                                           LtiUserLink.user_id == learner.id))
        if link is None:
            continue
        post = db.session.scalar(select(LtiScorePost).where(
            LtiScorePost.context_id == context.id, LtiScorePost.user_id == learner.id,
            LtiScorePost.block_id == block.id, LtiScorePost.status != ScoreStatus.SENT))
        if post is None:
            post = LtiScorePost(context_id=context.id, user_id=learner.id, block_id=block.id, attempts=0)
            db.session.add(post)
        # When the score was read (AGS: a platform keeps the score with the latest timestamp).
        read_at = datetime.now(UTC).isoformat(timespec="microseconds")
        score = block_score(learner, block)
        post.attempts += 1
        post.score_given = score["scoreGiven"]
        try:
            url = line_item(context, block, platform)
            token = access_token(platform, [SCOPE_LINEITEM, SCOPE_SCORE])
            request_json("POST", url.split("?", 1)[0].rstrip("/") + "/scores", content_type=SCORE_TYPE,
                         headers={"Authorization": f"Bearer {token}"},
                         json={**score, "userId": link.subject,
                               "timestamp": read_at})
        except PlatformHttpError as exc:
            if exc.status == 401:
                forget_tokens()
            post.status = ScoreStatus.FAILED if last else ScoreStatus.PENDING
            post.last_error = str(exc)[:500]
            failures.append(str(exc))
            continue
        post.status, post.sent_at, post.last_error = ScoreStatus.SENT, utcnow(), None
        sent += 1
    db.session.flush()
    return sent, failures


# --- after the commit of an assessment or a block decision ---------------------------------------------------------

@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    pairs: set[tuple[str, int, int]] = session.info.setdefault(_PENDING, set())
    new_pairs = False
    for obj in session.new:
        if isinstance(obj, Assessment):
            pairs.add(("competency", obj.learner_id, obj.competency_id))
            new_pairs = True
        elif isinstance(obj, BlockDecision):
            pairs.add(("block", obj.learner_id, obj.block_id))
            new_pairs = True
    if new_pairs and not session.info.get(_PENDING + ".hooked"):
        session.info[_PENDING + ".hooked"] = True
        # uses_database: the cheap check below runs after the commit, before any thread is started.
        unit_of_work.after_commit(lambda: _dispatch_pending(session), session, uses_database=True)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_PENDING + ".hooked", None)


def _dispatch_pending(session: Session) -> None:
    items = session.info.pop(_PENDING, set())
    session.info.pop(_PENDING + ".hooked", None)
    # One query decides whether a job is needed at all: most learners are in no course with a gradebook,
    # and their assessments must not start a background job (nor its queries) for nothing.
    if items and _in_a_gradebook({learner_id for _kind, learner_id, _ref in items}):
        dispatch("portfolio.services.lti.ags.schedule_block_scores", sorted(items))


def _in_a_gradebook(learner_ids: set[int]) -> bool:
    return bool(db.session.scalar(select(
        select(LtiContext.id).join(CohortMembership, CohortMembership.cohort_id == LtiContext.cohort_id)
        .where(CohortMembership.user_id.in_(sorted(learner_ids)), CohortMembership.role == MemberRole.LEARNER,
               LtiContext.lineitems_url.is_not(None)).exists())))


def schedule_block_scores(items: list, *, attempt: int = 1, last: bool = True) -> int | RetryLater:
    """The job behind the hook: turn (competency|block, learner, id) into one post per (learner, block)
    in courses with a gradebook, so that learners without any LTI course cost one query."""
    pairs: set[tuple[int, int]] = set()
    for kind, learner_id, ref in items:
        block_id = ref if kind == "block" else db.session.scalar(select(Competency.block_id)
                                                                 .where(Competency.id == ref))
        if block_id is not None:
            pairs.add((learner_id, block_id))
    sent = 0
    failures = []
    for learner_id, block_id in sorted(pairs):
        learner = db.session.get(User, learner_id)
        if learner is None or not contexts_for(learner):
            continue
        count, failed = post_block_scores(learner_id, block_id, attempt=attempt, last=last)
        sent += count
        failures.extend(failed)
    if failures:
        return RetryLater("; ".join(failures)[:500])
    return sent
