"""The idempotent CloudEvents receiver (``POST /v1/events``) and the outbox/inbox admin endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, require_scopes
from services.common.db import SessionDep, insert_for, utcnow
from services.common.errors import NotFound, ValidationFailed
from services.common.limits import loads
from services.common.models import InboxEvent, OutboxEvent
from services.common.outbox import event_filter, outbox_stats, redrive
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


OutboxState = Literal["pending", "delivered", "dead"]
#: a filter's text: no control characters (PostgreSQL refuses U+0000 in text; nothing legitimate carries them)
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


#: an RFC 3339 time with its offset, that exists in UTC (year 9999 at -23:59 does not)
UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class OutboxStatsRead(BaseModel):
    pending: int
    dead: int
    oldest_pending_at: datetime | None
    #: seconds the oldest pending event has waited
    lag_seconds: float


class RedriveFilter(BaseModel):
    """Which dead events to send again; every field narrows, none given means every dead event."""

    model_config = ConfigDict(extra="forbid")  # a misspelt filter must not widen the re-drive to everything

    type: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE,
                             description="event type, or a prefix ending in *")
    receiver: str | None = Field(default=None, min_length=1, max_length=2000, pattern=PRINTABLE,
                                 description="destination URL or its beginning")
    since: UtcTime | None = Field(default=None, description="written at or after (RFC 3339 with its offset)")


class RedriveResult(BaseModel):
    redriven: int


class InboxEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: str
    source: str
    subject: str | None
    data: dict[str, Any]
    received_at: datetime


def events_router(service: str, handlers: Mapping[str, EventHandler] | None = None) -> APIRouter:
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
        # one statement decides which delivery is the first: a sender that retries while its first attempt is
        # still being handled (a timeout, another replica) waits for it here and is told "duplicate", not a 500
        inserted = await session.scalar(
            insert_for(session)(InboxEvent)
            .values(id=event.id, type=event.type, source=event.source, subject=event.subject, data=event.data,
                    event_time=event.time, received_at=utcnow())
            .on_conflict_do_nothing(index_elements=["id"]).returning(InboxEvent.id))
        if inserted is None:
            response.status_code = 200
            return EventReceipt(id=event.id, status="duplicate")
        row = await session.get(InboxEvent, event.id)
        if row is None:  # inserted by this very transaction a statement ago
            raise RuntimeError(f"inbox event {event.id} vanished within its transaction")
        handler = handlers.get(event.type)
        if handler is not None:
            await handler(session, row)
            row.processed_at = utcnow()
        response.status_code = 202
        return EventReceipt(id=event.id, status="accepted")

    @router.get("/v1/admin/outbox", response_model=Page[OutboxEventRead], dependencies=[admin],
                summary="Outbox events by state (dead ones by default), type, receiver, age")
    async def list_outbox(
        session: SessionDep,
        page: PageDep,
        state: Annotated[OutboxState | None, Query(description="pending | delivered | dead")] = None,
        status: Annotated[OutboxState | None, Query(description="the same as state (older name)")] = None,
        type: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE, description="event type, or a prefix ending in *")] = None,
        receiver: Annotated[str | None, Query(max_length=2000, pattern=PRINTABLE, description="destination URL or its beginning")] = None,
        since: Annotated[UtcTime | None, Query(description="written at or after (RFC 3339 with its offset)")] = None,
    ) -> Page[Any]:
        conditions = event_filter(status=state or status or "dead", type=type, receiver=receiver, since=since)
        stmt = select(OutboxEvent).where(*conditions)
        return await paginate(session, stmt, (OutboxEvent.created_at, OutboxEvent.id), page, transform=OutboxEventRead.model_validate)

    @router.get("/v1/admin/outbox/stats", response_model=OutboxStatsRead, dependencies=[admin],
                summary="Pending and dead events, and the lag of the oldest pending one")
    async def outbox_statistics(session: SessionDep, request: Request) -> OutboxStatsRead:
        stats = await outbox_stats(session, request.app.state.clock.now())
        return OutboxStatsRead(pending=stats.pending, dead=stats.dead, oldest_pending_at=stats.oldest_pending_at,
                               lag_seconds=round(stats.lag_seconds, 3))

    @router.post("/v1/admin/outbox/redrive", response_model=RedriveResult, dependencies=[admin],
                 summary="Send dead events again, in bulk, by filter")
    async def redrive_outbox(body: RedriveFilter, session: SessionDep, request: Request, tasks: BackgroundTasks) -> RedriveResult:
        count = await redrive(session, type=body.type, receiver=body.receiver, since=body.since,
                              now=request.app.state.clock.now())
        if count:
            tasks.add_task(request.app.state.deliverer.nudge)  # after the response, i.e. after the commit
        return RedriveResult(redriven=count)

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
