"""Records service: Programmes, learners, enrolments, grades, school sync jobs, transcripts and statistics."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.records.config import RecordsSettings


def create_app(settings: RecordsSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or RecordsSettings()
    return create_service_app(
        settings,
        title="VET platform — records",
        description="Programmes, learners, enrolments, grades, school sync jobs, transcripts and statistics.",
        http_transport=http_transport,
    )
