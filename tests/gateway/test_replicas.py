"""Several replicas of a service behind the gateway: round robin, passive ejection of a replica that cannot be
reached, retries on the next replica only for idempotent requests, and the ejected one back after its period."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import (
    ServerThread,
    SigningKeys,
    closed_port_url,
    free_port,
    gateway_settings,
    in_process,
    make_upstream,
)
from tests.gateway.test_gateway import assert_problem, bearer


def named_upstream(keys: SigningKeys, name: str, seen: Counter[str]) -> Any:
    """The stand-in upstream, answering with ``X-Replica: <name>`` and counting the requests it received."""
    inner = make_upstream(keys.jwks)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await inner(scope, receive, send)
        seen[f"{scope['method']} {scope['path']}"] += 1

        async def tagged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-replica", name.encode())]}
            await send(message)

        await inner(scope, receive, tagged)

    return app


class Replica:
    def __init__(self, keys: SigningKeys, name: str, port: int | None = None) -> None:
        self.name = name
        self.seen: Counter[str] = Counter()
        self.server = ServerThread(named_upstream(keys, name, self.seen), port=port)
        self.port = self.server.port

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port}/{service}"

    def start(self) -> Replica:
        self.server.__enter__()
        return self

    def stop(self) -> None:
        self.server.__exit__(None, None, None)


@pytest.fixture
def replicas(keys: SigningKeys) -> Any:
    started = [Replica(keys, "a").start(), Replica(keys, "b").start()]
    yield started
    for r in started:
        if r.server.thread.is_alive():
            r.stop()


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


async def replicas_of(c: httpx.AsyncClient, token: dict[str, str], n: int, method: str = "GET") -> list[str]:
    answers = []
    for _ in range(n):
        r = await c.request(method, "/api/records/v1/items", headers=token)
        assert r.status_code == 200, r.text
        answers.append(r.headers["x-replica"])
    return answers


async def test_round_robin_spreads_requests(upstream: ServerThread, keys: SigningKeys, replicas: list[Replica]) -> None:
    a, b = replicas
    # a comma-separated list, as in the environment (a JSON list is accepted too)
    settings = gateway_settings(upstream, records_url=f"{a.url('records')}, {b.url('records')}/")
    async with in_process(settings) as (_, c):
        assert await replicas_of(c, bearer(keys.token()), 6) == ["a", "b"] * 3
        ready = (await c.get("/readyz")).json()["upstreams"]["records"]
        assert ready["status"] == "ready"
        assert [(r["url"], r["status"]) for r in ready["replicas"]] == [
            (a.url("records"), "ready"), (b.url("records"), "ready")]


async def test_killed_replica_is_ejected_and_idempotent_requests_retried(
    upstream: ServerThread, keys: SigningKeys, replicas: list[Replica]
) -> None:
    a, b = replicas
    token = bearer(keys.token())
    settings = gateway_settings(upstream, records_url=f'["{a.url("records")}", "{b.url("records")}"]')
    async with in_process(settings) as (_, c):
        assert await replicas_of(c, token, 2) == ["a", "b"]  # both hold keep-alive connections now
        b.stop()
        # every request succeeds: those that reach the dead replica move to the live one
        assert await replicas_of(c, token, 4) == ["a"] * 4
        for method in ("PUT", "DELETE", "HEAD", "OPTIONS"):
            r = await c.request(method, "/api/records/v1/items", headers=token)
            assert r.status_code == 200 and r.headers["x-replica"] == "a", method
        ready = await c.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded"
        records = body["upstreams"]["records"]
        assert records["status"] == "ready"  # one replica can serve
        dead = records["replicas"][1]
        assert dead["url"] == b.url("records") and dead["status"] == "unavailable"
        assert 0 < dead["ejected_seconds"] <= 10
        assert (await c.get("/readyz?strict=1")).status_code == 200  # every service has a ready replica


async def test_post_is_never_retried_but_the_next_one_goes_to_the_live_replica(
    upstream: ServerThread, keys: SigningKeys, replicas: list[Replica]
) -> None:
    a, _ = replicas
    token = bearer(keys.token())
    settings = gateway_settings(upstream, records_url=[closed_port_url() + "/records", a.url("records")])
    async with in_process(settings) as (_, c):
        # the first request in turn goes to the dead replica: a POST is not sent again elsewhere
        r = await c.post("/api/records/v1/items", headers=token, json={"n": 1})
        assert_problem(r, 503, "upstream-unavailable")
        assert a.seen["POST /records/v1/items"] == 0
        # the dead replica is skipped now, so the next POSTs all reach the live one, once each
        for n in range(2, 5):
            r = await c.post("/api/records/v1/items", headers=token, json={"n": n})
            assert r.status_code == 200 and r.headers["x-replica"] == "a"
        assert a.seen["POST /records/v1/items"] == 3


async def test_streamed_upload_is_not_retried(upstream: ServerThread, keys: SigningKeys, replicas: list[Replica]) -> None:
    a, _ = replicas
    settings = gateway_settings(upstream, learning_url=[closed_port_url() + "/learning", a.url("learning")],
                                max_body_bytes=1024)
    async with in_process(settings) as (_, c):
        # PUT is idempotent, but a body streamed past max_body_bytes cannot be sent twice
        r = await c.put("/api/learning/v1/uploads/u1/parts/1", headers=bearer(keys.token()), content=b"x" * 4096)
        assert_problem(r, 503, "upstream-unavailable")
        assert a.seen["PUT /learning/v1/uploads/u1/parts/1"] == 0


async def test_all_replicas_ejected_are_tried_anyway(upstream: ServerThread, keys: SigningKeys) -> None:
    port_a, port_b = free_port(), free_port()
    settings = gateway_settings(upstream, records_url=[f"http://127.0.0.1:{port_a}/records", f"http://127.0.0.1:{port_b}/records"])
    token = bearer(keys.token())
    async with in_process(settings) as (gateway, c):
        assert_problem(await c.get("/api/records/v1/items", headers=token), 503, "upstream-unavailable")
        records = (await c.get("/readyz")).json()["upstreams"]["records"]
        assert all(r["ejected_seconds"] > 0 for r in records["replicas"])  # both tried, both ejected
        back = Replica(keys, "b", port=port_b).start()
        try:
            # within the ejection period, the replica that came back is still reached rather than a 503 at once
            r = await c.get("/api/records/v1/items", headers=token)
            assert r.status_code == 200 and r.headers["x-replica"] == "b"
        finally:
            back.stop()


async def test_ejected_replica_comes_back_after_the_period(
    upstream: ServerThread, keys: SigningKeys, replicas: list[Replica]
) -> None:
    a, _ = replicas
    port = free_port()
    token = bearer(keys.token())
    settings = gateway_settings(upstream, records_url=[f"http://127.0.0.1:{port}/records", a.url("records")],
                                upstream_eject_seconds=10)
    async with in_process(settings) as (gateway, c):
        clock = Clock()
        gateway.upstreams.set_clock(clock)
        assert await replicas_of(c, token, 2) == ["a", "a"]  # the first was retried on a; port ejected
        c_ = Replica(keys, "c", port=port).start()
        try:
            clock.now += 9.9
            assert await replicas_of(c, token, 4) == ["a"] * 4  # still skipped, though it is up again
            assert c_.seen["GET /records/v1/items"] == 0
            clock.now += 0.2
            assert sorted(await replicas_of(c, token, 4)) == ["a", "a", "c", "c"]  # in rotation again
        finally:
            c_.stop()


# -- python -m services run --replicas ------------------------------------------------------------------------------

def test_run_with_replicas_gives_the_gateway_every_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The runner's plan for ``run --replicas 2 --replicas records=3``: one process per replica on the service's
    port + 100·k, and the gateway's settings (from the environment the runner sets) list every one of them."""
    from gateway.config import GatewaySettings
    from services.__main__ import platform_env, process_plan, replica_ports
    from services.registry import SERVICES

    ports = {name: spec.port for name, spec in SERVICES.items()}
    replicas = replica_ports(ports, {n: 2 for n in SERVICES} | {"records": 3})
    plan = process_plan(replicas, 8000)
    assert [(name, port) for name, _, port in plan] == [
        ("identity", 8001), ("identity-2", 8101), ("learning", 8002), ("learning-2", 8102),
        ("records", 8003), ("records-2", 8103), ("records-3", 8203),
        ("credentials", 8004), ("credentials-2", 8104), ("gateway", 8000)]
    assert {factory for name, factory, _ in plan if name.startswith("records")} == {"services.records.app:create_app"}

    for name in list(SERVICES):
        monkeypatch.delenv(f"GATEWAY_{name.upper()}_URL", raising=False)
    # one process each, as before: one URL per service
    assert platform_env("127.0.0.1", ports, 8000, tmp_path)["GATEWAY_RECORDS_URL"] == "http://127.0.0.1:8003"
    for key, value in platform_env("127.0.0.1", ports, 8000, tmp_path, replicas=replicas).items():
        if key.startswith("GATEWAY_"):
            monkeypatch.setenv(key, value)
    assert GatewaySettings().upstreams == {
        "identity": ["http://127.0.0.1:8001", "http://127.0.0.1:8101"],
        "learning": ["http://127.0.0.1:8002", "http://127.0.0.1:8102"],
        "records": ["http://127.0.0.1:8003", "http://127.0.0.1:8103", "http://127.0.0.1:8203"],
        "credentials": ["http://127.0.0.1:8004", "http://127.0.0.1:8104"],
    }


def test_run_with_replicas_gives_every_service_every_replica_it_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """The services' settings from the runner's environment: identity's replicas and each event receiver's, the
    first kept as the URL the settings name (the outbox's destination), the lists for the internal client."""
    from services.__main__ import platform_env, replica_ports
    from services.credentials.config import CredentialsSettings
    from services.learning.config import LearningSettings
    from services.records.config import RecordsSettings
    from services.registry import SERVICES

    ports = {name: spec.port for name, spec in SERVICES.items()}
    replicas = replica_ports(ports, {n: 2 for n in SERVICES} | {"records": 3})
    for key in list(platform_env("127.0.0.1", ports, 8000, tmp_path)):
        monkeypatch.delenv(key, raising=False)
    for key, value in platform_env("127.0.0.1", ports, 8000, tmp_path, replicas=replicas).items():
        monkeypatch.setenv(key, value)
    records, credentials = RecordsSettings(), CredentialsSettings()
    assert records.identity_url == records.jwt_issuer == "http://127.0.0.1:8001"
    assert records.event_routes == {"vn.vet.records.*": ["http://127.0.0.1:8004/v1/events"]}
    assert records.replica_groups == [["http://127.0.0.1:8001", "http://127.0.0.1:8101"],
                                      ["http://127.0.0.1:8004/v1/events", "http://127.0.0.1:8104/v1/events"]]
    assert credentials.event_routes == {"vn.vet.credentials.*": ["http://127.0.0.1:8003/v1/events", "http://127.0.0.1:8002/v1/events"]}
    assert credentials.replica_groups[1:] == [
        ["http://127.0.0.1:8003/v1/events", "http://127.0.0.1:8103/v1/events", "http://127.0.0.1:8203/v1/events"],
        ["http://127.0.0.1:8002/v1/events", "http://127.0.0.1:8102/v1/events"]]
    learning = LearningSettings()  # its gradebooks call records
    assert learning.records_url == "http://127.0.0.1:8003"
    assert ["http://127.0.0.1:8003", "http://127.0.0.1:8103", "http://127.0.0.1:8203"] in learning.replica_groups
    # one process each: one URL each, and the internal client as it always was
    for key in list(platform_env("127.0.0.1", ports, 8000, tmp_path)):
        monkeypatch.delenv(key, raising=False)
    for key, value in platform_env("127.0.0.1", ports, 8000, tmp_path).items():
        monkeypatch.setenv(key, value)
    assert RecordsSettings().replica_groups == [] and CredentialsSettings().replica_groups == [] and LearningSettings().replica_groups == []


def test_run_refuses_replicas_that_would_share_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    from services.__main__ import main

    # records' second replica would land on 8103, the port given to learning
    assert main(["run", "--replicas", "2", "--port", "learning=8103", "--var", "/nonexistent/never-created"]) == 2
    assert "8103" in capsys.readouterr().err
    for bad in ("0", "21", "gateway=2", "records=x"):
        with pytest.raises(SystemExit):
            main(["run", "--replicas", bad])
