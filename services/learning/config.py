"""Learning settings (env prefix ``LEARNING_``)."""

from __future__ import annotations

from services.common.config import DEV_SECRET_PREFIX, ServiceSettings, service_config


class LearningSettings(ServiceSettings):
    model_config = service_config("LEARNING_")

    service_name: str = "learning"
    client_id: str = "svc-learning"
    client_secret: str = DEV_SECRET_PREFIX + "svc-learning-secret"

    def secret_fields(self) -> dict[str, str]:
        return super().secret_fields() | {"client_secret": self.client_secret}
