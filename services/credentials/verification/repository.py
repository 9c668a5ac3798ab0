"""The verifier's reads, shaped for one round trip: it runs for every public verification."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, Uuid, and_, bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.common.db import Database
from services.common.prepared import prepared
from services.credentials.models import Credential, Issuer, StatusList, VerificationLog


class ListHead(NamedTuple):
    """What a verifier needs to know of a status list before its (cached) bits."""

    id: uuid.UUID
    purpose: str
    size: int
    version: int
    signed: bool


class IssuerRow(NamedTuple):
    """What a verifier reads of an issuer (a plain row: no ORM identity map on the hot path)."""

    id: uuid.UUID
    did: str
    name: str
    institution_code: str
    institution_status: str
    closed_on: str | None

    @classmethod
    def of(cls, issuer: Issuer) -> IssuerRow:
        return cls(issuer.id, issuer.did, issuer.name, issuer.institution_code, issuer.institution_status, issuer.closed_on)



def _own(column: Any) -> Any:
    """A column of ``credential_id`` when it is one of the issuer's own credentials."""
    return (
        select(column)
        .where(Credential.id == bindparam("credential_id"), Credential.issuer_id == Issuer.id)
        .correlate(Issuer)
        .scalar_subquery()
    )


_successor = _own(Credential.superseded_by_id)
_own_suspension_list, _own_suspension_index = _own(Credential.suspension_list_id), _own(Credential.suspension_index)

#: built once; two list parameters (a credential names at most a revocation and a suspension entry) and the
#: suspension list the platform keeps for its own credential (documents name only their revocation entry)
_issuer_state = (
    select(Issuer.id, Issuer.did, Issuer.name, Issuer.institution_code, Issuer.institution_status, Issuer.closed_on,
           _successor, _own_suspension_list, _own_suspension_index,
           StatusList.id, StatusList.purpose, StatusList.size, StatusList.version, StatusList.signed_at.is_not(None))
    .outerjoin(StatusList, and_(StatusList.issuer_id == Issuer.id, or_(
        StatusList.id.in_([bindparam("list_a", type_=Uuid()), bindparam("list_b", type_=Uuid())]),
        StatusList.id == _own_suspension_list)))
    .where(Issuer.did == bindparam("did"))
)


class Reads:
    """The verifier's way to the database: a request's session, or — for a public verification — the database, with
    a session opened only when it is needed (a key or a status list version not cached yet, a registry refresh).
    Most public verifications then run one statement and open no session at all."""

    def __init__(self, session: AsyncSession | None = None, *, db: Database | None = None,
                 stack: AsyncExitStack | None = None) -> None:
        assert session is not None or (db is not None and stack is not None)
        self._session, self._db, self._stack = session, db, stack

    @property
    def opened(self) -> AsyncSession | None:
        return self._session

    @property
    def engine(self) -> AsyncEngine:
        if self._db is not None:
            return self._db.engine
        bind = self._session.bind if self._session is not None else None
        assert isinstance(bind, AsyncEngine)
        return bind

    async def session(self) -> AsyncSession:
        if self._session is None:
            assert self._db is not None and self._stack is not None
            # takes SQLite's write lock up front when it begins: a registry refresh writes
            self._session = await self._stack.enter_async_context(self._db.session(write=True))
        return self._session


@asynccontextmanager
async def on_demand(db: Database) -> AsyncIterator[Reads]:
    """:class:`Reads` whose session, if one was needed, commits when the block ends (rolls back on error)."""
    async with AsyncExitStack() as stack:
        yield Reads(db=db, stack=stack)


class IssuerState(NamedTuple):
    issuer: IssuerRow | None
    #: the credential that superseded this one, if it is one of the issuer's own
    superseded_by: uuid.UUID | None
    #: the suspension entry (list, index) the platform keeps for its own credential
    suspension: tuple[uuid.UUID, int] | None
    heads: dict[uuid.UUID, ListHead]


async def issuer_state(reads: Reads, did: str, credential_id: uuid.UUID | None, list_ids: set[uuid.UUID]) -> IssuerState:
    """The issuer with this DID; if ``credential_id`` is one of its own, the credential that superseded it and its
    suspension entry; and the heads (not the large bits) of those of ``list_ids`` (at most two) and of that
    suspension list that are the issuer's lists.

    One statement, straight on the driver. In the session's transaction when there is one; otherwise on a pooled
    connection of its own, with no BEGIN/COMMIT around a single read — so a public verification takes no write
    lock, and no request holds two connections."""
    ids = sorted(list_ids)[:2]
    params = {"did": did, "credential_id": credential_id, "list_a": ids[0] if ids else None,
              "list_b": ids[1] if len(ids) > 1 else None}
    rows = await _fetch(reads, "verification-issuer-state", _issuer_state, params)
    if not rows:
        return IssuerState(None, None, None, {})
    heads = {r[9]: ListHead(r[9], r[10], r[11], r[12], bool(r[13])) for r in rows if r[9] is not None}
    first = rows[0]
    suspension = (first[7], first[8]) if first[7] is not None else None
    return IssuerState(IssuerRow(*first[:6]), first[6], suspension, heads)


async def _fetch(reads: Reads, key: str, stmt: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """``stmt`` (compiled once per dialect: the kit's ``prepared``) run straight on the driver: in the session's
    transaction when there is one, else on a pooled connection taken for this one read (no BEGIN/COMMIT, no
    pre-ping; a connection found dead is replaced and the read sent again: ``DriverStatement.fetch_pooled``)."""
    session = reads.opened
    if session is not None and session.in_transaction():
        conn = await session.connection()
        return await prepared(key, conn.dialect, lambda: stmt).fetch(conn, params)
    engine = reads.engine
    return await prepared(key, engine.dialect, lambda: stmt).fetch_pooled(engine, params)


#: everything a stored credential's verification depends on besides its document and the clock, in one statement
#: (``GET /v1/verify/{id}``: services/credentials/verification/lookup.py)
_stored_state = (
    select(Credential.status, Credential.status_reason, Credential.superseded_by_id, Credential.document_format,
           Credential.updated_at, Issuer.institution_code, Issuer.institution_status, Issuer.closed_on, Issuer.name,
           Issuer.updated_at, StatusList.id, StatusList.version, StatusList.signed_at)
    .join(Issuer, Issuer.id == Credential.issuer_id)
    .outerjoin(StatusList, and_(StatusList.issuer_id == Issuer.id, or_(
        StatusList.id == Credential.revocation_list_id, StatusList.id == Credential.suspension_list_id)))
    .where(Credential.id == bindparam("credential_id"))
)


async def stored_state(reads: Reads, credential_id: uuid.UUID) -> tuple[Any, ...] | None:
    """The stored credential's current state (None: no such credential): its row's status, reason, successor and
    layout, its issuer's row, the versions of its status lists; one statement on the driver (in the session's
    transaction when there is one, else on a pooled connection with no BEGIN/COMMIT)."""
    rows = await _fetch(reads, "verification-stored-state", _stored_state, {"credential_id": credential_id})
    if not rows:
        return None
    return tuple(sorted(rows, key=lambda r: str(r[10])))


#: a declarative model's ``__table__`` is a ``Table``; SQLAlchemy types it as any ``FromClause``, which Core's
#: insert/update do not take
_add_log = insert(cast(Table, VerificationLog.__table__))


async def add_log(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Verification log rows, in one Core insert on the session's connection (no unit of work, no ORM bulk path
    for append-only rows)."""
    if rows:
        await (await session.connection()).execute(_add_log, rows)
