"""deploy/kubernetes, checked offline (no cluster here): each overlay renders with ``kubectl kustomize``; every object
validates against the Kubernetes API's schemas (``kubernetes-validate``) or, for the operators' kinds, against their
vendored CRD schemas; every process runs the code's own command on the code's port and loads its settings in
production from exactly what the manifests give it; the Secrets they read are the templated ones; the
NetworkPolicies let through what the design needs and nothing else; and checkov's Kubernetes policies pass.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.testing import in_ci
from services.registry import GATEWAY_PORT, SERVICES

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ["dev", "production"]
NAMESPACES = {"dev": "vet-dev", "production": "vet"}
#: the oldest Kubernetes the manifests are written for (CloudNativePG 1.30 and the MinIO operator 7.1 support it)
KUBERNETES_VERSION = "1.32.0"
PROCESSES = [*SERVICES, "gateway"]
OPERATOR_KINDS = {"Cluster", "Pooler", "ScheduledBackup", "ObjectStore", "Tenant"}

#: checkov runs from a virtualenv of its own: it pins boto3, packaging and networkx to versions that conflict with
#: the project's (measured: pip resolves checkov against our pins only by falling back to 2.0.708, from 2022);
#: ~85 s and ~290 MB to install, created once here or by `make test-tools`
CHECKOV_VENV = ROOT / ".venv-tools" / "checkov"
CHECKOV_REQUIREMENTS = KUBE / "checkov-requirements.txt"
#: checks not applied, and why
CHECKOV_SKIPS = {
    # "Image should use digest": the overlays name images by tag because the platform's image is built after these
    # files are written; a release pins it by digest with `kustomize edit set image vet-platform=…@sha256:…`
    # (README "Deploy"), which this check cannot see in the repository
    "CKV_K8S_43",
    # "Prefer using secrets as files over secrets as environment variables": every process reads its settings from
    # environment variables only (pydantic-settings, README "Configuration"); Redis takes its password the same way
    "CKV_K8S_35",
}
CHECKOV_SKIPS_BY_OVERLAY = {
    # "Image Pull Policy should be Always": a dev cluster runs an image built on the machine and loaded into its
    # nodes (kind load docker-image), which no registry has; production pulls Always
    "dev": {"CKV_K8S_15"},
    "production": set(),
}

#: services whose scanning endpoints read the databases' replicas in production (<SVC>_DATABASE_READ_URL through a
#: read-only PgBouncer, <svc>-db-pooler-ro); credentials has no such endpoint
READ_REPLICA_SERVICES = {"identity", "learning", "records"}

#: variables that only build other variables ($(DB_PASSWORD) in a URL): not settings
HELPER_VARIABLES = re.compile(r"^(DB_USER|DB_PASSWORD|REDIS_PASSWORD|PG_[A-Z]+_(USER|PASSWORD))$")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


@functools.cache
def _render(overlay: str) -> tuple[dict[str, Any], ...] | str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return "kubectl is not installed (it renders the Kustomize overlays)"
    done = subprocess.run([kubectl, "kustomize", str(KUBE / "overlays" / overlay)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def objects(overlay: str) -> tuple[dict[str, Any], ...]:
    rendered = _render(overlay)
    if isinstance(rendered, str):
        _unavailable(rendered)
    return rendered  # type: ignore[return-value]


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def secret_template() -> dict[str, dict[str, str]]:
    docs = yaml.safe_load_all((KUBE / "secrets" / "secrets.example.yaml").read_text())
    return {d["metadata"]["name"]: d.get("stringData", {}) for d in docs if d}


# -- rendering and schemas -------------------------------------------------------------------------------------


def test_each_overlay_renders_the_whole_platform(objects: tuple[dict[str, Any], ...], overlay: str) -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert set(PROCESSES) <= set(of_kind(objects, kind)), kind
    for name in PROCESSES:
        hpa = of_kind(objects, "HorizontalPodAutoscaler")[name]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert "replicas" not in of_kind(objects, "Deployment")[name]["spec"], "the HPA owns the replica count"
        pdb = of_kind(objects, "PodDisruptionBudget")[name]["spec"]
        assert pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
    assert {"redis"} <= set(of_kind(objects, "Deployment"))
    assert set(of_kind(objects, "Job")) == {"vet-setup"}
    assert set(of_kind(objects, "Cluster")) == {f"{s}-db" for s in SERVICES}
    read_poolers = {f"{s}-db-pooler-ro" for s in READ_REPLICA_SERVICES} if overlay == "production" else set()
    assert set(of_kind(objects, "Pooler")) == {f"{s}-db-pooler" for s in SERVICES} | read_poolers
    assert set(of_kind(objects, "ScheduledBackup")) == {f"{s}-db-daily" for s in SERVICES}
    assert set(of_kind(objects, "Tenant")) == {"vet-objects"}
    assert not of_kind(objects, "Secret"), "Secrets are created by hand, never applied by the overlay"
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert namespaces == {NAMESPACES[overlay]}
    assert set(of_kind(objects, "Namespace")) == {NAMESPACES[overlay]}


def test_every_object_validates_against_its_schema(objects: tuple[dict[str, Any], ...]) -> None:
    kubernetes_validate = _kubernetes_validate()
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in OPERATOR_KINDS:
            errors = operator_schema_errors(obj)
            assert not errors, f"{where}: {errors}"
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")


def test_the_operator_schemas_refuse_a_misspelt_field() -> None:
    """The vendored schemas are applied strictly (an unknown field is an error, as the API server's strict field
    validation makes it): a typo cannot pass as an ignored field."""
    rendered = _render("production")
    if isinstance(rendered, str):
        _unavailable(rendered)
    cluster = json.loads(json.dumps(of_kind(rendered, "Cluster")["records-db"]))  # type: ignore[arg-type]
    assert operator_schema_errors(cluster) == []
    cluster["spec"]["postgresql"]["synchronus"] = cluster["spec"]["postgresql"].pop("synchronous")
    assert any("synchronus" in e for e in operator_schema_errors(cluster))
    cluster["spec"]["postgresql"]["synchronous"] = cluster["spec"]["postgresql"].pop("synchronus")
    cluster["spec"]["instances"] = "three"
    assert operator_schema_errors(cluster)


def test_secret_template_validates() -> None:
    kubernetes_validate = _kubernetes_validate()
    for doc in yaml.safe_load_all((KUBE / "secrets" / "secrets.example.yaml").read_text()):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _kubernetes_validate():  # noqa: ANN202 - the module
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        _unavailable("kubernetes-validate is not installed (pip install -e '.[dev]')")


@functools.cache
def _operator_validator(api_version: str, kind: str):  # noqa: ANN202 - a jsonschema validator
    import jsonschema

    group, version = api_version.split("/")
    path = KUBE / "schemas" / f"{group}_{version}_{kind}.json"
    assert path.exists(), f"no vendored schema for {api_version} {kind} (deploy/kubernetes/schemas/README.md)"
    return jsonschema.Draft7Validator(_strict(json.loads(path.read_text())))


def _strict(node: Any) -> Any:
    """An object schema that lists its properties admits no others, unless it says it keeps unknown fields."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if ("properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def operator_schema_errors(obj: dict[str, Any]) -> list[str]:
    validator = _operator_validator(obj["apiVersion"], obj["kind"])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


# -- the processes and what they are given ---------------------------------------------------------------------


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def environment(objects: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom, then env with $(VAR) expanded; Secrets
    from the template with the placeholders replaced by real-looking values, the CloudNativePG ones made up."""
    configmaps = {n: o.get("data", {}) for n, o in of_kind(objects, "ConfigMap").items()}
    secrets = {n: {k: v.replace("dev-only-replace-me", f"k8s-test-{n}-{k}-0123456789") for k, v in data.items()}
               for n, data in secret_template().items()}

    def secret_value(name: str, key: str) -> str:
        if name.endswith("-db-app"):
            return {"username": name.removesuffix("-db-app"), "password": "Generated64Alnum"}[key]
        assert name in secrets, f"Secret {name} is not in secrets/secrets.example.yaml"
        assert key in secrets[name], f"Secret {name} has no key {key} in secrets/secrets.example.yaml"
        return secrets[name][key]

    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= configmaps[source["configMapRef"]["name"]]
        else:
            name = source["secretRef"]["name"]
            env |= {k: secret_value(name, k) for k in secret_template()[name]}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\(([A-Z_]+)\)", lambda m: env[m.group(1)], var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secret_value(ref["name"], ref["key"])
    return env


def settings_class(process: str) -> type:
    if process == "gateway":
        return importlib.import_module("gateway.config").GatewaySettings
    return SERVICES[process].settings_class()


def test_each_process_runs_the_code_on_its_port(objects: tuple[dict[str, Any], ...]) -> None:
    deployments, services = of_kind(objects, "Deployment"), of_kind(objects, "Service")
    ports = {name: spec.port for name, spec in SERVICES.items()} | {"gateway": GATEWAY_PORT}
    for name in PROCESSES:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        cmd = container["command"]
        if name == "gateway":  # its own runner: header timeout, no uvicorn proxy headers
            assert cmd[:3] == ["python", "-m", "gateway"]
        else:
            module, _, attr = cmd[cmd.index("--factory") + 1].partition(":")
            assert module == f"services.{name}.app" and callable(getattr(importlib.import_module(module), attr))
        port = int(cmd[cmd.index("--port") + 1])
        assert port == ports[name]
        assert container["ports"][0] == {"name": "http", "containerPort": port, "protocol": "TCP"}
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    job = of_kind(objects, "Job")["vet-setup"]["spec"]["template"]["spec"]
    assert job["initContainers"][0]["command"] == ["python", "-m", "services", "migrate"]
    assert job["containers"][0]["command"][:4] == ["python", "-m", "services", "bootstrap"]


def test_every_variable_is_a_setting_and_every_process_loads_in_production(
    objects: tuple[dict[str, Any], ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefixes = {spec.env_prefix: name for name, spec in SERVICES.items()} | {"GATEWAY_": "gateway"}
    workloads = of_kind(objects, "Deployment") | of_kind(objects, "Job")
    for workload in workloads.values():
        if workload["metadata"]["name"] == "redis":
            continue
        for container in containers(workload):
            env = environment(objects, container)
            for var in env:
                if HELPER_VARIABLES.match(var):
                    continue
                prefix = next((p for p in prefixes if var.startswith(p)), None)
                assert prefix, f"{container['name']}: {var} has no process's prefix"
                assert var[len(prefix):].lower() in settings_class(prefixes[prefix]).model_fields, \
                    f"{container['name']}: {var} is not a setting of {prefixes[prefix]}"
            for key in [k for k in os.environ if k.startswith(tuple(prefixes))]:
                monkeypatch.delenv(key)
            for var, value in env.items():
                monkeypatch.setenv(var, value)
            for prefix, process in prefixes.items():
                if any(v.startswith(prefix) for v in env):
                    settings = settings_class(process)()  # raises if production refuses what it was given
                    assert settings.environment == "production", f"{container['name']}: {process}"
            for var in env:
                monkeypatch.delenv(var)


def test_each_service_uses_its_own_database_through_pgbouncer(objects: tuple[dict[str, Any], ...], overlay: str) -> None:
    deployments = of_kind(objects, "Deployment")
    for name, spec in SERVICES.items():
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        env = environment(objects, container)
        assert env[spec.env_prefix + "DATABASE_URL"] == (
            f"postgresql+asyncpg://{name}:Generated64Alnum@{name}-db-pooler:5432/{name}?ssl=require")
        # statistics and the like on the replicas, in production (dev's clusters have none)
        if overlay == "production" and name in READ_REPLICA_SERVICES:
            assert env[spec.env_prefix + "DATABASE_READ_URL"] == (
                f"postgresql+asyncpg://{name}:Generated64Alnum@{name}-db-pooler-ro:5432/{name}?ssl=require")
        else:
            assert spec.env_prefix + "DATABASE_READ_URL" not in env
        # transaction pooling: asyncpg's and SQLAlchemy's statement caches off, unique statement names
        assert env[spec.env_prefix + "DB_PGBOUNCER"] == "true"
        assert env[spec.env_prefix + "OBJECT_STORE_URL"] == f"s3://vet-{name}"
    setup = of_kind(objects, "Job")["vet-setup"]
    for container in containers(setup):
        env = environment(objects, container)
        for name, spec in SERVICES.items():  # migrations straight to the primary, not through PgBouncer
            assert env[spec.env_prefix + "DATABASE_URL"].split("@")[1] == f"{name}-db-rw:5432/{name}?ssl=require"
            assert env[spec.env_prefix + "DB_PGBOUNCER"] == "false"


def test_databases_object_store_and_backups(objects: tuple[dict[str, Any], ...], overlay: str) -> None:
    clusters, poolers = of_kind(objects, "Cluster"), of_kind(objects, "Pooler")
    for name in SERVICES:
        cluster = clusters[f"{name}-db"]["spec"]
        assert cluster["bootstrap"]["initdb"] == {"database": name, "owner": name}
        (plugin,) = cluster["plugins"]
        assert plugin == {"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True,
                          "parameters": {"barmanObjectName": "vet-db-backups"}}
        pooler = poolers[f"{name}-db-pooler"]["spec"]
        assert pooler["cluster"] == {"name": f"{name}-db"} and pooler["type"] == "rw"
        assert pooler["pgbouncer"]["poolMode"] == "transaction"
        if f"{name}-db-pooler-ro" in poolers:  # the replicas only (CloudNativePG's <cluster>-ro), same pool mode
            read = poolers[f"{name}-db-pooler-ro"]["spec"]
            assert read["cluster"] == {"name": f"{name}-db"} and read["type"] == "ro"
            assert read["pgbouncer"]["poolMode"] == "transaction"
        backup = of_kind(objects, "ScheduledBackup")[f"{name}-db-daily"]["spec"]
        assert backup["cluster"] == {"name": f"{name}-db"} and backup["method"] == "plugin"
        assert backup["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
        if overlay == "production":
            assert cluster["instances"] == 3
            assert cluster["postgresql"]["synchronous"]["number"] >= 1
            assert cluster["affinity"]["podAntiAffinityType"] == "required"
    store = of_kind(objects, "ObjectStore")["vet-db-backups"]["spec"]["configuration"]
    (pool,) = of_kind(objects, "Tenant")["vet-objects"]["spec"]["pools"]
    if overlay == "production":  # off-site backups; 16 drives, erasure-coded
        assert "minio" not in store["endpointURL"]
        assert (pool["servers"], pool["volumesPerServer"]) == (4, 4)
    else:
        assert (pool["servers"], pool["volumesPerServer"]) == (1, 4)
    buckets = {b["name"] for b in of_kind(objects, "Tenant")["vet-objects"]["spec"]["buckets"]}
    assert {f"vet-{s}" for s in SERVICES} <= buckets


def test_every_secret_read_is_templated(objects: tuple[dict[str, Any], ...]) -> None:
    """Whatever a pod or an operator resource reads from a Secret is in secrets.example.yaml (the operators' own
    <svc>-db-app excepted), so the README's list of secrets to create first is complete."""
    template = secret_template()
    referenced: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                referenced.add((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
            if "secretRef" in node:
                name = node["secretRef"]["name"]
                assert name in template, f"Secret {name} is not in secrets/secrets.example.yaml"
                referenced.update((name, key) for key in template[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(objects))
    assert len(referenced) > 20
    for store in of_kind(objects, "ObjectStore").values():
        creds = store["spec"]["configuration"]["s3Credentials"]
        referenced |= {(c["name"], c["key"]) for c in creds.values()}
    tenant = of_kind(objects, "Tenant")["vet-objects"]["spec"]
    referenced |= {(tenant["configuration"]["name"], "config.env")}
    referenced |= {(u["name"], k) for u in tenant["users"] for k in ("CONSOLE_ACCESS_KEY", "CONSOLE_SECRET_KEY")}
    referenced |= {(t["secretName"], "tls.crt") for t in of_kind(objects, "Ingress")["vet"]["spec"].get("tls", [])}
    for workload in of_kind(objects, "Job").values():
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                referenced.add((volume["secret"]["secretName"], "password"))
    missing = {(n, k) for n, k in referenced if not n.endswith("-db-app") and k not in template.get(n, {})}
    assert not missing, f"not in secrets/secrets.example.yaml: {sorted(missing)}"
    # placeholders only (access key ids are names, not secrets)
    for name, data in template.items():
        for key, value in data.items():
            assert "dev-only-" in value or value in ("", "devonlyreplaceme") or key == "CONSOLE_ACCESS_KEY", (name, key)


def test_every_platform_container_is_locked_down(objects: tuple[dict[str, Any], ...]) -> None:
    for workload in [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "vet-app"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(workload):
            sc = container["securityContext"]
            assert (sc["allowPrivilegeEscalation"], sc["readOnlyRootFilesystem"], sc["runAsNonRoot"]) == (False, True, True)
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        writable = {m["mountPath"] for c in containers(workload) for m in c.get("volumeMounts", [])
                    if not m.get("readOnly")}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in containers(workload):
            for m in c.get("volumeMounts", []):
                if m["mountPath"] in writable:
                    assert "emptyDir" in volumes[m["name"]] and volumes[m["name"]]["emptyDir"]["sizeLimit"]


# -- NetworkPolicies -------------------------------------------------------------------------------------------

#: pods the operators create, with the labels they give them (CloudNativePG 1.30, MinIO operator 7.1)
OPERATOR_PODS = {
    **{f"{s}-db-1": {"cnpg.io/cluster": f"{s}-db", "cnpg.io/podRole": "instance"} for s in SERVICES},
    **{f"{s}-db-pooler": {"cnpg.io/poolerName": f"{s}-db-pooler", "cnpg.io/podRole": "pooler",
                          "cnpg.io/cluster": f"{s}-db"} for s in SERVICES},
    **{f"{s}-db-pooler-ro": {"cnpg.io/poolerName": f"{s}-db-pooler-ro", "cnpg.io/podRole": "pooler",
                             "cnpg.io/cluster": f"{s}-db"} for s in SERVICES},
    "vet-objects-pool-0-0": {"v1.min.io/tenant": "vet-objects", "v1.min.io/pool": "pool-0"},
}


class Peer:
    """A pod (namespace labels + pod labels) or an address outside the cluster."""

    def __init__(self, namespace: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                 ip: str | None = None) -> None:
        self.namespace, self.labels, self.ip = namespace, labels or {}, ip


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _peer_matches(rule_peer: dict[str, Any], peer: Peer, policy_namespace: dict[str, str]) -> bool:
    if "ipBlock" in rule_peer:
        if peer.ip is None:
            return False
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", []))
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        if not _selects(rule_peer["namespaceSelector"], peer.namespace):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return _selects(rule_peer.get("podSelector", {}), peer.labels)


def _rules_allow(rules: list[dict[str, Any]], key: str, peer: Peer, port: int, protocol: str,
                 policy_namespace: dict[str, str]) -> bool:
    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports):
            continue
        peers = rule.get(key)
        if not peers or any(_peer_matches(p, peer, policy_namespace) for p in peers):
            return True
    return False


def allowed(objects: tuple[dict[str, Any], ...], src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    """Would the NetworkPolicies let ``src`` open ``port`` on ``dst``? Both directions are checked: the source's
    egress (if a policy selects it) and the destination's ingress."""
    (namespace,) = of_kind(objects, "Namespace").values()
    ns_labels = {"kubernetes.io/metadata.name": namespace["metadata"]["name"], **namespace["metadata"]["labels"]}
    policies = [p["spec"] for p in of_kind(objects, "NetworkPolicy").values()]
    for pod, direction, other, key in ((src, "Egress", dst, "to"), (dst, "Ingress", src, "from")):
        if pod.namespace != ns_labels:
            continue  # outside the platform's namespace: not these policies' business
        selecting = [p for p in policies if direction in p["policyTypes"] and _selects(p["podSelector"], pod.labels)]
        if selecting and not any(
                _rules_allow(p.get(direction.lower(), []), key, other, port, protocol, ns_labels) for p in selecting):
            return False
    return True


def test_network_policies_let_through_what_the_design_needs_and_nothing_else(
        objects: tuple[dict[str, Any], ...]) -> None:
    (namespace,) = of_kind(objects, "Namespace").values()
    ns = {"kubernetes.io/metadata.name": namespace["metadata"]["name"], **namespace["metadata"]["labels"]}
    pods = {name: Peer(ns, w["spec"]["template"]["metadata"]["labels"])
            for name, w in (of_kind(objects, "Deployment") | of_kind(objects, "Job")).items()}
    pods |= {name: Peer(ns, labels) for name, labels in OPERATOR_PODS.items()}
    ingress_controller = Peer({"kubernetes.io/metadata.name": "ingress", "vet.gov.vn/ingress-controller": "true"},
                              {"app": "controller"})
    prometheus = Peer({"kubernetes.io/metadata.name": "monitoring", "vet.gov.vn/monitoring": "true"}, {"app": "p"})
    stranger = Peer({"kubernetes.io/metadata.name": "default"}, {"app": "anything"})
    neighbour = Peer(ns, {"app": "debug"})  # a pod in the platform's namespace that is none of the platform's
    kube_dns = Peer({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
    cnpg = Peer({"kubernetes.io/metadata.name": "cnpg-system"}, {"app.kubernetes.io/name": "cloudnative-pg"})
    ports = {name: spec.port for name, spec in SERVICES.items()}

    def ok(src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
        return allowed(objects, src, dst, port, protocol)

    # from outside: the gateway only, through the Ingress controller; its metrics only to Prometheus
    assert ok(ingress_controller, pods["gateway"], GATEWAY_PORT)
    assert ok(ingress_controller, pods["vet-objects-pool-0-0"], 9000)  # presigned downloads
    assert not ok(ingress_controller, pods["gateway"], 9464)
    assert ok(prometheus, pods["gateway"], 9464) and not ok(prometheus, pods["gateway"], GATEWAY_PORT)
    for outsider in (stranger, neighbour):
        assert not ok(outsider, pods["gateway"], GATEWAY_PORT)
        assert not ok(outsider, pods["redis"], 6379)
        for name in SERVICES:
            assert not ok(outsider, pods[name], ports[name])
            assert not ok(outsider, pods[f"{name}-db-pooler"], 5432)
            assert not ok(outsider, pods[f"{name}-db-pooler-ro"], 5432)
            assert not ok(outsider, pods[f"{name}-db-1"], 5432)
        assert not ok(outsider, pods["vet-objects-pool-0-0"], 9000)
    for name in SERVICES:
        assert not ok(ingress_controller, pods[name], ports[name])
        assert ok(prometheus, pods[name], ports[name])  # /metrics, on the service's own port
    # inside: gateway → services and Redis; services → each other, their own database, the object store
    for name in SERVICES:
        assert ok(pods["gateway"], pods[name], ports[name])
        for other in SERVICES:
            assert ok(pods[name], pods[other], ports[other])
            assert ok(pods[name], pods[f"{other}-db-pooler"], 5432) == (name == other)
            assert ok(pods[name], pods[f"{other}-db-pooler-ro"], 5432) == (name == other and name in READ_REPLICA_SERVICES)
            assert not ok(pods[name], pods[f"{other}-db-1"], 5432)
        assert ok(pods[name], pods["vet-objects-pool-0-0"], 9000)
        assert not ok(pods[name], pods["redis"], 6379)
        assert ok(pods[f"{name}-db-pooler"], pods[f"{name}-db-1"], 5432)
        assert ok(pods[f"{name}-db-pooler-ro"], pods[f"{name}-db-1"], 5432)
        assert ok(pods["vet-setup"], pods[f"{name}-db-1"], 5432)
        assert ok(cnpg, pods[f"{name}-db-1"], 8000)
        assert not ok(pods["gateway"], pods[f"{name}-db-pooler"], 5432)
        assert not ok(pods["gateway"], pods[f"{name}-db-pooler-ro"], 5432)
    assert ok(pods["gateway"], pods["redis"], 6379)
    assert not ok(pods["gateway"], pods["vet-objects-pool-0-0"], 9000)
    assert not ok(pods["gateway"], pods["vet-setup"], 8000) and not ok(pods["redis"], pods["identity"], 8001)
    # VNeID is outside the cluster: identity may reach HTTPS on public addresses, nobody else anything outside
    internet = Peer(ip="203.0.113.10")
    assert ok(pods["identity"], internet, 443) and not ok(pods["identity"], internet, 80)
    assert not ok(pods["identity"], Peer(ip="10.1.2.3"), 443)
    for name in ("gateway", "learning", "records", "credentials", "redis", "vet-setup"):
        assert not ok(pods[name], internet, 443)
    for name in (*PROCESSES, "redis", "vet-setup"):
        assert ok(pods[name], kube_dns, 53, "UDP") and ok(pods[name], kube_dns, 53, "TCP")


# -- checkov ---------------------------------------------------------------------------------------------------


def _checkov() -> Path:
    exe = CHECKOV_VENV / "bin" / "checkov"
    if not exe.exists():
        # the same steps as `make test-tools`
        try:
            subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True, capture_output=True)
            subprocess.run([str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "-r", str(CHECKOV_REQUIREMENTS)],
                           check=True, capture_output=True, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"checkov could not be installed in {CHECKOV_VENV}: {exc}")
    return exe


def test_checkov_kubernetes_policies_pass(objects: tuple[dict[str, Any], ...], overlay: str,
                                          tmp_path: Path) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    done = subprocess.run(
        [str(_checkov()), "--file", str(manifest), "--framework", "kubernetes", "--skip-download",
         "--compact", "--output", "json", "--skip-check", ",".join(sorted(CHECKOV_SKIPS | CHECKOV_SKIPS_BY_OVERLAY[overlay]))],
        capture_output=True, text=True, timeout=600, env={**os.environ, "BC_API_KEY": ""})
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    (result,) = report if isinstance(report, list) else [report]
    failed = [f"{f['check_id']} {f['resource']}: {f['check_name']}" for f in result["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert result["summary"]["passed"] > 100 and result["summary"]["parsing_errors"] == 0
    resources = {r.split(".")[0] for r in (c["resource"] for c in result["results"]["passed_checks"])}
    assert {"Deployment", "Job", "Service", "Ingress"} <= resources, "checkov saw the workloads"
