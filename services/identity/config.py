"""Identity settings (env prefix ``IDENTITY_``)."""

from __future__ import annotations

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class IdentitySettings(ServiceSettings):
    model_config = service_config("IDENTITY_")

    service_name: str = "identity"
    #: the ``iss`` of every token; other services set their ``<SVC>_JWT_ISSUER`` to the same value
    jwt_issuer: str = "http://127.0.0.1:8001"
    access_token_ttl_seconds: int = 900
    #: ES256 (default) or RS256 for new signing keys
    signing_algorithm: str = "ES256"
    #: encrypts signing keys at rest (Fernet key derived from it)
    key_encryption_secret: str = DEV_SECRET_PREFIX + "identity-key-encryption"
    #: keys the SHA-256 of machine-client secrets (a pepper: a stolen table alone does not give secrets)
    client_secret_pepper: str = DEV_SECRET_PREFIX + "identity-client-pepper"
    outbox_enabled: bool = False

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {
            "key_encryption_secret": self.key_encryption_secret,
            "client_secret_pepper": self.client_secret_pepper,
        }
