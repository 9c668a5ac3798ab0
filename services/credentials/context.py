"""What the credentials service's code needs beyond the request: settings, the database, the HTTP client towards
identity, the opened signing keys, the outbox, the object store, caches. One instance per app, at
``app.state.credentials``; endpoints take it as :data:`CtxDep` (or, on the busiest routes, which resolve no
dependencies, :func:`context_of` the request)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from services.common.db import Database
from services.common.httpcache import PublicCache
from services.common.identity_client import IdentityClient
from services.common.outbox import Outbox
from services.common.storage import ObjectStore
from services.credentials.config import CredentialsSettings
from services.credentials.issuing.signing import BatchSigner
from services.credentials.proofs.keys import MasterKeyProtector, SigningKeys
from services.credentials.verification.log import VerificationLogWriter


@dataclass
class CredentialsContext:
    settings: CredentialsSettings
    db: Database
    http: httpx.AsyncClient
    outbox: Outbox
    keys: SigningKeys
    signer: BatchSigner
    #: verification log rows, written in batches off the request path
    verification_log: VerificationLogWriter
    #: verified status lists by (list id, version, purpose): a cache of work done, never the truth
    status_cache: dict[tuple[Any, int, str], bytes] = field(default_factory=dict)
    #: issuers' public keys by (issuer id, key id): immutable once created (rotation adds keys, never edits one)
    public_keys: dict[tuple[Any, str], Any] = field(default_factory=dict)
    #: the last verification of each stored credential asked for by id, reused while its state is unchanged
    lookups: Any = field(default_factory=lambda: _lookups())
    #: the app's copies of public documents (DID documents, status lists): a change invalidates its own
    public_cache: PublicCache | None = None
    #: identity's registry and persons (``services.common.identity_client``): the app's ``app.state.identity``
    identity: IdentityClient | None = None
    #: institutions whose issuer this process has seen (issuers are never deleted): identity need not be asked ahead
    issuer_codes: set[str] = field(default_factory=set)
    #: registry entries read ahead of a write transaction for the refresh inside it (``issuers.refresh_ahead``)
    registry_read_ahead: dict[str, tuple[float, tuple[dict[str, Any] | None]]] = field(default_factory=dict)
    #: the app's object store, looked up when used (tests replace it on a running app)
    store_source: Callable[[], ObjectStore] | None = None

    @classmethod
    def create(cls, settings: CredentialsSettings, http: httpx.AsyncClient, outbox: Outbox, db: Database,
               identity: IdentityClient | None = None) -> CredentialsContext:
        return cls(
            settings=settings, db=db, http=http, outbox=outbox, identity=identity,
            keys=SigningKeys(MasterKeyProtector(settings.key_encryption_key)),
            signer=BatchSigner(settings.signing_processes),
            verification_log=VerificationLogWriter(db, flush_seconds=settings.verification_log_flush_seconds,
                                                   batch_size=settings.verification_log_batch),
        )

    @property
    def store(self) -> ObjectStore:
        if self.store_source is None:
            raise RuntimeError("no object store: CredentialsContext.store_source is not set")
        return self.store_source()

    @property
    def public_base(self) -> str:
        return self.settings.public_base_url.rstrip("/")

    def status_list_url(self, list_id: Any) -> str:
        return f"{self.public_base}/api/credentials/v1/status-lists/{list_id}"

    def verify_url(self, credential_id: Any) -> str:
        return f"{self.public_base}/verify/{credential_id}"


def _lookups() -> Any:
    from services.credentials.verification.lookup import Lookups

    return Lookups()


def context_of(request: Request) -> CredentialsContext:
    """The app's context, for the routes that take no dependencies (each costs the framework a little)."""
    return request.app.state.credentials  # type: ignore[no-any-return]


# ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per request
async def get_context(request: Request) -> CredentialsContext:
    return context_of(request)


CtxDep = Annotated[CredentialsContext, Depends(get_context)]
