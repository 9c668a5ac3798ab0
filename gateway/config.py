"""Gateway settings (env prefix ``GATEWAY_``), read once at startup.

List and dict settings are JSON in the environment, e.g. ``GATEWAY_CORS_ORIGINS='["https://vet.gov.vn"]'``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.upstreams import parse_urls

MiB = 1024 * 1024

#: Routes that need no bearer token at the edge: ``"<METHODS> <PATTERN>"``. ``METHODS`` is ``*`` or a comma list
#: (``GET`` also admits ``HEAD``); in ``PATTERN`` ``*`` matches within one path segment and ``**`` matches
#: anything, slashes included. The services still check whatever they require themselves.
DEFAULT_PUBLIC_ROUTES: list[str] = [
    "GET,POST /api/identity/oauth/token",
    "GET /.well-known/**",
    "GET /api/*/healthz",
    "GET /api/*/readyz",
    "GET /healthz",
    "GET /readyz",
    "GET /docs",
    "GET /docs/oauth2-redirect",
    "GET /openapi.json",
    # the dashboard checks its own sign-in cookie (or a bearer token) and serves officers only
    "GET,POST /dashboard",
    "GET,POST /dashboard/**",
    # public verification (the address in a diploma's QR code); POST submits a presented credential
    "GET,POST /verify",
    "GET,POST /verify/**",
    "GET,POST /api/credentials/v1/verify",
    "GET,POST /api/credentials/v1/verify/**",
    "GET /issuers/**",
    "GET /api/credentials/issuers/**",
    "GET /api/credentials/v1/issuers/**",
    "GET /api/credentials/v1/status-lists/**",
    # the public credential counts of an institution (the map's credential lookup)
    "GET /api/credentials/v1/institutions/*/credential-counts",
    # what a receiver of an exported report needs to check it: its schema and the platform's signing keys
    "GET /api/records/v1/report-schemas/**",
    "GET /api/records/v1/report-signing-keys",
    "GET /api/records/v1/report-kinds",
    "GET /ns/credentials/v1",
    "GET /api/credentials/ns/credentials/v1",
    # signed download links and package players carry their own signature
    "GET /api/*/v1/objects/**",
    "GET /api/learning/v1/players/**",
    # the library: public material needs no account (a token, when sent, is still passed on and checked)
    "GET /api/learning/v1/search",
    "GET /api/learning/v1/learning-objects/*",
    "GET /api/learning/v1/learning-objects/*/versions",
    "GET /api/learning/v1/learning-objects/*/versions/*",
    "GET /api/learning/v1/learning-objects/*/download",
    "GET /api/learning/v1/learning-objects/*/launch",
    # the course catalogue (published courses; a token, when sent, also shows the caller's drafts)
    "GET /api/learning/v1/skill-areas",
    "GET /api/learning/v1/courses",
    "GET /api/learning/v1/courses/*",
    # the xAPI LRS: content reports with the Basic credentials of its launch (learning checks them per launch)
    "GET,POST,PUT /api/learning/v1/xapi/statements",
    "GET,PUT,POST,DELETE /api/learning/v1/xapi/activities/state",
    "GET /api/learning/v1/xapi/about",
    # a cmi5 assignable unit's fetch URL: no credentials, the URL carries a one-time secret (in its query string)
    "POST /api/learning/v1/xapi/cmi5/fetch/*",
    # LTI 1.3: a school's LMS launches the platform's courses and exams. The OIDC login, the launch (authenticated by
    # the platform's signed id_token), the tool's configuration and keys; the player's session routes carry the
    # launch's own session token (learning checks it; PUT saves an exam answer). Registering platforms and rotating
    # keys stay behind identity's tokens
    "GET,POST /api/learning/v1/lti/login",
    "POST /api/learning/v1/lti/launch",
    "GET /api/learning/v1/lti/tool",
    "GET /api/learning/v1/lti/jwks.json",
    "GET /api/learning/v1/lti/session",
    "GET,POST,PUT /api/learning/v1/lti/session/**",
    # a holder's share link: the token in the path is the credential's capability
    "GET /api/credentials/v1/shared/*",
    # people sign in here (the services check credentials and lock out brute force themselves)
    "POST /api/identity/v1/auth/login",
    "POST /api/identity/v1/auth/logout",
    "GET /api/identity/v1/auth/vneid/login",
    "GET /api/identity/v1/auth/vneid/callback",
    # the front end exchanges the callback's one-time code (bound to the browser's sign-in cookie) for the tokens
    "POST /api/identity/v1/auth/vneid/token",
    # the development-only VNeID stand-in (mounted by identity only outside production)
    "GET,POST /api/identity/dev-oidc/**",
    # reference data: the occupation list and the grading policies
    "GET /api/records/v1/occupations",
    "GET /api/records/v1/grading-policies",
    "GET /api/records/v1/grading-policies/*",
    # programme intakes open for applications (admissions): public, like the course catalogue
    "GET /api/records/v1/intakes",
    "GET /api/records/v1/intakes/*",
    # a graduate follow-up survey by its one-time link (the link's HMAC is the credential; records checks it);
    # /followup/me still needs the person's token, which records checks
    "GET,POST /api/records/v1/followup/*",
    # an enterprise's invitation by its signed link (programme review, assessment panel, employer feedback: the link's
    # HMAC is the credential; records checks it)
    "GET,POST /api/records/v1/enterprise-invitations/*",
    # the labour-market feed's documented record format
    "GET /api/records/v1/lmis/schema",
    # the public registry of VET institutions (the digital map)
    "GET /api/identity/v1/institutions",
    "GET /api/identity/v1/institutions.geojson",
    "GET /api/identity/v1/institutions/**",
]


class BodyRoute(BaseModel):
    """A route whose request bodies may be larger than ``max_body_bytes``: ``route`` is ``"<METHODS> <PATTERN>"``
    as in the public routes. ``stream``: bodies past ``max_body_bytes`` are streamed to the service (uploads);
    otherwise the whole body is read before the service is contacted."""

    route: str
    max_bytes: int = Field(gt=0)
    stream: bool = False


#: Routes meant for large bodies (their services check their own, equal limits). Every other body is read whole,
#: up to ``max_body_bytes``, before the service is contacted.
DEFAULT_BODY_ROUTES: list[BodyRoute] = [
    # uploads: files of the library (the service's max_upload_bytes), parts of resumable uploads (64 MiB each)
    BodyRoute(route="PUT,POST /api/learning/v1/learning-objects/*/file", max_bytes=4096 * MiB, stream=True),
    BodyRoute(route="PUT /api/learning/v1/uploads/*/parts/*", max_bytes=64 * MiB, stream=True),
    # assessment: a practical task's evidence (learning's assessment_evidence_max_bytes), a learner's file answer
    BodyRoute(route="PUT /api/learning/v1/practical-tasks/*/evidence/*", max_bytes=512 * MiB, stream=True),
    BodyRoute(route="PUT /api/learning/v1/exam-attempts/*/responses/*/file", max_bytes=50 * MiB, stream=True),
    # a school's sync files (JSON, CSV, OneRoster zip: records' sync_max_upload_bytes)
    BodyRoute(route="POST /api/records/v1/institutions/*/sync/*", max_bytes=512 * MiB, stream=True),
    # registry and reference-data imports (CSV)
    BodyRoute(route="POST /api/identity/v1/institutions/import", max_bytes=20 * MiB, stream=True),
    BodyRoute(route="PUT /api/records/v1/occupations", max_bytes=5 * MiB, stream=True),
    # a secondary school's graduating cohort (admissions: up to 5,000 graduates with their results)
    BodyRoute(route="POST /api/records/v1/admissions/cohorts", max_bytes=4 * MiB),
    # RPL evidence files (a scan, photos, a short video), and a recognition request with up to ten signed credentials
    BodyRoute(route="PUT /api/records/v1/rpl-assessments/*/evidence/*", max_bytes=50 * MiB, stream=True),
    BodyRoute(route="PUT /api/records/v1/recognition/me/*/*", max_bytes=2 * MiB),
    # batches: persons to resolve (10,000), credentials to verify (1,000) or to issue, learners to enrol
    BodyRoute(route="POST /api/identity/v1/persons/resolve", max_bytes=8 * MiB, stream=True),
    BodyRoute(route="POST /api/credentials/v1/verify/bulk", max_bytes=16 * MiB, stream=True),
    BodyRoute(route="POST /verify/bulk", max_bytes=16 * MiB, stream=True),
    BodyRoute(route="POST /api/credentials/v1/issue-jobs", max_bytes=16 * MiB, stream=True),
    BodyRoute(route="POST /api/learning/v1/courses/*/enrolments/batch", max_bytes=4 * MiB),
    BodyRoute(route="POST,PUT /api/learning/v1/xapi/statements", max_bytes=4 * MiB),
    # CloudEvents between services (credentials accepts 4 MiB)
    BodyRoute(route="POST /api/*/v1/events", max_bytes=4 * MiB),
]


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", env_file=None)

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    #: one JSON access-log line per request (method, path without query, status, duration, request id)
    access_log: bool = True

    #: each service's replicas: one URL, several comma-separated (``http://10.0.0.5:8003,http://10.0.0.6:8003``) or a
    #: JSON list; requests go round robin, a failing replica is skipped a while (:mod:`gateway.upstreams`)
    identity_url: str = "http://127.0.0.1:8001"
    learning_url: str = "http://127.0.0.1:8002"
    records_url: str = "http://127.0.0.1:8003"
    credentials_url: str = "http://127.0.0.1:8004"

    #: the ``iss`` every accepted token must carry (identity's ``IDENTITY_JWT_ISSUER``); a token's ``aud`` must list
    #: the service a request is routed to (each service's audience is its name: identity, learning, …)
    jwt_issuer: str = "http://127.0.0.1:8001"
    #: verified tokens kept in memory until their ``exp`` (bounded)
    token_cache_size: int = 10_000
    public_routes: list[str] = DEFAULT_PUBLIC_ROUTES

    #: load balancers in front of the gateway (addresses or networks, e.g. ``["10.0.0.0/8"]``); from them the client
    #: is the right-most untrusted ``X-Forwarded-For`` hop and the chain is passed on with the peer appended. From
    #: anyone else a client's ``X-Forwarded-For`` is replaced by its address. Empty: the gateway is the edge.
    trusted_proxies: list[str] = []

    #: ``/docs`` and ``/openapi.json`` (the gateway's and each service's through it); unset: off in production
    docs_enabled: bool | None = None

    # -- limits against slow and large requests (see README, "Security model") --------------------------------
    #: a request's line and headers must arrive within this (else 408 and the connection is closed)
    header_timeout_seconds: float = 10.0
    #: an idle keep-alive connection is closed after this
    keep_alive_seconds: int = 5
    #: largest body on any route not in ``body_routes`` (413 above it); read whole before the service is contacted
    max_body_bytes: int = 1 * MiB
    body_routes: list[BodyRoute] = DEFAULT_BODY_ROUTES
    #: a body read whole must arrive within ``body_timeout_seconds`` + its length / ``body_min_bytes_per_second``
    #: (else 408); the service is not contacted before, so a slow client holds no upstream connection
    body_timeout_seconds: float = 10.0
    body_min_bytes_per_second: int = 32 * 1024
    #: a streamed upload that sends nothing for this long is cut off (408 if the service has not answered yet)
    upload_idle_timeout_seconds: float = 30.0
    #: requests in progress at once per client address (429 above it); 0 turns the cap off
    max_concurrent_per_client: int = 64

    upstream_connect_timeout: float = 3.0
    #: longest silence while waiting for (a chunk of) the upstream's response; uploads themselves are not capped
    upstream_read_timeout: float = 60.0
    upstream_pool_size: int = 512
    upstream_keepalive_seconds: float = 30.0
    #: a replica that refused or dropped a connection (or did not accept one in time) is skipped this long
    upstream_eject_seconds: float = Field(default=10.0, ge=0)

    rate_limit_enabled: bool = True
    rate_limit_per_ip_per_minute: float = 1200
    rate_limit_ip_burst: float = 200
    rate_limit_per_client_per_minute: float = 3000
    rate_limit_client_burst: float = 500
    #: when set (``redis://host:6379/0``), buckets live in Redis and are shared by every gateway replica
    redis_url: str = ""
    redis_timeout_seconds: float = 0.25
    #: after a Redis failure, requests pass unlimited (fail open) for this long before Redis is tried again
    redis_retry_seconds: float = 5.0

    cors_origins: list[str] = []

    #: Prometheus metrics on a port of their own, never the public one (0: not served). Keep the port off the
    #: internet: only Prometheus needs it
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464

    openapi_cache_seconds: float = 30.0
    openapi_fetch_timeout: float = 3.0
    readyz_timeout: float = 2.0

    @field_validator("jwt_issuer")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("identity_url", "learning_url", "records_url", "credentials_url", mode="before")
    @classmethod
    def _replica_urls(cls, value: object) -> object:
        if isinstance(value, (str, list)):
            return ",".join(parse_urls(value))
        return value

    @property
    def serve_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else self.environment != "production"

    @property
    def upstreams(self) -> dict[str, list[str]]:
        """Each service's replica URLs."""
        return {
            "identity": self.identity_url.split(","),
            "learning": self.learning_url.split(","),
            "records": self.records_url.split(","),
            "credentials": self.credentials_url.split(","),
        }
