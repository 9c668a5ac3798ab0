"""deploy/prometheus/: the example alert rules name only series the platform exposes (scraped here from running
services and a gateway), with label values they really take; the example scrape configuration reaches every
service's port and the gateway's metrics port. No Prometheus here, so the files are kept honest by reading."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from services.registry import SERVICES
from tests.support import Platform, service_url

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
#: series Prometheus makes itself, and labels it adds to every series it scrapes
PROMETHEUS_SERIES = {"up"}
TARGET_LABELS = {"job", "instance"}
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
METRIC_NAME = re.compile(r"\bvet_[a-z0-9_]+\b")


def rules() -> list[dict]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


async def exposed(platform: Platform) -> dict[str, list[dict[str, str]]]:
    """Every sample name the services and a gateway expose, with the label sets it comes with."""
    texts = []
    for name, app in platform.apps.items():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=service_url(name)) as c:
            await c.get("/healthz")
            texts.append((await c.get("/metrics")).text)
    gateway = create_gateway(GatewaySettings(access_log=False, log_level="WARNING"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test") as c:
        await c.get("/healthz")
        await c.get("/api/records/v1/anything")  # 401 at the edge: a status the rules do not name, counted all the same
    texts.append(gateway.metrics.exposition().decode())
    found: dict[str, list[dict[str, str]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


def test_every_rule_is_complete() -> None:
    names = [r.get("alert") for r in rules()]
    assert names and len(names) == len(set(names)), names
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"]), rule
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule
        assert rule["annotations"]["summary"], rule
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule


async def test_rules_name_series_and_labels_that_exist(platform: Platform) -> None:
    found = await exposed(platform)
    for rule in rules():
        expr = rule["expr"]
        for name in METRIC_NAME.findall(expr):
            assert name in found, f"{rule['alert']}: no service exposes {name}"
        for name, matchers in SELECTOR.findall(expr):
            if name in PROMETHEUS_SERIES or name in {"by", "on", "without", "ignoring"}:
                continue
            assert name in found, f"{rule['alert']}: no service exposes {name}"
            label_sets = found[name]
            for label, op, wanted in MATCHER.findall(matchers):
                if label in TARGET_LABELS:
                    continue
                assert any(label in labels for labels in label_sets), f"{rule['alert']}: {name} has no label {label}"
                if op == "=":
                    seen = {labels.get(label) for labels in label_sets}
                    assert wanted in seen or (name, label) == ("vet_http_requests_total", "status"), \
                        f"{rule['alert']}: {name}{{{label}={wanted!r}}} never appears (seen: {sorted(map(str, seen))})"


def test_scrape_configuration_reaches_every_process() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]}
    expected = {f"vet-{name}": [f"{name}:{spec.port}"] for name, spec in SERVICES.items()}
    expected["vet-gateway"] = [f"gateway:{GatewaySettings().metrics_port}"]
    assert targets == expected
    jobs = {m for r in rules() for m in re.findall(r'job\s*=~?\s*"([^"]+)"', r["expr"])}
    assert all(any(re.fullmatch(j, name) for name in targets) for j in jobs), jobs


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_accepts_the_rules_and_the_configuration() -> None:
    """Where Prometheus's own checker is installed, the PromQL and the configuration are checked by it too."""
    for args in (["check", "rules", "alerts.yml"], ["check", "config", "prometheus.yml"]):
        done = subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
