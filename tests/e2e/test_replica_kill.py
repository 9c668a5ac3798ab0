"""Two replicas of every service (``python -m services run --replicas 2``) on PostgreSQL and an S3 API, and one
replica of records and one of credentials killed with SIGKILL in the middle of the work (issue 15's "Done means").

The work, all through the gateway as a school's system and an operator do it: two grade syncs (CSV, one job per
records replica), two batch issues of diplomas (one job per credentials replica), and — after the kill — a cohort's
graduation, whose ``learner.graduated`` events become diplomas in credentials, whose ``credential.issued`` events go
to records and learning. The killed replicas are the *first* of each service: the one every service-to-service URL
names (the outbox rows' destination), so events reach their receivers only because calls go to the other replica
(``services/common/replicas.py``); the runner restarts them only after ``--restart-delay`` (20 s here), and the
graduation's events are delivered before that.

Checked: every job completes once (grade rows created exactly once, each in the change feed once; every diploma
issued once, no "existing", none failed, no credential beyond the jobs' items), every event delivered once (the
outboxes drained with nothing dead; one issue job per graduated event; each credential's ``issued`` event in the
records and learning inboxes once), the killed replicas restarted and serving, and no request failed that a retry
would have saved. The client retries nothing by itself except what the documented contract gives it: a POST
(always sent with an ``Idempotency-Key``) answered 502 / 503 (the gateway does not resend a POST) or 409
``idempotency-in-progress`` (with ``Retry-After``) is sent again with the same key. Every GET must succeed at once:
the gateway moves idempotent requests to the live replica.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from services.common.testing import create_pg_database, drop_pg_database, in_ci, postgres_available
from services.common.testing_s3 import start_s3_server
from services.registry import SERVICES
from tests.credentials.factories import diploma
from tests.e2e.test_processes import port_is_free
from tests.support import RUN_PREFIX, id_number

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

SCHOOL = ("demo-school-sis", "dev-only-demo-school-secret")
ADMIN = ("platform-admin", "dev-only-platform-admin-secret")
PROGRAMME, GRAD_TERM, GRAD_COHORT, BIG_COHORT = "CNTT-KILL", "HK-TN", "K-TN", "K-LON"
MODULES = ["M1", "M2", "GDQP"]
SYNC_TERMS = [["HK01", "HK02"], ["HK03", "HK04"]]  # one CSV job each
SYNC_LEARNERS = 150
GRADUATES = 12
BATCH_SIZE = 80  # diplomas per batch job; two jobs
RESTART_DELAY = 20.0
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"]
GIVEN = ["Văn An", "Thị Bình", "Hữu Cường", "Thị Dung", "Minh Đức", "Thu Hà", "Quốc Huy", "Ngọc Lan"]


def replica_ports(count: int) -> list[int]:
    """``count`` ports p, each with p + 100 (its second replica's) free too, all different."""
    chosen: list[int] = []
    rng = random.Random()
    while len(chosen) < count:
        p = rng.randrange(20000, 45000)
        taken = {q for c in chosen for q in (c, c + 100)}
        if {p, p + 100} & taken or not (port_is_free(p) and port_is_free(p + 100)):
            continue
        chosen.append(p)
    return chosen


@dataclass
class Run:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pid(self, name: str) -> int:
        found = re.search(rf"^started {re.escape(name)} on port \d+ \(pid (\d+)\)$", self.output(), re.MULTILINE)
        assert found, self.output()
        return int(found[1])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    reason = asyncio.run(postgres_available())
    if reason:
        if in_ci():
            pytest.fail(f"CI=true and PostgreSQL is required: {reason}")
        pytest.skip(reason)
    var = tmp_path_factory.mktemp("replicas")
    databases = [asyncio.run(create_pg_database(f"{RUN_PREFIX}_kill_{name}")) for name in SERVICES]
    s3 = start_s3_server()
    proc = None
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_", "GATEWAY_"))}
        for (name, spec), (_, url) in zip(SERVICES.items(), databases, strict=True):
            p = spec.env_prefix
            env |= {
                p + "DATABASE_URL": url, p + "OBJECT_STORE_URL": f"s3://vet-kill-{name}", p + "S3_ENDPOINT": s3.endpoint,
                p + "S3_ACCESS_KEY": s3.access_key, p + "S3_SECRET_KEY": s3.secret_key, p + "S3_REGION": s3.region,
                # the PostgreSQL server is shared: 8 processes × at most 3 connections
                p + "DB_POOL_SIZE": "1", p + "DB_MAX_OVERFLOW": "2", p + "LOG_LEVEL": "WARNING",
                # what a dead replica held is taken over within seconds, not minutes
                p + "OUTBOX_POLL_SECONDS": "0.2", p + "OUTBOX_LEASE_SECONDS": "5", p + "OUTBOX_HEALTH_POLL_SECONDS": "1",
                p + "IDEMPOTENCY_LEASE_SECONDS": "10",
            }
        env |= {
            "RECORDS_SYNC_CHUNK_ROWS": "20", "RECORDS_SYNC_LEASE_SECONDS": "3", "RECORDS_SYNC_POLL_SECONDS": "0.2",
            "CREDENTIALS_JOB_CHUNK_SIZE": "4", "CREDENTIALS_JOB_LEASE_SECONDS": "3", "CREDENTIALS_JOBS_POLL_SECONDS": "0.2",
            "GATEWAY_RATE_LIMIT_ENABLED": "false", "GATEWAY_LOG_LEVEL": "WARNING", "VET_LOG_LEVEL": "WARNING",
        }
        *service_ports, gateway = replica_ports(len(SERVICES) + 1)
        ports = dict(zip(SERVICES, service_ports, strict=True))
        cmd = [sys.executable, "-m", "services", "run", "--replicas", "2", "--var", str(var), "--gateway-port", str(gateway),
               "--log-level", "warning", "--restart-delay", str(RESTART_DELAY)]
        cmd += [arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")]
        log = var / "run.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        run = Run(f"http://127.0.0.1:{gateway}", proc, log, ports)
        wait_until(lambda: "VET platform is up" in run.output(), 120, "the platform up", run,
                   alive=lambda: proc.poll() is None)
        yield run
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        s3.stop()
        for name, _ in databases:
            asyncio.run(drop_pg_database(name))


def wait_until(check: Callable[[], T], timeout: float, what: str, run: Run | None = None,
               alive: Callable[[], bool] | None = None) -> T:
    """``check()``'s first truthy value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if alive is not None and not alive():
            pytest.fail(f"the runner exited while waiting for {what}:\n{run.output() if run else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s" + (f"\n{run.output()[-6000:]}" if run else ""))
        time.sleep(0.1)
    return value


@dataclass
class Client:
    """The school's and the operator's client of the gateway: GETs must succeed at once; POSTs carry an
    ``Idempotency-Key`` and are sent again with it on 502 / 503 / 409 in progress (counted in ``post_retries``)."""

    http: httpx.Client
    post_retries: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def token(self, client: tuple[str, str]) -> dict[str, str]:
        r = self.http.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def get(self, path: str, headers: dict[str, str], **params: Any) -> Any:
        self.requests += 1
        r = self.http.get(path, params=params, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def post(self, path: str, headers: dict[str, str], expect: int, **kw: Any) -> Any:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + 30
        while True:
            self.requests += 1
            r = self.http.post(path, headers=headers | {"Idempotency-Key": key}, **kw)
            in_progress = r.status_code == 409 and "retry-after" in r.headers
            if r.status_code not in (502, 503) and not in_progress:
                assert r.status_code == expect, (path, r.status_code, r.text)
                return r.json()
            self.post_retries[f"{path.split('?')[0]} {r.status_code}"] += 1
            assert time.monotonic() < deadline, (path, r.status_code, r.text)
            time.sleep(min(float(r.headers.get("retry-after", "0.2")), 2.0))  # the answer says when

    def pages(self, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(path, headers, limit=500, **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def setup_batch(sync_numbers: list[str], graduates: list[tuple[str, str]]) -> dict[str, Any]:
    terms = [t for pair in SYNC_TERMS for t in pair] + [GRAD_TERM]
    return {
        "programmes": [{"code": PROGRAMME, "name": "Công nghệ thông tin", "level": "college", "occupation_code": "6480201",
                        "year": 2024, "modules": [{"code": m, "name": f"Mô-đun {m}", "credits": 2, "is_condition": m == "GDQP"}
                                                  for m in MODULES]}],
        "terms": [{"code": t, "name": f"Học kỳ {t}"} for t in terms],
        "cohorts": [{"code": c, "name": f"Lớp {c}", "programme_code": PROGRAMME, "start_year": 2024} for c in (GRAD_COHORT, BIG_COHORT)],
        "learners": [{"id_number": n, "full_name": f"Học viên {i}", "programme_code": PROGRAMME, "cohort_code": BIG_COHORT,
                      "enrolled_on": "2024-09-05"} for i, n in enumerate(sync_numbers)]
                    + [{"id_number": n, "full_name": name, "programme_code": PROGRAMME, "cohort_code": GRAD_COHORT,
                        "enrolled_on": "2024-09-05", "date_of_birth": "2004-03-15", "sex": "female", "birth_place": "Nam Định"}
                       for n, name in graduates],
        "grades": [{"id_number": n, "programme_code": PROGRAMME, "module_code": m, "term_code": GRAD_TERM,
                    "components": {"continuous": "8", "final": "8.5"}} for n, _ in graduates for m in MODULES],
    }


def grades_csv(numbers: list[str], terms: list[str]) -> bytes:
    lines = ["id_number,programme_code,module_code,term_code,continuous,final"]
    lines += [f"{n},{PROGRAMME},{m},{t},{(i % 10) + 0.5},7" for t in terms for i, n in enumerate(numbers) for m in MODULES]
    return "\n".join(lines).encode()


def test_two_replicas_of_everything_one_of_records_and_credentials_killed_mid_work(platform: Run) -> None:
    run = platform
    started = time.monotonic()
    with httpx.Client(base_url=run.base, timeout=60) as http:
        c = Client(http)
        school, admin = c.token(SCHOOL), c.token(ADMIN)

        # -- the learners and the graduating cohort's grades, then the work: two grade syncs, two batch issues --------
        sync_numbers = [id_number() for _ in range(SYNC_LEARNERS)]
        graduates = [(id_number(century_gender=3), f"{SURNAMES[i % 8]} Tốt {GIVEN[i // 8]}") for i in range(GRADUATES)]
        setup = c.post("/api/records/v1/institutions/CD0101/sync/json", school, 202, json=setup_batch(sync_numbers, graduates))
        wait_until(lambda: c.get(f"/api/records/v1/sync-jobs/{setup['id']}", school)["status"] == "succeeded", 60,
                   "the setup sync", run)
        version0 = c.get("/api/records/v1/changes", school)["latest_version"]
        sync_jobs = [c.post("/api/records/v1/institutions/CD0101/sync/csv?entity=grades&mode=accept_valid",
                            school | {"Content-Type": "text/csv"}, 202, content=grades_csv(sync_numbers, terms))["id"]
                     for terms in SYNC_TERMS]
        batches = [[diploma(learner_id=f"SV-KILL-{b}-{i:03d}", holder={"full_name": f"{SURNAMES[i % 8]} {GIVEN[(i + b) % 8]}"})
                    for i in range(BATCH_SIZE)] for b in range(2)]
        issue_jobs = [c.post("/api/credentials/v1/issue-jobs", school, 202,
                             json={"institution_code": "CD0101", "credentials": items})["id"] for items in batches]

        # -- both records replicas on a sync job, both credentials replicas on an issue job: then kill the first ----
        def sync(job: str) -> dict[str, Any]:
            return c.get(f"/api/records/v1/sync-jobs/{job}", school)

        def issuing(job: str) -> dict[str, Any]:
            return c.get(f"/api/credentials/v1/issue-jobs/{job}", school)

        def all_mid_work() -> bool:
            syncs, issues = [sync(j) for j in sync_jobs], [issuing(j) for j in issue_jobs]
            for job in syncs + issues:
                assert job.get("status", job.get("state")) in ("queued", "running"), f"a job ended before the kill: {job}"
            return (all(0 < j["applied_through"] for j in syncs) and all(0 < j["processed"] for j in issues))

        wait_until(all_mid_work, 60, "every job running (one per replica)", run)
        victims = {name: run.pid(name) for name in ("records", "credentials")}
        for pid in victims.values():
            os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        interrupted = {j: sync(j)["applied_through"] for j in sync_jobs}
        at_kill = f"syncs at rows {sorted(interrupted.values())}, issues at {sorted(issuing(j)['processed'] for j in issue_jobs)}"
        marks = {"kill": killed_at - started}

        # -- the event chain while they are down: graduation in records → diplomas in credentials -----------------
        cohort = next(x for x in c.get("/api/records/v1/institutions/CD0101/cohorts", school) if x["code"] == GRAD_COHORT)
        graduation = c.post(f"/api/records/v1/cohorts/{cohort['id']}/graduation", school, 200,
                            json={"decision_number": "15/QĐ-CĐ", "decision_date": "2026-06-30"})
        assert graduation["graduated"] == GRADUATES, graduation

        def delivered(service: str, event_type: str) -> list[dict[str, Any]]:
            return c.pages(f"/api/{service}/v1/admin/outbox", admin, state="delivered", type=event_type)

        graduated = wait_until(lambda: (d := delivered("records", "vn.vet.records.learner.graduated")) and
                               len(d) == GRADUATES and d, 30, "the graduated events delivered", run)
        # sent to credentials' first replica's URL, delivered while that replica was dead
        assert {e["destination"] for e in graduated} == {f"http://127.0.0.1:{run.ports['credentials']}/v1/events"}
        assert "restarted" not in run.output(), "the killed replicas came back before the events were delivered"
        marks["graduated delivered"] = time.monotonic() - started
        assert time.monotonic() - killed_at < RESTART_DELAY

        # -- every job ends, completed once ----------------------------------------------------------------------
        def finished(job: dict[str, Any]) -> bool:
            return job.get("status", job.get("state")) not in ("queued", "running")

        syncs = wait_until(lambda: (s := [sync(j) for j in sync_jobs]) and all(map(finished, s)) and s, 90,
                           "the grade syncs finished", run)
        issues = wait_until(lambda: (s := [issuing(j) for j in issue_jobs]) and all(map(finished, s)) and s, 90,
                            "the batch issues finished", run)
        event_ids = [e["id"] for e in graduated]

        def event_jobs() -> list[dict[str, Any]] | None:
            jobs = [j for e in event_ids for j in c.get("/api/credentials/v1/issue-jobs", school, institution="CD0101",
                                                         source="event", source_event_id=e)["items"]]
            return jobs if len(jobs) == len(event_ids) and all(map(finished, jobs)) else None

        marks["jobs done"] = time.monotonic() - started
        from_events = wait_until(event_jobs, 90, "the diplomas of the graduation", run)
        marks["graduates' diplomas"] = time.monotonic() - started

        # the killed replicas are back, restarted by the runner
        for name, pid in victims.items():
            wait_until(lambda name=name, pid=pid: re.search(rf"^{name} \(pid {pid}\) was killed by SIGKILL; restarting it in {RESTART_DELAY:g} s$",
                                                             run.output(), re.MULTILINE), 5, f"{name}'s death logged", run)
            wait_until(lambda name=name: re.search(rf"^{name} \(pid \d+\) is serving again after ", run.output(), re.MULTILINE),
                       60, f"{name} restarted and serving", run)

        # every event delivered: the outboxes drain, nothing dead
        for service in ("records", "credentials", "learning", "identity"):
            wait_until(lambda s=service: c.get(f"/api/{s}/v1/admin/outbox/stats", admin)["pending"] == 0, 60,
                       f"{service}'s outbox drained", run)
            assert c.get(f"/api/{service}/v1/admin/outbox/stats", admin)["dead"] == 0
        marks["outboxes drained"] = time.monotonic() - started

        # -- exactly once: grades ----------------------------------------------------------------------------------
        rows_per_job = SYNC_LEARNERS * len(MODULES) * len(SYNC_TERMS[0])
        for job in syncs:
            assert job["status"] == "succeeded", job
            assert (job["rows_total"], job["created"], job["updated"], job["unchanged"], job["rejected"]) == (
                rows_per_job, rows_per_job, 0, 0, 0), job
        retaken = [j for j in syncs if j["attempts"] == 2]
        assert len(retaken) == 1 and interrupted[retaken[0]["id"]] < rows_per_job, (syncs, interrupted)
        changes, since = [], version0
        while page := c.get("/api/records/v1/changes", school, since=since, limit=5000)["items"]:
            changes += page
            since = page[-1]["version"]
        grade_keys = [tuple(sorted(ch["key"].items())) for ch in changes if ch["entity"] == "grade"]
        assert len(grade_keys) == len(set(grade_keys)) == 2 * rows_per_job

        # -- exactly once: diplomas --------------------------------------------------------------------------------
        issued_ids: list[str] = []
        for job in issues:
            assert (job["state"], job["total"], job["issued"], job["existing"], job["failed"]) == (
                "completed", BATCH_SIZE, BATCH_SIZE, 0, 0), job
            items = c.pages(f"/api/credentials/v1/issue-jobs/{job['id']}/items", school)
            assert [i["state"] for i in items] == ["issued"] * BATCH_SIZE
            issued_ids += [i["credential_id"] for i in items]
        for job in from_events:
            assert (job["state"], job["issued"], job["existing"], job["failed"]) == ("completed", 1, 0, 0), job
            [item] = c.get(f"/api/credentials/v1/issue-jobs/{job['id']}/items", school)["items"]
            issued_ids.append(item["credential_id"])
        assert len(issued_ids) == len(set(issued_ids)) == 2 * BATCH_SIZE + GRADUATES
        credentials = c.pages("/api/credentials/v1/credentials", school, institution="CD0101")
        assert sorted(x["id"] for x in credentials) == sorted(issued_ids)  # nothing issued beyond the jobs' items
        names = Counter(x["holder_name"] for x in credentials if x["kind"] == "diploma")
        assert all(names[name] == 1 for _, name in graduates), names

        # -- exactly once: events --------------------------------------------------------------------------------------
        credentials_inbox = Counter(e["id"] for e in c.pages("/api/credentials/v1/admin/inbox", admin,
                                                              type="vn.vet.records.learner.graduated"))
        assert credentials_inbox == Counter(event_ids)
        issued_events = delivered("credentials", "vn.vet.credentials.credential.issued")
        assert len(issued_events) == 2 * len(issued_ids)  # one to records, one to learning
        for receiver in ("records", "learning"):
            inbox = c.pages(f"/api/{receiver}/v1/admin/inbox", admin, type="vn.vet.credentials.credential.issued")
            assert Counter(e["data"]["credential_id"] for e in inbox) == Counter(issued_ids), receiver

        # -- no request failed that a retry would have saved; the POSTs sent again are the contract's -------------
        print(f"\nreplica kill: {at_kill}; " + ", ".join(f"{k} at {v:.1f} s" for k, v in marks.items())
              + f"; {c.requests} requests, POSTs sent again with their key: {dict(c.post_retries) or 'none'}")
        # each resend answered a dead replica's refusal or a key still in progress; the gateway ejects a dead replica at
        # its first refusal, so only the POSTs in flight around the kill can need one
        assert sum(c.post_retries.values()) <= 4, c.post_retries
