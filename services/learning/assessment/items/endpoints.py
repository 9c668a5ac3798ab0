"""Item banks and items over HTTP: routes parse, call :mod:`services.learning.assessment.items.service`, shape."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.pagination import Page, PageDep
from services.learning.assessment.dependencies import MinResponses, Now
from services.learning.assessment.items import service
from services.learning.assessment.items.schemas import (
    BankCreate,
    BankRead,
    ItemCreate,
    ItemKind,
    ItemRead,
    ItemStatisticsRow,
    ItemUpdate,
    RetireIn,
)

router = APIRouter(tags=["assessment: item banks"])


@router.post("/v1/item-banks", status_code=201, response_model=BankRead,
             summary="A bank of one module (occupation code + module code): your institution's, or national (national authors)")
async def create_bank(body: BankCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return service.bank_read(await service.create_bank(session, principal, body))


@router.get("/v1/item-banks", response_model=Page[BankRead],
            summary="The banks you may use: your institutions' and the national ones")
async def list_banks(session: SessionDep, principal: CurrentPrincipal, page: PageDep,
                     occupation: Annotated[str | None, Query(pattern=r"^\d{7}$")] = None,
                     module: Annotated[str | None, Query(max_length=50)] = None) -> Any:
    return await service.list_banks(session, principal, page, occupation, module)


@router.get("/v1/item-banks/{bank_id}", response_model=BankRead, summary="A bank")
async def get_bank(bank_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return service.bank_read(await service.load_bank(session, principal, bank_id))


@router.post("/v1/item-banks/{bank_id}/items", status_code=201, response_model=ItemRead,
             summary="Add an item: the quiz kinds, ordering, cloze, essay or file upload; tags and estimated difficulty")
async def add_item(bank_id: uuid.UUID, body: ItemCreate, session: SessionDep, principal: CurrentPrincipal,
                   min_responses: MinResponses) -> Any:
    return service.item_read(await service.add_item(session, principal, bank_id, body), min_responses)


@router.get("/v1/item-banks/{bank_id}/items", response_model=Page[ItemRead],
            summary="A bank's items (retired ones too, with status=retired), by tag and kind")
async def list_items(bank_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep, min_responses: MinResponses,
                     tag: Annotated[str | None, Query(max_length=50)] = None,
                     status: Annotated[Literal["active", "retired"] | None, Query()] = None,
                     kind: Annotated[ItemKind | None, Query()] = None) -> Any:
    return await service.list_items(session, principal, bank_id, page, min_responses, tag=tag, status=status, kind=kind)


@router.get("/v1/item-banks/{bank_id}/statistics", response_model=list[ItemStatisticsRow],
            summary="Classical test theory of every item as last computed (p-value, point-biserial, difficulty band)")
async def bank_statistics(bank_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now,
                          min_responses: MinResponses) -> Any:
    return await service.bank_statistics(session, principal, bank_id, now, min_responses, refresh=False)


@router.post("/v1/item-banks/{bank_id}/statistics", response_model=list[ItemStatisticsRow],
             summary="Recompute the statistics from every scored response (also done when an exam's results are released)")
async def refresh_statistics(bank_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now,
                             min_responses: MinResponses) -> Any:
    return await service.bank_statistics(session, principal, bank_id, now, min_responses, refresh=True)


@router.get("/v1/items/{item_id}", response_model=ItemRead, summary="An item with its key and statistics (the bank's readers)")
async def get_item(item_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, min_responses: MinResponses) -> Any:
    return service.item_read(await service.load_item(session, principal, item_id), min_responses)


@router.patch("/v1/items/{item_id}", response_model=ItemRead, summary="Change an item's tags or estimated difficulty")
async def update_item(item_id: uuid.UUID, body: ItemUpdate, session: SessionDep, principal: CurrentPrincipal,
                      min_responses: MinResponses) -> Any:
    return service.item_read(await service.update_item(session, principal, item_id, body), min_responses)


@router.post("/v1/items/{item_id}/retire", response_model=ItemRead,
             summary="Retire an item: never drawn again; its responses and statistics are kept")
async def retire_item(item_id: uuid.UUID, body: RetireIn, session: SessionDep, principal: CurrentPrincipal, now: Now,
                      min_responses: MinResponses) -> Any:
    return service.item_read(await service.retire_item(session, principal, item_id, body.reason, now), min_responses)
