"""Records settings (env prefix ``RECORDS_``)."""

from __future__ import annotations

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class RecordsSettings(ServiceSettings):
    model_config = service_config("RECORDS_")

    service_name: str = "records"
    client_id: str = "svc-records"
    client_secret: str = DEV_SECRET_PREFIX + "svc-records-secret"

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {"client_secret": self.client_secret}
