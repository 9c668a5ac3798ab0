"""A single-machine production start as an operator does it: ``python -m services bootstrap`` (the first
administrator, the services' clients), then ``python -m services run --production`` — every process in production
mode, without the development VNeID stand-in and without demo data. And the refusal to start with a missing or
development secret, before anything is started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.registry import SERVICES
from tests.e2e.test_processes import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ADMIN, ADMIN_PASSWORD = "ops.admin", "Str0ng-Admin#Passphrase"


def production_env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_", "GATEWAY_"))}
    for name, spec in SERVICES.items():
        env[spec.env_prefix + "DATABASE_URL"] = f"sqlite+aiosqlite:///{var / (name + '.db')}"
        env[spec.env_prefix + "SECRET_KEY"] = f"prod-test-{name}-secret-key-0123456789"
        if name != "identity":
            env[spec.env_prefix + "CLIENT_SECRET"] = f"prod-test-svc-{name}-secret-0123456789"
    env["IDENTITY_KEY_ENCRYPTION_SECRET"] = "prod-test-identity-kek-0123456789"
    env["IDENTITY_CLIENT_SECRET_PEPPER"] = "prod-test-identity-pepper-0123456789"
    env["CREDENTIALS_KEY_ENCRYPTION_KEY"] = "prod-test-credentials-kek-0123456789"
    return env


def test_run_production_refuses_a_missing_or_development_secret(tmp_path: Path) -> None:
    env = production_env(tmp_path) | {"RECORDS_CLIENT_SECRET": "dev-only-svc-records-secret"}
    del env["CREDENTIALS_KEY_ENCRYPTION_KEY"]
    done = subprocess.run([sys.executable, "-m", "services", "run", "--production", "--var", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "refusing to start in production" in done.stderr
    assert "credentials: refusing to start in production with development or empty secrets: key_encryption_key" in done.stderr
    assert "records: refusing to start in production with development or empty secrets: client_secret" in done.stderr
    assert not list(tmp_path.glob("*.db")), "nothing may be migrated or started"


def test_single_machine_production_start(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    boot = subprocess.run([sys.executable, "-m", "services", "bootstrap", "--admin-username", ADMIN, "--admin-password-file", "-"],
                          cwd=ROOT, env=env, input=ADMIN_PASSWORD, capture_output=True, text=True, timeout=120)
    assert boot.returncode == 0, boot.stderr
    ports = {name: free_port() for name in SERVICES}
    gateway = free_port()
    # packages play from another host name of the gateway (required in production, https)
    env["LEARNING_CONTENT_ORIGIN"] = f"https://noidung.localhost:{gateway}"
    cmd = [sys.executable, "-m", "services", "run", "--production", "--var", str(tmp_path), "--gateway-port", str(gateway),
           "--log-level", "warning"] + [arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")]
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while b"VET platform is up (production)" not in log_path.read_bytes():
                assert proc.poll() is None, f"runner exited early:\n{log_path.read_text()}"
                assert time.monotonic() < deadline, f"platform not up in time:\n{log_path.read_text()}"
                time.sleep(0.3)
            output = log_path.read_text()
            assert "bootstrap: done (nothing changed)" in output and "demo data" not in output
            with httpx.Client(base_url=f"http://127.0.0.1:{gateway}", timeout=10) as c:
                # no demo data, no stand-in, no public API documents
                demo = c.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"},
                              auth=("demo-school-sis", "dev-only-demo-school-secret"))
                assert demo.status_code == 401
                assert c.get("/api/identity/dev-oidc/.well-known/openid-configuration").status_code == 404
                assert c.get("/docs").status_code == 404
                signed_in = c.post("/api/identity/v1/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD})
                assert signed_in.status_code == 200, signed_in.text
                auth = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
                for name in SERVICES:
                    ready = c.get(f"/api/{name}/readyz", headers=auth)
                    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "object_store": "ok"}, ready.text
                    assert "notes" not in ready.json()
                # the services' own clients work with the environment's secrets (records calls identity with it)
                svc = c.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"},
                             auth=("svc-records", env["RECORDS_CLIENT_SECRET"]))
                assert svc.status_code == 200, svc.text
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
    assert proc.returncode == 0, log_path.read_text()
