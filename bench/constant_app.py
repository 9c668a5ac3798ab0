"""The benchmarks' floor: a bare FastAPI app answering the token endpoint's shape with a constant JSON."""

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

    return app
