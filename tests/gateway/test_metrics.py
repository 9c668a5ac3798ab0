"""The gateway's Prometheus metrics (by route template, on their own port) and its refusal to route the services'
``/metrics``, which only the platform's network may scrape."""

from __future__ import annotations

import socket
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import serve_metrics
from tests.gateway.conftest import ServerThread, SigningKeys, free_port, gateway_settings, in_process
from tests.gateway.test_gateway import assert_problem, bearer


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_services_metrics_are_not_routed(upstream: ServerThread, keys: SigningKeys) -> None:
    """However the path is spelled, ``/metrics`` of a service is a 404 at the gateway, token or not; the
    stand-in service (which answers every path) is never asked."""
    auth = bearer(keys.token())
    async with in_process(gateway_settings(upstream)) as (_, client):
        for path in ("/api/records/metrics", "/api/identity/metrics/", "/api/learning//metrics",
                     "/api/credentials/%6Detrics", "/api/records/metrics?name[]=vet_jobs", "/api/records/%2Fmetrics",
                     "/api/records/metrics/x", "/metrics"):
            for headers in (auth, {}):
                assert_problem(await client.get(path, headers=headers), 404, "not-found")
        # the services' other routes pass as before
        r = await client.get("/api/records/v1/metrics-report", headers=auth)
        assert r.status_code == 200 and r.json()["path"] == "/v1/metrics-report"


async def test_requests_are_counted_by_route_template(upstream: ServerThread, keys: SigningKeys) -> None:
    secret = str(uuid.uuid4())
    auth = bearer(keys.token())
    async with in_process(gateway_settings(upstream)) as (gateway, client):
        assert (await client.get(f"/api/records/v1/sync-jobs/{secret}", headers=auth)).status_code == 200
        assert (await client.post(f"/api/records/v1/sync-jobs/{secret}", headers=auth, json={})).status_code == 200
        assert (await client.get(f"/api/records/v1/sync-jobs/{secret}")).status_code == 401
        assert (await client.get(f"/verify/{secret}")).status_code == 200
        assert (await client.get(f"/nope/{secret}")).status_code == 404
        await client.request("BREW", f"/api/records/{secret}", headers=auth)  # whatever the answer: counted as OTHER
        assert (await client.get("/healthz")).status_code == 200
        text = gateway.metrics.exposition().decode()
    found = samples(text)
    records = "/api/records/{path}"
    assert value(found, "vet_http_requests_total", method="GET", route=records, status="200") == 1
    assert value(found, "vet_http_requests_total", method="POST", route=records, status="200") == 1
    assert value(found, "vet_http_requests_total", method="GET", route=records, status="401") == 1
    assert value(found, "vet_http_requests_total", method="GET", route="/verify/{path}", status="200") == 1
    assert value(found, "vet_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(found, "vet_http_requests_total", method="GET", route="/healthz", status="200") == 1
    assert sum(v for (name, labels), v in found.items()
               if name == "vet_http_requests_total" and ("method", "OTHER") in labels) == 1
    assert value(found, "vet_http_request_duration_seconds_count", method="GET", route=records) == 2
    assert value(found, "vet_http_requests_in_progress") == 0
    assert value(found, "vet_service_info", service="gateway") == 1
    assert secret not in text  # no raw path, so no id, ever becomes a label
    assert "BREW" not in text


async def test_metrics_are_served_on_their_own_port(upstream: ServerThread) -> None:
    port = free_port()
    async with in_process(gateway_settings(upstream)) as (gateway, client):
        await client.get("/healthz")
        served = serve_metrics(gateway.metrics.registry, "127.0.0.1", port)
        assert served is not None
        try:
            async with httpx.AsyncClient() as scraper:
                r = await scraper.get(f"http://127.0.0.1:{port}/metrics")
            assert r.status_code == 200
            assert value(samples(r.text), "vet_http_requests_total", method="GET", route="/healthz", status="200") == 1
        finally:
            served[0].shutdown()
            served[0].server_close()


def test_a_busy_metrics_port_does_not_stop_the_gateway() -> None:
    from prometheus_client import CollectorRegistry

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert serve_metrics(CollectorRegistry(), "127.0.0.1", taken.getsockname()[1]) is None
