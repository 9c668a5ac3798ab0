"""What recognition's endpoints need beyond the session: the credentials verifier, the object store, the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from services.common.storage import ObjectStore
from services.records.context import RecordsCtxDep
from services.records.recognition.verifier import CredentialVerifier


async def get_verifier(ctx: RecordsCtxDep) -> CredentialVerifier:
    return CredentialVerifier(http=ctx.http, tokens=ctx.tokens, credentials_url=ctx.settings.credentials_url)


async def get_store(ctx: RecordsCtxDep) -> ObjectStore:
    return ctx.store


async def get_now(ctx: RecordsCtxDep) -> datetime:
    return ctx.now()


VerifierDep = Annotated[CredentialVerifier, Depends(get_verifier)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
NowDep = Annotated[datetime, Depends(get_now)]
