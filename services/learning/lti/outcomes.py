"""Assignment and Grade Services 2.0, tool side: scores go back to the platforms' line items.

* :func:`record_graded` writes one ``lti_scores`` row per line item a learning-side record is reported to, in the
  transaction that graded it (a course completion; an exam's result, when it is released), keyed by (grade link,
  source): the same grading written twice adds nothing, and nothing is sent for a change that was rolled back.
* :class:`ScoreSender` posts them (AGS §3.4, ``application/vnd.ims.lis.v1.score+json``) with an access token from the
  platform's token endpoint, obtained with a signed client assertion (IMS Security Framework §4.1, RFC 7523). Rows are
  claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, so any replica sends them and a sender that dies leaves them
  to the next. A transient failure (a connection error, a timeout, HTTP 408, 429 or 5xx) keeps the score pending
  with a capped back-off (:mod:`services.common.retry`); it never fails for that. A refusal (another 4xx, from the
  token endpoint or the score service) marks it ``failed``, listed and re-driven per platform by its administrator.
  A score is a complete statement with its own timestamp, so sending it again is harmless (the platform keeps it).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.db import Database
from services.common.retry import TRANSIENT_STATUSES, RetryPolicy, transient_reason
from services.common.worker import LeasedWorker
from services.learning.lti import messages, repository
from services.learning.lti.keys import ToolKeys
from services.learning.models import LtiPlatform, LtiScore

log = logging.getLogger("services.learning.lti")

SCORE_MAXIMUM = 100.0


async def record_graded(session: AsyncSession, record: str, source: str, *, score_given: float | None, now: datetime,
                        activity_progress: str, grading_progress: str, comment: str | None = None) -> int:
    """Queue the score of ``record`` (``enrolment/<id>``, ``exam-candidate/<id>``) for every line item it is reported
    to; returns how many were queued (0 when the record came through no LTI launch with a line item, or this source
    was queued before)."""
    added = 0
    for grade_link, link, user in await repository.grade_links_of(session, record):
        score: dict[str, Any] = {"userId": user.sub, "scoreMaximum": SCORE_MAXIMUM, "activityProgress": activity_progress,
                                 "gradingProgress": grading_progress, "timestamp": now.isoformat()}
        if score_given is not None:
            score["scoreGiven"] = float(score_given)
        if comment:
            score["comment"] = comment
        assert link.lineitem_url is not None
        added += await repository.add_score(session, {
            "id": uuid.uuid4(), "grade_link_id": grade_link.id, "platform_id": link.platform_id, "source": source,
            "lineitem_url": link.lineitem_url, "score": score, "status": "pending", "attempts": 0, "next_attempt_at": now,
            "created_at": now})
    return added


async def course_completed(session: AsyncSession, enrolment_id: uuid.UUID, completion_id: uuid.UUID, final_score: float | None,
                           now: datetime) -> int:
    """A course completed: its final score (0–100, the mean of the best passed required quizzes; full marks when
    the course has no quiz) goes to the line items of the learner's launches, completed and fully graded."""
    return await record_graded(session, f"enrolment/{enrolment_id}", f"completion/{completion_id}",
                               score_given=SCORE_MAXIMUM if final_score is None else final_score, now=now,
                               activity_progress="Completed", grading_progress="FullyGraded")


def exam_record(candidate_id: uuid.UUID) -> str:
    """How an LTI launch into an exam names the learner's record: their roster entry."""
    return f"exam-candidate/{candidate_id}"


async def exam_candidates_reported(session: AsyncSession, candidate_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The roster entries whose result goes to a platform's line item (they came through a launch with one)."""
    records = await repository.records_reported(session, [exam_record(c) for c in candidate_ids])
    return {uuid.UUID(r.partition("/")[2]) for r in records}


async def exam_result_released(session: AsyncSession, exam_id: uuid.UUID, candidate_id: uuid.UUID, percent: float,
                               now: datetime) -> int:
    """An exam's released result (0–100, by its re-sit policy) to the line items of the learner's launches. The
    source names the exam and the score: the same result released again queues nothing; a corrected one is sent."""
    return await record_graded(session, exam_record(candidate_id), f"exam/{exam_id}/{percent:.2f}", score_given=percent,
                               now=now, activity_progress="Completed", grading_progress="FullyGraded")


class Refused(Exception):
    """The platform refused (a 4xx that is not 408/429): the score fails until re-driven."""


@dataclass
class _Token:
    value: str
    expires: float


class ScoreSender:
    def __init__(self, db: Database, http: httpx.AsyncClient, keys: ToolKeys, *, batch: int = 20, lease_seconds: float = 120.0,
                 policy: RetryPolicy | None = None, clock: Clock = SYSTEM_CLOCK, timeout: float = 10.0) -> None:
        self.db, self.http, self.keys = db, http, keys
        self.batch, self.lease = batch, timedelta(seconds=lease_seconds)
        self.policy = policy or RetryPolicy(base=2.0, max_delay=300.0, give_up_after=0)
        self.clock = clock
        self.timeout = timeout
        self._tokens: dict[uuid.UUID, _Token] = {}

    async def _claim(self) -> list[tuple[LtiScore, LtiPlatform | None]]:
        now = self.clock.now()
        async with self.db.session(write=True) as session:
            rows = await repository.claim_scores(self.db, session, now, self.batch)
            for row in rows:
                row.locked_until = now + self.lease
            return [(row, await session.get(LtiPlatform, row.platform_id)) for row in rows]

    async def _access_token(self, platform: LtiPlatform) -> str:
        """An AGS access token (scope ``score``), kept until shortly before it expires."""
        kept = self._tokens.get(platform.id)
        if kept is not None and kept.expires > time.monotonic():
            return kept.value
        if not platform.token_url:
            raise Refused("the platform has no access token URL registered")
        claims = messages.client_assertion(client_id=platform.client_id, audience=platform.token_audience or platform.token_url,
                                           now=int(time.time()))
        async with self.db.session(write=True) as session:
            assertion = await self.keys.sign(session, claims)
        resp = await self.http.post(platform.token_url, data={
            "grant_type": "client_credentials", "client_assertion_type": messages.CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion, "scope": messages.AGS_SCORE_SCOPE}, timeout=self.timeout)
        if resp.status_code != 200:
            if resp.status_code in TRANSIENT_STATUSES or resp.status_code >= 500:
                resp.raise_for_status()  # transient: httpx.HTTPStatusError
            raise Refused(f"the token endpoint answered HTTP {resp.status_code}: {resp.text[:300]}")
        body = resp.json()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise Refused("the token endpoint's answer holds no access_token")
        lifetime = float(body.get("expires_in") or 300)
        self._tokens[platform.id] = _Token(token, time.monotonic() + max(0.0, lifetime - 30))
        return token

    async def _post(self, row: LtiScore, platform: LtiPlatform) -> httpx.Response:
        token = await self._access_token(platform)
        return await self.http.post(messages.scores_url(row.lineitem_url), json=row.score, timeout=self.timeout,
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": messages.SCORE_MEDIA_TYPE})

    async def _send(self, row: LtiScore, platform: LtiPlatform | None) -> None:
        """Raises :class:`Refused` for a refusal; a transient failure raises whatever it raised."""
        if platform is None or not platform.active:
            raise Refused("the platform's registration is inactive or gone")
        resp = await self._post(row, platform)
        if resp.status_code == 401:  # an expired or revoked token: once more with a fresh one
            self._tokens.pop(platform.id, None)
            resp = await self._post(row, platform)
        if resp.is_success:
            return
        if resp.status_code in TRANSIENT_STATUSES or resp.status_code >= 500:
            resp.raise_for_status()
        raise Refused(f"the score service answered HTTP {resp.status_code}: {resp.text[:300]}")

    async def run_once(self) -> int:
        """Send what is due; returns how many were sent."""
        return await self._send_all(await self._claim())

    async def _claim_due(self) -> list[tuple[LtiScore, LtiPlatform | None]] | None:
        return await self._claim() or None

    async def _send_all(self, claimed: list[tuple[LtiScore, LtiPlatform | None]]) -> int:
        sent = 0
        for row, platform in claimed:
            now = self.clock.now()
            values: dict[str, Any] = {"attempts": row.attempts + 1, "locked_until": None}
            try:
                await self._send(row, platform)
                values.update(status="sent", sent_at=now, last_error=None)
                sent += 1
            except Refused as exc:
                log.warning("LTI score %s refused by the platform: %s", row.id, exc)
                values.update(status="failed", last_error=str(exc)[:1000])
            except Exception as exc:  # noqa: BLE001 - anything else waits and is tried again
                reason = transient_reason(exc) or f"{type(exc).__name__}: {exc}"
                if transient_reason(exc) is None:
                    log.exception("LTI score %s failed; tried again", row.id)
                delay = self.policy.delay_after_attempts(row.attempts + 1)
                values.update(next_attempt_at=now + timedelta(seconds=delay), last_error=reason[:1000])
            async with self.db.session(write=True) as session:
                await repository.record_score(session, row.id, values)
        return sent

    def worker(self, poll_seconds: float) -> LeasedWorker[list[tuple[LtiScore, LtiPlatform | None]]]:
        """The sending loop (:class:`~services.common.worker.LeasedWorker`, leased items): claims a batch of due
        scores under their rows' lease and sends them; after a round that sent something the next follows at once,
        otherwise it waits ``poll_seconds``. The batch is sent one score after another (each bounded by a few
        ``timeout``s), so the lease of the scores not yet recorded is heartbeated every third of ``lease_seconds``
        (:meth:`_keep_leases`). A round that fails (the database) backs off by the policy."""
        return LeasedWorker("LTI scores", claim=self._claim_due, work=self._send_all, poll_seconds=poll_seconds,
                            policy=self.policy, clock=lambda: self.clock, logger=log, heartbeat=self._keep_leases,
                            heartbeat_seconds=self.lease.total_seconds() / 3)

    async def _keep_leases(self, claimed: list[tuple[LtiScore, LtiPlatform | None]]) -> bool:
        """Extend the lease of the claimed scores not recorded yet. A score row names no holder, so a lease taken
        over cannot be told from one still held: True (a score sent twice is harmless, the platform keeps it)."""
        async with self.db.session(write=True) as session:
            await repository.extend_score_leases(session, [row.id for row, _ in claimed], self.clock.now() + self.lease)
        return True

    async def run_forever(self, poll_seconds: float) -> None:
        """:meth:`worker` run in the caller's task until it is cancelled."""
        await self.worker(poll_seconds).run()
