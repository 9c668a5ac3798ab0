"""Credentials settings (env prefix ``CREDENTIALS_``)."""

from __future__ import annotations

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class CredentialsSettings(ServiceSettings):
    model_config = service_config("CREDENTIALS_")

    service_name: str = "credentials"
    client_id: str = "svc-credentials"
    client_secret: str = DEV_SECRET_PREFIX + "svc-credentials-secret"
    #: master key sealing the issuers' private keys at rest (AES-256-GCM under HKDF of this value)
    key_encryption_key: str = DEV_SECRET_PREFIX + "credentials-master-key"
    #: entries per Bitstring Status List (the specification's minimum, for herd privacy, is 131,072)
    status_list_size: int = 131_072
    #: a list takes new entries until this share of it is allocated; then the next list is opened
    status_list_fill_limit: float = 0.5
    #: ``Cache-Control: max-age`` of served status lists: how stale a verifier's view of a revocation may be
    status_list_max_age: int = 300
    #: background worker for batch issuing jobs
    jobs_enabled: bool = True
    jobs_poll_seconds: float = 0.5
    job_chunk_size: int = 250
    job_lease_seconds: float = 120.0
    #: documents issued with a two-entry credentialStatus are signed again with one (issuing/restatus.py) by a
    #: background step: at start, then every this many seconds (catches what an old replica issued during a rolling
    #: upgrade); 0 turns it off
    restatus_poll_seconds: float = 3600.0
    restatus_batch: int = 100
    #: worker processes signing batches (0: a thread of the service process)
    signing_processes: int = 0
    #: largest batch accepted in one request
    batch_max_items: int = 20_000
    #: largest bulk verification
    bulk_verify_max: int = 1_000
    #: verification log rows wait at most this long (or until a batch is full) to be written in one insert
    verification_log_flush_seconds: float = 0.25
    verification_log_batch: int = 500
    #: share of the access-log lines kept for successful, fast public verifications (POST /v1/verify); errors and
    #: slow responses are always logged, and every verification is in the verification log anyway
    verify_access_log_sample: float = 0.01
    #: the platform's own issuer, for course certificates of courses no institution runs (not in the registry)
    platform_issuer_code: str = "VNVET"
    platform_issuer_name: str = "Nền tảng số giáo dục nghề nghiệp quốc gia"
    #: lifetime of the download URLs of diploma PDFs
    download_url_seconds: int = 900
    #: longest lifetime of a holder's share link (issue 5: at most 90 days)
    share_link_max_days: int = 90
    #: how long the institution registry's answer about an issuer is trusted before it is read again
    registry_cache_seconds: float = 300.0

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {"client_secret": self.client_secret, "key_encryption_key": self.key_encryption_key}
