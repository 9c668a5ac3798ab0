"""The rules of item banks: who keeps which bank, items of nine kinds, retiring (never deleting), statistics."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, ValidationFailed
from services.common.pagination import Page, PageParams
from services.common.text import nfc
from services.learning.assessment import access
from services.learning.assessment.items import kinds, repository, stats
from services.learning.assessment.items.schemas import (
    BankCreate,
    BankRead,
    ItemCreate,
    ItemRead,
    ItemStatisticsRow,
    ItemUpdate,
    StatisticsRead,
)
from services.learning.courses.access import national_author
from services.learning.models import Item, ItemBank


def bank_read(bank: ItemBank) -> BankRead:
    return BankRead.model_validate(bank)


def statistics_read(item: Item, min_responses: int) -> StatisticsRead:
    return StatisticsRead(responses=item.stat_responses, p_value=item.stat_p_value, point_biserial=item.stat_point_biserial,
                          band=stats.band(item.stat_p_value, item.stat_responses, item.declared_difficulty, min_responses),
                          computed_at=item.stat_computed_at)


def item_read(item: Item, min_responses: int) -> ItemRead:
    return ItemRead(id=item.id, bank_id=item.bank_id, kind=item.kind, prompt=item.prompt, points=item.points, tags=list(item.tags),
                    difficulty=item.declared_difficulty, status=item.status, retired_at=item.retired_at,
                    retire_reason=item.retire_reason, key=dict(item.answer), statistics=statistics_read(item, min_responses),
                    created_at=item.created_at, **kinds.public_parts(item))


def band_of(item: Item, min_responses: int) -> str:
    return stats.band(item.stat_p_value, item.stat_responses, item.declared_difficulty, min_responses)


async def create_bank(session: AsyncSession, principal: Principal, body: BankCreate) -> ItemBank:
    if body.national:
        if body.institution_code is not None:
            raise ValidationFailed("A national bank belongs to no institution.",
                                   errors=[{"field": "institution_code", "message": "leave out for a national bank"}])
        if not national_author(principal):
            raise Forbidden("National item banks are kept by national authors (learning:moderate officers).")
        scope, institution = access.NATIONAL, None
    else:
        institution = access.home_institution(principal, body.institution_code)
        scope = institution
    if await repository.bank_by_module(session, scope, body.occupation_code, body.module_code) is not None:
        raise Conflict(f"{'The national' if scope == access.NATIONAL else scope + ' has a'} bank for module {body.module_code} "
                       f"of occupation {body.occupation_code} exists already.", field="module_code")
    bank = ItemBank(id=uuid.uuid4(), scope=scope, institution_code=institution, occupation_code=body.occupation_code,
                    module_code=body.module_code, title=nfc(body.title), created_by=access.actor(principal))
    session.add(bank)
    await session.flush()
    return bank


def readable_scopes(principal: Principal) -> set[str]:
    scopes = set(access.managed_institutions(principal))
    if access.may_read_bank(principal, access.NATIONAL):
        scopes.add(access.NATIONAL)
    return scopes


async def list_banks(session: AsyncSession, principal: Principal, page: PageParams, occupation_code: str | None,
                     module_code: str | None) -> Page[Any]:
    return await repository.banks(session, readable_scopes(principal), page, occupation_code=occupation_code,
                                  module_code=module_code, transform=bank_read)


async def load_bank(session: AsyncSession, principal: Principal, bank_id: uuid.UUID, *, manage: bool = False) -> ItemBank:
    bank = await session.get(ItemBank, bank_id)
    if bank is None or not access.may_read_bank(principal, bank.scope):
        raise access.not_found("item bank", bank_id)
    if manage and not access.may_manage_bank(principal, bank.scope):
        raise Forbidden("Only the bank's keepers change it: teachers of its institution, national authors for a national bank.")
    return bank


async def list_items(session: AsyncSession, principal: Principal, bank_id: uuid.UUID, page: PageParams, min_responses: int, *,
                     tag: str | None, status: str | None, kind: str | None) -> Page[Any]:
    bank = await load_bank(session, principal, bank_id)
    return await repository.items(session, bank.id, page, tag=tag.strip().lower() if tag else None, status=status, kind=kind,
                                  transform=lambda i: item_read(i, min_responses))


async def add_item(session: AsyncSession, principal: Principal, bank_id: uuid.UUID, body: ItemCreate) -> Item:
    bank = await load_bank(session, principal, bank_id, manage=True)
    options, key = kinds.build(body)
    tags = sorted(set(body.tags))
    item = Item(id=uuid.uuid4(), bank_id=bank.id, kind=body.kind, prompt=nfc(body.prompt), options=options, answer=key,
                points=body.points, tags=tags, declared_difficulty=body.difficulty, status="active",
                created_by=access.actor(principal), stat_responses=0)
    session.add(item)
    await session.flush()
    await repository.set_tags(session, item, tags)
    await session.flush()
    return item


async def load_item(session: AsyncSession, principal: Principal, item_id: uuid.UUID, *, manage: bool = False) -> Item:
    item = await session.get(Item, item_id)
    bank = await session.get(ItemBank, item.bank_id) if item is not None else None
    if item is None or bank is None or not access.may_read_bank(principal, bank.scope):
        raise access.not_found("item", item_id)
    if manage and not access.may_manage_bank(principal, bank.scope):
        raise Forbidden("Only the bank's keepers change it: teachers of its institution, national authors for a national bank.")
    return item


async def update_item(session: AsyncSession, principal: Principal, item_id: uuid.UUID, body: ItemUpdate) -> Item:
    item = await load_item(session, principal, item_id, manage=True)
    changes = body.model_dump(exclude_unset=True)
    for field in changes:
        if changes[field] is None:
            raise ValidationFailed(f"{field} cannot be null.", errors=[{"field": field, "message": "may not be null"}])
    if "tags" in changes:
        await repository.set_tags(session, item, sorted(set(changes["tags"])))
    if "difficulty" in changes:
        item.declared_difficulty = changes["difficulty"]
    await session.flush()
    return item


async def retire_item(session: AsyncSession, principal: Principal, item_id: uuid.UUID, reason: str, now: datetime) -> Item:
    """Retired items are never drawn into new forms; forms that hold them, their responses and statistics stay."""
    item = await load_item(session, principal, item_id, manage=True)
    if item.status != "retired":
        item.status, item.retired_at, item.retired_by, item.retire_reason = "retired", now, access.actor(principal), nfc(reason)
        await session.flush()
    return item


async def refresh_statistics(session: AsyncSession, items: list[Item], now: datetime) -> None:
    """Recompute and keep each item's statistics from every scored response so far."""
    if not items:
        return
    pairs: dict[uuid.UUID, list[tuple[float, float]]] = defaultdict(list)
    for item_id, credit, total in await repository.scored_responses(session, [i.id for i in items]):
        pairs[item_id].append((credit, total))
    for item in items:
        s = stats.item_statistics(pairs.get(item.id, []))
        item.stat_responses, item.stat_p_value, item.stat_point_biserial, item.stat_computed_at = s.responses, s.p_value, s.point_biserial, now
    await session.flush()


async def bank_statistics(session: AsyncSession, principal: Principal, bank_id: uuid.UUID, now: datetime, min_responses: int,
                          *, refresh: bool) -> list[ItemStatisticsRow]:
    """Every item of the bank (retired ones too) with its statistics; ``refresh`` recomputes them first."""
    bank = await load_bank(session, principal, bank_id, manage=refresh)
    items = await repository.all_items(session, bank.id)
    if refresh:
        await refresh_statistics(session, items, now)
    return [ItemStatisticsRow(item_id=i.id, kind=i.kind, status=i.status, tags=list(i.tags), statistics=statistics_read(i, min_responses))
            for i in items]
