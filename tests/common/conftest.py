"""Fixtures for the kit's tests: a moto S3 server for the session, and ``store`` over both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.storage import LocalObjectStore, ObjectStore, S3ObjectStore, open_store
from services.common.testing_s3 import S3TestServer

SECRET_KEY = "test-secret-key"
PUBLIC_BASE_URL = "http://testserver"
S3_BUCKET = "test-objects"


def s3_store_for(server: S3TestServer, bucket: str = S3_BUCKET, prefix: str | None = None) -> S3ObjectStore:
    """An S3 store on ``server``; each call gets its own key prefix unless one is given."""
    prefix = f"t-{uuid.uuid4().hex}" if prefix is None else prefix
    store = open_store(
        f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
        s3_endpoint=server.endpoint,
        s3_access_key=server.access_key,
        s3_secret_key=server.secret_key,
        s3_region=server.region,
        secret_key=SECRET_KEY,
        public_base_url=PUBLIC_BASE_URL,
    )
    assert isinstance(store, S3ObjectStore)
    return store


@pytest.fixture
async def local_store(tmp_path: Path) -> AsyncIterator[LocalObjectStore]:
    store = open_store(f"file://{tmp_path}/objects", secret_key=SECRET_KEY, public_base_url=PUBLIC_BASE_URL)
    assert isinstance(store, LocalObjectStore)
    await store.ensure_ready()
    yield store
    await store.aclose()


@pytest.fixture
async def s3_store(s3_server: S3TestServer) -> AsyncIterator[S3ObjectStore]:
    store = s3_store_for(s3_server)
    await store.ensure_ready()
    yield store
    await store.aclose()


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    """The same test against the folder backend and against S3 (moto)."""
    name = "local_store" if request.param == "folder" else "s3_store"
    return request.getfixturevalue(name)
