"""Schemathesis over every service's OpenAPI document (issue 13): requests generated from each operation's schema
(fixed seed, a few examples each), sent in-process to a platform of their own (its lockouts, rotated keys and made-up
records stay out of the other tests' way), as the platform administrator. No answer may be a 5xx; an answer that
contradicts the operation's documented response schema must be declared below with the reason."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support import Platform, UrlFactory, running_platform, service_url

#: examples generated per operation; the whole run stays well under two minutes per backend
EXAMPLES = 4

#: (service, "METHOD /path") → why its answers are not what its OpenAPI document says
DECLARED: dict[tuple[str, str], str] = {
    ("identity", "GET /v1/auth/vneid/login"): "a redirect to the provider, not JSON",
    ("identity", "GET /v1/auth/vneid/callback"): "a redirect back to the front end, not JSON",
}


@schemathesis.serializer("application/zip", "text/csv", "application/octet-stream", "video/mp4", "application/pdf", "*/*")
def _raw(ctx: Any, value: Any) -> bytes:
    """Uploads (zips, CSV, files): what was generated, as bytes (a string, or the JSON of anything else)."""
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value, default=str).encode()


@pytest.fixture(scope="module")
async def own_platform(database_factory: UrlFactory, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    async with running_platform(database_factory, Path(tmp_path_factory.mktemp("schemathesis"))) as p:
        yield p


def generated_cases(document: dict[str, Any]) -> list[Any]:
    """Every operation's examples, the same on every run (derandomized: the seed is fixed by the test itself)."""
    schema = schemathesis.openapi.from_dict(document)
    cases: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(operation.as_strategy())
        def collect(case: Any) -> None:
            cases.append(case)

        collect()
    return cases


def request_of(case: Any, base_url: str, auth: dict[str, str]) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    headers = {k: v for k, v in (kwargs.pop("headers", None) or {}).items() if k.lower() not in ("connection", "accept-encoding")}
    kwargs["headers"] = auth | headers
    data = kwargs.pop("data", None)
    if isinstance(data, (bytes, str)):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("cookies", None)
    return {k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "json", "content", "data", "files")}


async def test_no_operation_answers_5xx_or_off_its_schema(own_platform: Platform) -> None:
    platform = own_platform
    auth = await platform.admin_headers()
    started = time.monotonic()
    server_errors: list[str] = []
    off_schema: dict[tuple[str, str], str] = {}
    sent = 0
    for name, app in platform.apps.items():
        base = service_url(name)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base, follow_redirects=False) as c:
            for case in generated_cases(app.openapi()):
                key = (name, f"{case.method} {case.path}")
                try:
                    response = await c.request(**request_of(case, base, auth))
                except Exception as exc:  # noqa: BLE001 - an exception escaping the app is a 5xx too
                    server_errors.append(f"{key}: raised {type(exc).__name__}: {exc}")
                    continue
                sent += 1
                if response.status_code >= 500:
                    server_errors.append(f"{key}: {response.status_code} {response.text[:300]}\n    {case.as_curl_command()}")
                    continue
                await response.request.aread()  # a multipart request's body, for the checks to read
                try:
                    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis' failure group
                    off_schema.setdefault(key, f"{response.status_code}: {str(exc).strip()[:400]}")
    assert sent > 100
    assert not server_errors, "\n".join(server_errors)
    undeclared = {k: v for k, v in off_schema.items() if k not in DECLARED}
    assert not undeclared, "\n".join(f"{k}: {v}" for k, v in undeclared.items())
    assert time.monotonic() - started < 120
