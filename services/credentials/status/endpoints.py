"""Status lists, served publicly with caching headers (the list credential is signed by its issuer)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from services.common.db import SessionDep
from services.common.errors import NotFound
from services.credentials.context import CtxDep
from services.credentials.status import repository

router = APIRouter(prefix="/v1/status-lists", tags=["status lists"])


@router.get("/{list_id}", summary="A BitstringStatusListCredential (public; ETag and Cache-Control)",
            responses={200: {"content": {"application/vc+ld+json": {}}}, 304: {"description": "not modified"}})
async def get_status_list(
    list_id: uuid.UUID, session: SessionDep, ctx: CtxDep, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    row = await repository.by_id(session, list_id)
    if row is None or row.document is None:
        raise NotFound(f"No status list {list_id}.")
    etag = f'"{row.id.hex[:12]}-v{row.version}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={ctx.settings.status_list_max_age}",
    }
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(json.dumps(row.document, ensure_ascii=False), media_type="application/vc+ld+json", headers=headers)
