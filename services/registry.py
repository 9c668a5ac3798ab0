"""The platform's services: module, settings class, default port. Used by the runner and the tests."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from services.common.config import ServiceSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    settings_path: str

    @property
    def app_factory(self) -> str:
        return f"services.{self.name}.app:create_app"

    @property
    def env_prefix(self) -> str:
        return self.name.upper() + "_"

    def settings_class(self) -> type[ServiceSettings]:
        module, _, cls = self.settings_path.rpartition(".")
        return getattr(importlib.import_module(module), cls)


SERVICES: dict[str, ServiceSpec] = {
    "identity": ServiceSpec("identity", 8001, "services.identity.config.IdentitySettings"),
    "learning": ServiceSpec("learning", 8002, "services.learning.config.LearningSettings"),
    "records": ServiceSpec("records", 8003, "services.records.config.RecordsSettings"),
    "credentials": ServiceSpec("credentials", 8004, "services.credentials.config.CredentialsSettings"),
}
GATEWAY_PORT = 8000
