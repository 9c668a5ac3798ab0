"""The idempotent CloudEvents receiver (``POST /v1/events``) and the outbox/inbox admin endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, require_scopes
from services.common.db import SessionDep, utcnow
from services.common.errors import NotFound, ValidationFailed
from services.common.limits import loads
from services.common.models import InboxEvent, OutboxEvent
from services.common.pagination import Page, PageDep, paginate

EventHandler = Callable[[AsyncSession, InboxEvent], Awaitable[None]]


class CloudEventIn(BaseModel):
    """CloudEvents 1.0, JSON structured mode."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: uuid.UUID
    type: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    subject: str | None = Field(default=None, max_length=500)
    time: datetime | None = None
    datacontenttype: str | None = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)


CLOUD_EVENT_SCHEMA = CloudEventIn.model_json_schema()


def parse_event(body: bytes) -> CloudEventIn:
    """A received CloudEvent, every fault a 422 naming the field."""
    document = loads(body)
    try:
        return CloudEventIn.model_validate(document)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "in": "body", "message": e["msg"]} for e in exc.errors()]
        raise ValidationFailed("The event is not a valid CloudEvent.", errors=errors) from None


class EventReceipt(BaseModel):
    id: uuid.UUID
    status: Literal["accepted", "duplicate"]


class OutboxEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: str
    subject: str | None
    destination: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class InboxEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: str
    source: str
    subject: str | None
    data: dict[str, Any]
    received_at: datetime


def events_router(service: str, handlers: dict[str, EventHandler] | None = None) -> APIRouter:
    """Receiver and admin routes for ``service``. ``handlers`` map event types to functions run in the same
    transaction as the dedupe insert, so an event is processed exactly once as the receiver sees it."""
    handlers = handlers or {}
    admin = Depends(require_scopes(f"{service}:admin"))
    router = APIRouter(tags=["events"])

    @router.post("/v1/events", response_model=EventReceipt, summary="Receive a CloudEvent (idempotent by id)",
                 openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": CLOUD_EVENT_SCHEMA}}}})
    async def receive(
        request: Request,
        session: SessionDep,
        response: Response,
        _: Annotated[Principal, Depends(require_scopes("events:deliver"))],
    ) -> EventReceipt:
        # the body is read only once the sender is authenticated (a declared body parameter would be parsed first)
        event = parse_event(await request.body())
        if await session.get(InboxEvent, event.id) is not None:
            response.status_code = 200
            return EventReceipt(id=event.id, status="duplicate")
        row = InboxEvent(
            id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            data=event.data,
            event_time=event.time,
        )
        session.add(row)
        await session.flush()
        handler = handlers.get(event.type)
        if handler is not None:
            await handler(session, row)
            row.processed_at = utcnow()
        response.status_code = 202
        return EventReceipt(id=event.id, status="accepted")

    @router.get("/v1/admin/outbox", response_model=Page[OutboxEventRead], dependencies=[admin], summary="Outbox events (dead ones by default)")
    async def list_outbox(
        session: SessionDep,
        page: PageDep,
        status: Annotated[Literal["pending", "delivered", "dead"], Query()] = "dead",
    ) -> Page[Any]:
        stmt = select(OutboxEvent).where(OutboxEvent.status == status)
        return await paginate(session, stmt, (OutboxEvent.created_at, OutboxEvent.id), page, transform=OutboxEventRead.model_validate)

    @router.post("/v1/admin/outbox/{event_id}/retry", response_model=OutboxEventRead, dependencies=[admin], summary="Send a dead event again")
    async def retry_outbox(event_id: uuid.UUID, session: SessionDep) -> OutboxEventRead:
        row = await session.get(OutboxEvent, event_id)
        if row is None:
            raise NotFound(f"No outbox event {event_id}.")
        if row.status != "delivered":
            row.status, row.attempts, row.next_attempt_at, row.locked_until = "pending", 0, utcnow(), None
        await session.flush()
        return OutboxEventRead.model_validate(row)

    @router.get("/v1/admin/inbox", response_model=Page[InboxEventRead], dependencies=[admin], summary="Events received")
    async def list_inbox(
        session: SessionDep,
        page: PageDep,
        type: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Page[Any]:
        stmt = select(InboxEvent)
        if type:
            stmt = stmt.where(InboxEvent.type == type)
        return await paginate(session, stmt, (InboxEvent.received_at, InboxEvent.id), page, transform=InboxEventRead.model_validate)

    return router
