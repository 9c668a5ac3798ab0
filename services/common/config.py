"""Settings base class: every service subclasses it with its own env prefix (``IDENTITY_``, ``RECORDS_`` …)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.replicas import replica_list

DEV_SECRET_PREFIX = "dev-only-"

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Common settings. Subclasses set ``model_config = service_config("RECORDS_")`` and their own defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    environment: Environment = "development"
    database_url: str = ""
    object_store_url: str = "file://var/objects"
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    #: where clients outside reach the S3 API (``https://objects.example.vn``) when ``s3_endpoint`` is an inside
    #: name (``minio:9000``): download links are signed for this host. Empty: links name ``s3_endpoint``
    public_object_store_url: str = ""
    #: signs folder-store download URLs and anything else service-local
    secret_key: str = DEV_SECRET_PREFIX + "change-me"
    #: where identity publishes its JWKS; tokens are checked locally against it. Several replicas: a comma-separated
    #: (or JSON) list; the first is kept here, calls go to all of them (``services/common/replicas.py``)
    identity_url: str = "http://127.0.0.1:8001"
    jwt_issuer: str = "http://127.0.0.1:8001"
    #: this service's own client-credentials identity for service-to-service calls and event delivery
    client_id: str = ""
    client_secret: str = ""
    #: public base URL of the platform (gateway), used in links handed to clients
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    #: event type (or prefix ending in ``*``) → receivers' ``/v1/events`` URLs, as JSON in the environment. A
    #: receiver with several replicas is one comma-separated string of their URLs; the first names it in the outbox
    event_routes: dict[str, list[str]] = {}
    #: identity's institutions and persons are kept this long by ``services.common.identity_client``; while identity
    #: is unavailable a kept entry is served up to ``identity_stale_seconds`` longer; at most this many are kept
    identity_cache_seconds: float = Field(default=300.0, ge=0)
    identity_stale_seconds: float = Field(default=3600.0, ge=0)
    identity_cache_entries: int = Field(default=10_000, ge=1)
    #: a replica of another service that refused a connection is skipped this long by service-to-service calls
    replica_eject_seconds: float = Field(default=10.0, ge=0)
    #: CORS origins allowed to call this service directly (the gateway has its own list)
    cors_origins: list[str] = []
    outbox_enabled: bool = True
    outbox_poll_seconds: float = 1.0
    #: the longest wait between two delivery attempts of an event (transient failures are retried for ever)
    outbox_max_delay_seconds: float = 60.0
    #: while a receiver is down, its ``/readyz`` is polled this often; its events are sent as soon as it answers
    outbox_health_poll_seconds: float = 5.0
    #: a replica that claimed events to send and died holding them: another replica takes them after this long
    outbox_lease_seconds: float = Field(default=60.0, gt=0)
    #: transient failures (database connection, another service, timeouts) in background jobs: the longest wait
    #: between two tries, and how long an outage is waited out before the job fails (0: for ever)
    retry_max_delay_seconds: float = 60.0
    retry_give_up_seconds: float = 3600.0
    #: ``Retry-After`` of the 503 a request gets when the database is unreachable
    unavailable_retry_after_seconds: int = 5
    #: how long an ``Idempotency-Key`` and its first response are kept (then the same key starts a new request);
    #: 0 keeps them for ever
    idempotency_retention_hours: float = 168.0
    #: how often expired keys are purged
    idempotency_purge_seconds: float = 900.0
    #: a request with an ``Idempotency-Key`` whose replica died before it answered: a repeat gets 409 (with
    #: ``Retry-After``) until this long after the first began, then runs again
    idempotency_lease_seconds: float = Field(default=120.0, gt=0)
    #: ``GET /metrics`` (Prometheus) on the service's own port; the gateway never routes it
    metrics_enabled: bool = True
    #: the connection pool of one process (one replica): at most ``db_pool_size + db_max_overflow`` connections to
    #: PostgreSQL. ``db_pool_size`` stay open once opened; overflow connections are closed when given back (under
    #: sustained load above the pool that costs a new connection per checkout: measured on the credential list
    #: under 16 concurrent clients, about 5% of its CPU went into connecting — so the default has none: a burst
    #: waits for a pooled connection, which a request holds for a millisecond or two). Beyond both, a request waits
    #: up to ``db_pool_timeout_seconds`` for a connection rather than opening more. Count a deployment as
    #: Σ replicas × (pool + overflow) and keep it under PostgreSQL's ``max_connections``.
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    #: a connection older than this is closed and replaced at its next checkout (ahead of server or proxy idle
    #: limits); -1: never
    db_pool_recycle_seconds: int = 1800
    #: test each pooled connection at checkout (a round trip): a connection the server dropped (restart,
    #: failover, ``pg_terminate_backend``) is replaced instead of failing the request
    db_pool_pre_ping: bool = True
    #: asyncpg prepared-statement cache per connection
    db_statement_cache_size: int = 100
    #: behind PgBouncer in transaction pooling mode: asyncpg's and SQLAlchemy's prepared-statement caches off and
    #: statement names unique per statement, so a statement never lands on another server connection's name
    db_pgbouncer: bool = False
    #: a streaming replica for read-only endpoints that scan (statistics, on-the-fly reports, search facets, the
    #: institutions map); empty: they read the primary. Endpoints whose reader must see what was just written stay
    #: on ``database_url`` (``services/common/db.py``, ``ReadDatabase``)
    database_read_url: str = ""
    #: the replica's own pool per process, small on purpose: Σ replicas × (read pool + overflow) counts against
    #: the replica's ``max_connections`` (or its PgBouncer's ``max_client_conn``), on top of the primary's count;
    #: without a read URL there is no second pool (read sessions borrow the primary's)
    db_read_pool_size: int = Field(default=2, ge=1)
    db_read_max_overflow: int = Field(default=2, ge=0)
    #: a replica that does not accept a connection within this is taken as down (read-only requests then use the
    #: primary for ``db_read_retry_seconds`` before it is tried again)
    db_read_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    db_read_retry_seconds: float = Field(default=30.0, gt=0)
    #: the read URL goes through PgBouncer in transaction mode; unset: as ``db_pgbouncer``
    db_read_pgbouncer: bool | None = None
    #: public documents (did:web documents, status lists, the institution registry; JWKS at most 1 s) are answered
    #: from a copy in memory for this long: a change is served at once by the replica that made it and within this
    #: many seconds by the others (far inside the ``max-age`` the documents declare). 0: ETags and 304s only
    public_cache_seconds: float = Field(default=5.0, ge=0)
    #: request bodies: the size of any route without a limit of its own (uploads and bulk routes have theirs), and
    #: the nesting depth and number of values of any JSON body (``services/common/limits.py``)
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    max_json_elements: int = 100_000

    #: the other services' replica lists named by the settings above (each: two URLs or more)
    _replica_groups: list[list[str]] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _replica_lists(self) -> ServiceSettings:
        """A URL setting naming several replicas keeps the first; the lists go to the internal client's transport."""
        groups = [replica_list(self.identity_url)]
        self.identity_url = groups[0][0]
        routes: dict[str, list[str]] = {}
        for pattern, receivers in self.event_routes.items():
            routes[pattern] = []
            for receiver in receivers:
                groups.append(replica_list(receiver))
                routes[pattern].append(groups[-1][0])
        self.event_routes = routes
        self._replica_groups = [g for g in groups if len(g) > 1]
        return self

    @property
    def replica_groups(self) -> list[list[str]]:
        """The replica lists of the services this one calls (empty when each is one URL)."""
        return self._replica_groups

    @model_validator(mode="after")
    def _defaults_and_production_guard(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///var/{self.service_name}.db"
        if self.environment == "production":
            weak = [
                name
                for name, value in self.secret_fields().items()
                if not value or value.startswith(DEV_SECRET_PREFIX)
            ]
            if weak:
                raise ValueError(
                    "refusing to start in production with development or empty secrets: " + ", ".join(sorted(weak))
                )
        return self

    @property
    def public_service_url(self) -> str:
        """This service as clients reach it through the gateway (``/api/<service>``): links handed to clients
        (signed downloads, package players) start here."""
        return f"{self.public_base_url.rstrip('/')}/api/{self.service_name}"

    def secret_fields(self) -> dict[str, str]:
        """Secrets that must be real in production. Subclasses extend this."""
        return {"secret_key": self.secret_key}


def service_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=None)
