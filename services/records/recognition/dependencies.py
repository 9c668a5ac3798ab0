"""What recognition's endpoints need beyond the session: the credentials verifier, the object store, the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from services.common.storage import ObjectStore
from services.records.recognition.verifier import CredentialVerifier


async def get_verifier(request: Request) -> CredentialVerifier:
    state = request.app.state
    return CredentialVerifier(http=state.http, tokens=state.tokens, credentials_url=state.settings.credentials_url)


async def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


async def get_now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


VerifierDep = Annotated[CredentialVerifier, Depends(get_verifier)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
NowDep = Annotated[datetime, Depends(get_now)]
