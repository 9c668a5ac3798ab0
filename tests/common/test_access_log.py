"""The access log on an app's hot public paths: successful, fast responses sampled; errors and slow responses
always logged, every line with its request id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from services.common import middleware
from services.common.logging import request_id_var
from services.common.middleware import RequestContextMiddleware, sample_access_log


async def hot(request: Request) -> PlainTextResponse:
    if "slow" in request.query_params:
        await asyncio.sleep(0.06)
    return PlainTextResponse("no", status_code=422) if "bad" in request.query_params else PlainTextResponse("ok")


def served(app: Starlette) -> object:
    """The app as uvicorn runs it: the access line is written while the status line goes out."""
    access = logging.getLogger("uvicorn.access")

    async def server(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                query = scope.get("query_string", b"").decode("latin-1")
                full = scope["path"] + (f"?{query}" if query else "")  # as uvicorn logs it: with the query string
                access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", scope["method"], full, "1.1", message["status"])
            await send(message)

        await app(scope, receive, send_logged)

    return server


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Starlette:
    monkeypatch.setattr(middleware, "SLOW_SECONDS", 0.05)
    app = Starlette(routes=[Route("/hot", hot), Route("/other", hot), Route("/v1/shared/{token}", hot)])
    app.add_middleware(RequestContextMiddleware)
    return app


async def lines(app: Starlette, caplog: pytest.LogCaptureFixture, *paths: str) -> list[logging.LogRecord]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served(app)), base_url="http://t") as c:
            for n, path in enumerate(paths):
                await c.get(path, headers={"X-Request-ID": f"req-{n}"})
    return [r for r in caplog.records if r.name == "uvicorn.access"]


async def test_hot_path_successes_are_sampled_errors_and_slow_ones_always_logged(app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    sample_access_log(app, "/hot", 0.0)
    logged = await lines(app, caplog, "/hot", "/hot", "/hot?bad=1", "/hot?slow=1", "/other", "/missing")
    assert [(r.args[2], r.args[4]) for r in logged] == [("/hot", 422), ("/hot", 200), ("/other", 200), ("/missing", 404)]
    # each line is written inside its request: the JSON formatter gives it the request id
    assert [r.request_id for r in logged] == ["req-2", "req-3", "req-4", "req-5"]


async def test_a_sampled_line_says_its_rate(app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    sample_access_log(app, "/hot", 1.0)
    logged = await lines(app, caplog, "/hot", "/other")
    assert [(r.args[2], getattr(r, "sampled", None)) for r in logged] == [("/hot", 1.0), ("/other", None)]


async def test_without_sampling_every_line_is_kept(app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    logged = await lines(app, caplog, "/hot", "/hot", "/other")
    assert len(logged) == 3


@pytest.fixture(autouse=True)
def _request_id_in_records() -> Iterator[None]:
    """What the JSON formatter does for every line (``services.common.logging``), as a record attribute here."""
    factory = logging.getLogRecordFactory()

    def with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    logging.setLogRecordFactory(with_request_id)
    yield
    logging.setLogRecordFactory(factory)


async def test_lines_carry_no_query_strings_nor_share_link_tokens(app: Starlette, caplog: pytest.LogCaptureFixture) -> None:
    """Signed links' signatures, OIDC codes and a holder's share-link token never reach the log."""
    logged = await lines(app, caplog, "/other?sig=abc123&expires=9", "/v1/shared/Sh4reT0ken-xyz", "/v1/shared/Sh4reT0ken-xyz?x=1")
    assert [r.args[2] for r in logged] == ["/other", "/v1/shared/…", "/v1/shared/…"]
    assert not any("abc123" in r.getMessage() or "Sh4reT0ken" in r.getMessage() for r in logged)
