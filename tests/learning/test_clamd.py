"""Uploads scanned by a real clamd (Debian's clamav-daemon), not the INSTREAM stand-in the other tests use.

Signature updates cannot be downloaded here, so clamd runs on a database of one signature written for the test:
the EICAR test string, anywhere in a file (``.ndb``: name, any target type, any offset, the bytes in hex). clamd
reports signatures from unofficial databases with a ``.UNOFFICIAL`` suffix. Skipped when clamd is not installed
(``apt-get install -y clamav-daemon``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from services.common.clamav import ClamdScanner
from tests.learning.conftest import EICAR, People, client_for, learning_app
from tests.learning.helpers import create, marker, pdf
from tests.support import Platform

CLAMD = shutil.which("clamd") or next((p for p in ("/usr/sbin/clamd", "/usr/local/sbin/clamd") if Path(p).exists()), None)
pytestmark = pytest.mark.skipif(CLAMD is None, reason="clamd is not installed (apt-get install -y clamav-daemon)")


@pytest.fixture(scope="module")
async def real_clamd() -> AsyncIterator[str]:
    """clamd on a Unix socket in a temporary folder, with the EICAR signature as its whole database."""
    folder = Path(tempfile.mkdtemp(prefix="clamd-"))  # short: a socket path must fit in 108 bytes
    (folder / "db").mkdir()
    (folder / "db" / "eicar.ndb").write_text(f"Eicar-Test-Signature:0:*:{EICAR.hex()}\n")
    socket = folder / "clamd.sock"
    (folder / "clamd.conf").write_text("\n".join([
        f"LocalSocket {socket}", f"DatabaseDirectory {folder / 'db'}", f"LogFile {folder / 'clamd.log'}",
        f"PidFile {folder / 'clamd.pid'}", f"TemporaryDirectory {folder}", "Foreground yes",
        "StreamMaxLength 25M", "MaxThreads 2", "SelfCheck 0", "",
    ]))
    assert CLAMD is not None
    proc = await asyncio.create_subprocess_exec(CLAMD, "--config-file", str(folder / "clamd.conf"),
                                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    address = f"unix://{socket}"
    try:
        scanner = ClamdScanner(address, timeout=2.0)
        for _ in range(300):
            if proc.returncode is not None:
                log = (folder / "clamd.log").read_text(errors="replace") if (folder / "clamd.log").exists() else ""
                pytest.fail(f"clamd exited with {proc.returncode}:\n{log[-2000:]}")
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                if socket.exists() and await scanner.ping():
                    break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("clamd did not answer PING within 30 s")
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)  # waited for off the loop: the other fixtures' tasks go on
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
async def scanning_app(platform: Platform, real_clamd: str) -> AsyncIterator[FastAPI]:
    async with learning_app(platform, clamd_address=real_clamd) as app:
        yield app


async def test_real_clamd_refuses_eicar_and_passes_clean_files(scanning_app: FastAPI, people: People) -> None:
    async with client_for(scanning_app) as c:
        obj = await create(c, people.teacher, f"Tài liệu quét virus {marker()}", "document")
        url = f"/v1/learning-objects/{obj['id']}/file"

        r = await c.put(url, content=EICAR + b"\r\n", headers=people.teacher | {"Content-Type": "text/plain"})
        assert r.status_code == 422, r.text
        assert r.json()["signature"].startswith("Eicar-Test-Signature"), r.json()
        # EICAR inside a larger file (the scan sees the stream, not just its start)
        r = await c.put(url, content="Nội dung ".encode() * 20_000 + EICAR + b"\n", headers=people.teacher | {"Content-Type": "text/plain"})
        assert r.status_code == 422, r.text
        r = await c.get(f"/v1/learning-objects/{obj['id']}", headers=people.teacher)
        assert r.json()["latest_version"] == 1 and r.json()["version"]["file"] is None  # nothing was kept

        clean = pdf(300 * 1024)
        r = await c.put(url, content=clean, headers=people.teacher | {"Content-Type": "application/pdf"})
        assert r.status_code == 201, r.text
        assert r.json()["version"]["file"]["scan_status"] == "clean"
