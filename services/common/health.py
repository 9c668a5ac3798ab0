"""``/healthz`` (the process is alive) and ``/readyz`` (its database and object store answer; ``notes`` from
``app.state.readiness_notes``: what an operator should act on without the service being unready)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

log = logging.getLogger("services.health")


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness")
    async def healthz(request: Request) -> dict[str, str]:
        return {"status": "ok", "service": request.app.state.settings.service_name}

    @router.get("/readyz", summary="Readiness: database and object store reachable")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        for name, probe in (("database", request.app.state.db.ping), ("object_store", request.app.state.store.ping)):
            try:
                await asyncio.wait_for(probe(), timeout=5)
                checks[name] = "ok"
            except Exception as exc:  # readiness reports, it does not raise
                log.warning("readiness check %s failed: %s", name, type(exc).__name__)
                checks[name] = "unavailable"
        ready = all(v == "ok" for v in checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "unavailable",
                                   "service": request.app.state.settings.service_name, "checks": checks}
        notes = getattr(request.app.state, "readiness_notes", None)
        if notes:  # what an operator must act on without the service being unready (e.g. stored development secrets)
            body["notes"] = dict(notes)
        return JSONResponse(body, status_code=200 if ready else 503)

    return router
