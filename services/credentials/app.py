"""Credentials service: Issuers, signed diplomas and certificates (W3C VC 2.0 / Open Badges 3.0), status lists, verification."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.credentials.config import CredentialsSettings


def create_app(settings: CredentialsSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or CredentialsSettings()
    return create_service_app(
        settings,
        title="VET platform — credentials",
        description="Issuers, signed diplomas and certificates (W3C VC 2.0 / Open Badges 3.0), status lists, verification.",
        http_transport=http_transport,
    )
