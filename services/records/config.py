"""Records settings (env prefix ``RECORDS_``)."""

from __future__ import annotations

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class RecordsSettings(ServiceSettings):
    model_config = service_config("RECORDS_")

    service_name: str = "records"
    client_id: str = "svc-records"
    client_secret: str = DEV_SECRET_PREFIX + "svc-records-secret"
    #: run the sync-job worker in this process (every replica may; jobs are claimed with a lease)
    sync_worker_enabled: bool = True
    #: rows applied per committed chunk (accept_valid), and per step of an all_or_nothing job
    sync_chunk_rows: int = 2000
    #: on PostgreSQL, write a chunk's grades set-based (COPY into a staging table, one INSERT … ON CONFLICT);
    #: off: row by row through the ORM, as on SQLite
    sync_bulk_writes: bool = True
    #: a job whose worker stopped renewing its lease this long ago is taken over by another worker
    sync_lease_seconds: float = 60.0
    sync_poll_seconds: float = 1.0
    sync_max_upload_bytes: int = 512 * 1024 * 1024
    #: what one upload may make the worker hold (``sync/parsers.py: Limits``; JSON depth is ``max_json_depth``):
    #: values in one JSON row; one JSON string or number, one CSV line; a OneRoster zip member uncompressed, and
    #: how many times it may expand
    sync_max_row_values: int = 10_000
    sync_max_token_bytes: int = 1024 * 1024
    sync_zip_max_member_bytes: int = 512 * 1024 * 1024
    sync_zip_max_ratio: int = 100
    #: an uploaded sync file (personal data) is deleted from the object store this many days after its job ended
    sync_upload_retention_days: float = 30.0
    #: how often a replica looks for uploads past retention (0: never), and how long after start it first looks
    sync_upload_sweep_seconds: float = 3600.0
    sync_upload_sweep_initial_delay_seconds: float = 60.0

    #: learning's address (its per-institution activity, pulled for national oversight)
    learning_url: str = "http://127.0.0.1:8002"
    #: credentials' address (its verification API: a diploma presented for credit transfer is verified there)
    credentials_url: str = "http://127.0.0.1:8004"
    #: a school is connected when it has an active machine client that may sync and a sync finished within this
    #: many days; the board shows rows and rejected rows of this many weeks
    oversight_connected_days: int = 30
    oversight_weeks: int = 8
    #: how often identity's registry and learning's activity are pulled (0: only on POST /v1/oversight/refresh),
    #: and how long after start the first pull runs
    oversight_pull_seconds: float = 300.0
    oversight_pull_initial_delay_seconds: float = 10.0

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {"client_secret": self.client_secret}
