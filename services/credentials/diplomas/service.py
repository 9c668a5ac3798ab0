"""Diploma PDFs: rendered from the signed credential on first request, kept in the object store (folder or S3)
under a key of their own, and handed out through the store's expiring download URLs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.common.storage import ObjectStore
from services.credentials.context import CredentialsContext
from services.credentials.diplomas import pdf
from services.credentials.issuing import builder
from services.credentials.models import Credential


def object_key(row: Credential) -> str:
    return f"credentials/{row.institution_code}/{row.id}.pdf"


def filename(row: Credential) -> str:
    return f"van-bang-{row.serial_number.replace('/', '-')}.pdf"


def render(ctx: CredentialsContext, row: Credential) -> bytes:
    heading = builder.TITLES.get(row.level, (row.title, row.title))
    return pdf.render(pdf.fields_of(row.document, credential_id=str(row.id), heading=heading), ctx.verify_url(row.id))


async def ensure_stored(ctx: CredentialsContext, store: ObjectStore, row: Credential) -> str:
    """The PDF's object key, rendering and storing it first if needed. A credential's signed content never
    changes (a correction is a new credential), and the QR code leads to its live status, so one rendering
    serves for good; two concurrent first requests store the same bytes."""
    key = object_key(row)
    if not await store.exists(key):
        data = await asyncio.to_thread(render, ctx, row)

        async def body() -> AsyncIterator[bytes]:
            yield data

        await store.put(key, body(), content_type="application/pdf", length=len(data))
    return key


async def download_url(ctx: CredentialsContext, store: ObjectStore, row: Credential) -> str:
    key = await ensure_stored(ctx, store, row)
    return await store.download_url(key, expires_seconds=ctx.settings.download_url_seconds, filename=filename(row))
