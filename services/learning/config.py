"""Learning settings (env prefix ``LEARNING_``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import field_validator, model_validator

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config
from services.common.replicas import replica_list
from services.common.storage import MAX_PART_SIZE, MIN_PART_SIZE


class LearningSettings(ServiceSettings):
    model_config = service_config("LEARNING_")

    service_name: str = "learning"
    client_id: str = "svc-learning"
    client_secret: str = DEV_SECRET_PREFIX + "svc-learning-secret"

    #: largest file accepted, by any upload path (413 above it)
    max_upload_bytes: int = 4 * 1024 * 1024 * 1024
    #: part size of resumable uploads (S3 multipart: at least 5 MiB except the last part)
    upload_part_size: int = 16 * 1024 * 1024
    #: an unfinished resumable upload is kept this long
    upload_session_hours: int = 48
    #: lifetime of download links and package player links
    download_url_seconds: int = 900
    player_url_seconds: int = 4 * 3600
    #: the origin (scheme://host[:port]) SCORM / cmi5 packages are served from — author-supplied HTML and script,
    #: never on the platform's own origin (where the front end keeps a citizen's session), as Moodle and Open edX
    #: serve user content from a separate domain. It reaches the gateway like the public base URL
    #: (``<origin>/api/learning/v1/players/…``). Empty: in development, the public base URL with 127.0.0.1 and
    #: localhost swapped (another origin, the same gateway); required in production, https, on another host.
    content_origin: str = ""
    #: clamd address (``tcp://host:3310`` or ``unix:///run/clamav/clamd.ctl``); empty: no scanning
    clamd_address: str = ""
    clamd_timeout_seconds: float = 60.0
    #: bytes sent to clamd per file (clamd's StreamMaxLength is 25 MiB by default)
    clamd_max_stream_bytes: int = 25 * 1024 * 1024 - 1024
    #: package (SCORM / cmi5 / any zip) limits against zip bombs
    package_max_entries: int = 10_000
    package_max_expanded_bytes: int = 2 * 1024 * 1024 * 1024
    package_max_ratio: int = 200
    #: how long a lesson launch's xAPI credentials (and a cmi5 session's fetched token) stay valid
    xapi_launch_seconds: int = 8 * 3600
    #: largest xAPI State document (413 above it)
    xapi_state_max_bytes: int = 1024 * 1024
    #: search counts its total and facets over at most this many matches (beyond: "1000+", a lower bound)
    search_count_limit: int = 1000
    #: the same search (words, filters, order, page) for the same visibility within this many seconds reuses its
    #: ranking, total and facets (the objects are read anew); a change committed here drops them at once. 0: off
    search_cache_seconds: float = 30.0
    #: the sweeper (expired resumable uploads, stray multipart uploads, orphan files): how often it runs, how old
    #: an unreferenced object must be before it is removed, and how long after start the first pass waits
    sweeper_interval_seconds: float = 3600.0
    sweeper_grace_seconds: float = 24 * 3600.0
    sweeper_initial_delay_seconds: float = 60.0
    #: LTI 1.3 (tool side): how long an OIDC login waits for its launch (its state and nonce are used once), how long
    #: a launch's player session lasts, and the player page a launch ends on (the front end's; the session token
    #: follows in the URL's fragment). Empty: ``<public base URL>/lti/player``
    lti_login_seconds: int = 300
    lti_session_seconds: int = 4 * 3600
    lti_player_url: str = ""
    #: allowed clock difference with a platform when checking an ``id_token``'s ``iat`` and ``exp``
    lti_clock_skew_seconds: int = 60
    #: after a rotation the previous tool key stays in the tool's JWKS this long (platforms cache JWKS)
    lti_key_retire_hours: float = 24.0
    #: the AGS score sender: how often it looks for due scores (it runs where the outbox is delivered, i.e. with
    #: ``outbox_enabled``; 0: not at all), how many it takes at once, and how long it holds them
    lti_scores_poll_seconds: float = 5.0
    lti_scores_batch: int = 20
    lti_scores_lease_seconds: float = 120.0
    #: records' internal URL, or its replicas' (comma-separated): gradebooks read programmes and send grades there
    #: (with the service's own token)
    records_url: str = "http://127.0.0.1:8003"
    #: assessment: an item's difficulty band comes from its p-value once this many scored responses count (before
    #: that, from its author's estimate)
    assessment_stats_min_responses: int = 20
    #: largest evidence file of a practical task, and largest file a learner gives as an exam answer (413 above)
    assessment_evidence_max_bytes: int = 512 * 1024 * 1024
    assessment_answer_file_max_bytes: int = 50 * 1024 * 1024
    #: how long an enterprise assessor's invitation code may be accepted
    assessment_invitation_days: int = 14

    @field_validator("upload_part_size")
    @classmethod
    def _part_size(cls, value: int) -> int:
        if not MIN_PART_SIZE <= value <= MAX_PART_SIZE:
            raise ValueError(f"upload_part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes")
        return value

    @model_validator(mode="after")
    def _records_replicas(self) -> LearningSettings:
        """Several records replicas: the first names it, the list goes to the internal client (as identity's does)."""
        group = replica_list(self.records_url)
        self.records_url = group[0]
        if len(group) > 1 and group not in self._replica_groups:
            self._replica_groups.append(group)
        return self

    @model_validator(mode="after")
    def _content_origin(self) -> LearningSettings:
        public = urlsplit(self.public_base_url)
        if not self.content_origin and self.environment != "production":
            swapped = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(public.hostname or "")
            if swapped:
                self.content_origin = public._replace(netloc=public.netloc.replace(public.hostname or "", swapped, 1), path="").geturl()
        content = urlsplit(self.content_origin)
        if not self.content_origin or content.path not in ("", "/") or content.query or not content.hostname:
            raise ValueError("set LEARNING_CONTENT_ORIGIN: the origin (scheme://host[:port]) packages are served from, another "
                             "host name of the gateway than the public base URL's")
        if (content.hostname, content.port, content.scheme) == (public.hostname, public.port, public.scheme):
            raise ValueError("LEARNING_CONTENT_ORIGIN must differ from the public base URL's origin: packages are untrusted content")
        if self.environment == "production" and (content.scheme != "https" or content.hostname == public.hostname):
            raise ValueError("LEARNING_CONTENT_ORIGIN must be https on a host of its own in production")
        self.content_origin = self.content_origin.rstrip("/")
        if not self.lti_player_url:
            self.lti_player_url = f"{self.public_base_url.rstrip('/')}/lti/player"
        return self

    @property
    def content_service_url(self) -> str:
        """This service as the content origin reaches it (through the gateway): package players start here."""
        return f"{self.content_origin}/api/{self.service_name}"

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {"client_secret": self.client_secret}
