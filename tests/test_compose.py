"""docker-compose.yml cannot be run here (no Docker engine), so it is kept honest by reading: every process it
starts exists in the code, listens on the port the platform expects, and every variable it sets is a real
setting of that process; only the gateway and the object store's S3 API are published; every variable compose
reads is explained in .env.example, and with those values every process accepts its production settings; images
are pinned; each process waits for what it needs to be healthy or done; identity believes X-Forwarded-For from the
gateway alone."""

from __future__ import annotations

import importlib
import ipaddress
import json
import os
import re
from pathlib import Path

import pytest
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

    for cls in SETTINGS.values():
        with pytest.raises(ValueError, match="development or empty secrets"):
            cls(environment="production")


def test_bootstrap_runs_after_migrate_with_the_services_secrets_and_the_services_wait_for_it() -> None:
    from services.__main__ import main

    services = COMPOSE["services"]
    boot = services["bootstrap"]
    assert boot["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in SERVICES:
        assert services[name]["depends_on"]["bootstrap"] == {"condition": "service_completed_successfully"}, name
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


# -- what an operator runs ------------------------------------------------------------------------------------------

ENV_EXAMPLE = ROOT / ".env.example"
#: what may be reached from outside the machine: the gateway, and MinIO's S3 API (browsers fetch presigned links
#: there); MinIO's console from this machine only
PUBLISHED = {"gateway": [f"{GATEWAY_PORT}:{GATEWAY_PORT}"], "minio": ["9000:9000", "127.0.0.1:9001:9001"]}
INTERPOLATION = re.compile(r"\$\{([A-Za-z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def compose_text_without_comments() -> str:
    return "\n".join(line for line in (ROOT / "docker-compose.yml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), line
            values[name] = value
    return values


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` against ``env`` (as from .env)."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        assert op != ":?", f"{name} is required: {arg}"
        return arg if op == ":-" else ""
    return INTERPOLATION.sub(one, str(value))


def test_only_the_gateway_and_the_object_store_are_published() -> None:
    published = {name: svc["ports"] for name, svc in COMPOSE["services"].items() if "ports" in svc}
    assert published == PUBLISHED
    for name, svc in COMPOSE["services"].items():
        assert "network_mode" not in svc, f"{name} shares the host's network"
    # the services' ports (and their GET /metrics on them) are not reachable from outside the compose network
    outside = {int(mapping.split(":")[-1]) for mappings in published.values() for mapping in mappings}
    assert not outside & {spec.port for spec in SERVICES.values()}


def test_every_variable_compose_reads_is_explained_in_env_example() -> None:
    used = {m.group(1) for m in INTERPOLATION.finditer(compose_text_without_comments())}
    assert "$" not in INTERPOLATION.sub("", compose_text_without_comments()), "a $VAR without braces"
    example = env_example()
    assert used == set(example), f"missing: {used - set(example)}, unused: {set(example) - used}"
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):  # explained: a comment right above it (or above its group)
            above = next(lines[j] for j in range(i - 1, -1, -1) if not re.match(r"[A-Z_]+=", lines[j]))
            assert above.startswith("# "), f"{line.partition('=')[0]} is not explained"
    # no real secret in the example: every secret is a placeholder the production guard would still let through
    # only because it is not a development one; an operator replaces them
    for name, value in example.items():
        if re.search(r"SECRET|PASSWORD$|_KEY$|PEPPER", name) and not name.endswith("_FILE"):
            assert value == "replace-me", name


def test_with_env_example_every_process_accepts_its_production_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_example()
    prefixes = SETTINGS | {"GATEWAY_": gateway_settings()}
    #: the processes that serve (or, bootstrap, write production state), each in its production environment
    own = {name: spec.env_prefix for name, spec in SERVICES.items()} | {"gateway": "GATEWAY_", "bootstrap": "IDENTITY_"}
    for name, svc in app_services().items():
        for var in [k for k in os.environ if k.startswith(tuple(prefixes))]:
            monkeypatch.delenv(var)
        for var, value in svc["environment"].items():
            monkeypatch.setenv(var, interpolate(value, env))
        for prefix in {next(p for p in prefixes if var.startswith(p)) for var in svc["environment"]}:
            settings = prefixes[prefix]()  # the production guard and every validator run here
            if prefix == own.get(name):
                assert settings.environment == "production", f"{name}: {prefix}ENVIRONMENT"


def test_images_are_pinned_to_the_versions_kubernetes_runs() -> None:
    kube = ROOT / "deploy" / "kubernetes" / "base"
    images = {name: svc["image"] for name, svc in COMPOSE["services"].items() if "image" in svc}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+|RELEASE\.", tag), f"{name}: {image} names a moving tag, not a release"
    assert f"image: {images['minio']}" in (kube / "objects.yaml").read_text()
    assert f"image: {images['redis']}" in (kube / "redis.yaml").read_text()
    postgres = images["postgres"].rpartition(":")[2]
    assert f"imageName: ghcr.io/cloudnative-pg/postgresql:{postgres}-" in (kube / "databases.yaml").read_text()


def test_every_process_waits_for_what_it_needs_to_be_healthy_or_done() -> None:
    services = COMPOSE["services"]
    one_shots = {"migrate", "bootstrap"}
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends.items():
            wanted = "service_completed_successfully" if dependency in one_shots else "service_healthy"
            assert rule == {"condition": wanted}, f"{name} → {dependency}"
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    for name in SERVICES:
        assert set(services[name]["depends_on"]) == {"bootstrap", "minio"}, name
    assert set(services["gateway"]["depends_on"]) == set(SERVICES) | {"redis"}
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # the platform's processes are healthy when ready: /readyz on their own port (database and object store answer)
    ports = {name: spec.port for name, spec in SERVICES.items()} | {"gateway": GATEWAY_PORT}
    for name, port in ports.items():
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        assert f"http://127.0.0.1:{port}/readyz" in test[3], name
        compile(test[3], name, "exec")


def test_identity_believes_x_forwarded_for_from_the_gateway_alone() -> None:
    services = COMPOSE["services"]
    gateway_networks = services["gateway"]["networks"]
    (network, attachment), = gateway_networks.items()
    address = ipaddress.ip_address(attachment["ipv4_address"])
    subnet = ipaddress.ip_network(COMPOSE["networks"][network]["ipam"]["config"][0]["subnet"])
    assert address in subnet
    trusted = json.loads(services["identity"]["environment"]["IDENTITY_TRUSTED_PROXIES"])
    assert trusted == [str(address)]
    assert "platform" in services["identity"]["networks"]
    # the gateway is the edge unless the operator names a load balancer in front of it
    assert interpolate(services["gateway"]["environment"]["GATEWAY_TRUSTED_PROXIES"], {}) == "[]"
    assert env_example()["GATEWAY_TRUSTED_PROXIES"] == "[]"
    # every process is on the one declared network (the compose default network would have another subnet)
    for name, svc in services.items():
        assert set(svc["networks"]) == {network}, name


def test_download_links_name_the_published_object_store() -> None:
    env = env_example()
    minio = COMPOSE["services"]["minio"]
    for name, spec in SERVICES.items():
        environment = COMPOSE["services"][name]["environment"]
        assert environment[f"{spec.env_prefix}OBJECT_STORE_URL"].startswith("s3://")
        assert environment[f"{spec.env_prefix}S3_ENDPOINT"] == "minio:9000"
        public = interpolate(environment[f"{spec.env_prefix}PUBLIC_OBJECT_STORE_URL"], env)
        assert public == env["VET_PUBLIC_OBJECT_STORE_URL"] == interpolate(
            environment[f"{spec.env_prefix}PUBLIC_OBJECT_STORE_URL"], {})
        port = public.rpartition(":")[2]
        assert f"{port}:9000" in minio["ports"], f"{public} is not MinIO's published S3 port"
