"""The benchmarks' floor: a bare FastAPI app answering a constant JSON — the token endpoint's shape on POST
``/oauth/token``, the same bytes on GET ``/v1/constant`` (the read paths' floor, ``bench/read_paths.py``)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

# the size of a real ES256 access token response
_BODY = (
    '{"access_token":"' + "e" * 620 + '","token_type":"Bearer","expires_in":900,"scope":"records:read"}'
).encode()


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/oauth/token")
    async def token() -> Response:
        return Response(_BODY, media_type="application/json")

    @app.get("/v1/constant")
    async def constant() -> Response:
        return Response(_BODY, media_type="application/json")

    return app
