"""Credentials settings (env prefix ``CREDENTIALS_``)."""

from __future__ import annotations

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class CredentialsSettings(ServiceSettings):
    model_config = service_config("CREDENTIALS_")

    service_name: str = "credentials"
    client_id: str = "svc-credentials"
    client_secret: str = DEV_SECRET_PREFIX + "svc-credentials-secret"

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {"client_secret": self.client_secret}
