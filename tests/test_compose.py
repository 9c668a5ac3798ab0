"""docker-compose.yml cannot be run here (no Docker engine), so it is kept honest by reading: every process it
starts exists in the code, listens on the port the platform expects, and every variable it sets is a real
setting of that process."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

from services.registry import GATEWAY_PORT, SERVICES

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS = {spec.env_prefix: spec.settings_class() for spec in SERVICES.values()}


def gateway_settings() -> type:
    return importlib.import_module("gateway.config").GatewaySettings


def fields_of(cls: type) -> set[str]:
    return set(cls.model_fields)


def app_services() -> dict[str, dict]:
    return {name: svc for name, svc in COMPOSE["services"].items() if svc.get("build") == "."}


def test_every_platform_process_is_in_compose() -> None:
    names = set(app_services())
    assert set(SERVICES) | {"gateway", "migrate", "bootstrap"} == names
    assert {"postgres", "minio"} <= set(COMPOSE["services"])


def test_commands_name_real_app_factories_and_the_expected_ports() -> None:
    expected = {name: spec.port for name, spec in SERVICES.items()} | {"gateway": GATEWAY_PORT}
    for name, svc in app_services().items():
        cmd = svc["command"]
        if name in ("migrate", "bootstrap"):
            assert cmd[:3] == ["python", "-m", "services"] and cmd[3] == name
            continue
        if name == "gateway":  # its own runner (gateway.server: header timeout, no uvicorn proxy headers)
            assert cmd[:3] == ["python", "-m", "gateway"]
            assert callable(importlib.import_module("gateway.server").main)
        else:
            factory = cmd[cmd.index("--factory") + 1]
            module, _, attr = factory.partition(":")
            assert callable(getattr(importlib.import_module(module), attr)), factory
        port = int(cmd[cmd.index("--port") + 1])
        assert port == expected[name]
        assert svc["ports"] == [f"{port}:{port}"]


def test_every_environment_variable_is_a_real_setting() -> None:
    prefixes = SETTINGS | {"GATEWAY_": gateway_settings()}
    for name, svc in app_services().items():
        for var in svc.get("environment", {}):
            prefix = next((p for p in prefixes if var.startswith(p)), None)
            assert prefix is not None, f"{name}: {var} has no known prefix"
            field = var[len(prefix):].lower()
            assert field in fields_of(prefixes[prefix]), f"{name}: {var} is not a setting of {prefixes[prefix].__name__}"
            if name not in ("migrate", "bootstrap", "gateway"):
                assert prefix == SERVICES[name].env_prefix, f"{name} is configured with another service's variable {var}"


def test_urls_in_compose_point_at_services_and_ports_that_exist() -> None:
    services = COMPOSE["services"]
    ports = {name: spec.port for name, spec in SERVICES.items()}
    text = (ROOT / "docker-compose.yml").read_text()
    for host, port in re.findall(r"http://([a-z]+):(\d+)", text):
        if host == "localhost":
            continue
        assert host in services, host
        assert int(port) == ports[host], f"{host}:{port}"
    for url in re.findall(r"postgresql\+asyncpg://[^@]+@postgres:5432/([a-z]+)", text):
        assert url in SERVICES
        assert f"CREATE DATABASE {url} " in (ROOT / "deploy/postgres-init.sql").read_text()


def test_production_settings_refuse_development_secrets() -> None:
    import pytest

    for prefix, cls in SETTINGS.items():
        with pytest.raises(ValueError, match="development or empty secrets"):
            cls(environment="production")


def test_bootstrap_runs_after_migrate_with_the_services_secrets_and_the_services_wait_for_it() -> None:
    from services.__main__ import main

    services = COMPOSE["services"]
    boot = services["bootstrap"]
    assert boot["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in SERVICES:
        assert services[name]["depends_on"] == {"bootstrap": {"condition": "service_completed_successfully"}}, name
    env = boot["environment"]
    assert env["IDENTITY_ENVIRONMENT"] == "production"
    # the same database and secrets identity runs with, the same client ids and secrets each service presents
    for var in ("IDENTITY_DATABASE_URL", "IDENTITY_SECRET_KEY", "IDENTITY_KEY_ENCRYPTION_SECRET", "IDENTITY_CLIENT_SECRET_PEPPER"):
        assert env[var] == services["identity"]["environment"][var], var
    for name in ("learning", "records", "credentials"):
        for var in (f"{name.upper()}_CLIENT_ID", f"{name.upper()}_CLIENT_SECRET"):
            assert env[var] == services[name]["environment"][var], var
    # the password from a file (a compose secret), never from the command line or the environment
    cmd = boot["command"]
    path = cmd[cmd.index("--admin-password-file") + 1]
    assert path == "/run/secrets/" + boot["secrets"][0] and boot["secrets"][0] in COMPOSE["secrets"]
    assert not any("password" in var.lower() for var in env)
    # and the command line it runs is one the CLI accepts (--help exits 0 after parsing the subcommand)
    import pytest

    with pytest.raises(SystemExit) as done:
        main(cmd[3:] + ["--help"])
    assert done.value.code == 0
