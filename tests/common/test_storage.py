"""The object store on both backends: the folder (tmp_path) and S3 (moto's server, a real S3 API)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import random
import threading
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI
from minio import Minio

from services.common.errors import NotFound, ServiceUnavailable, ValidationFailed, install_error_handlers
from services.common.storage import (
    MIN_PART_SIZE,
    LocalObjectStore,
    ObjectStore,
    PartInfo,
    RangeNotSatisfiable,
    S3ObjectStore,
    open_store,
)
from services.common.storage.routes import objects_router
from services.common.testing_s3 import S3TestServer
from tests.common.conftest import PUBLIC_BASE_URL, SECRET_KEY, s3_store_for

MiB = 1024 * 1024


# -- helpers ---------------------------------------------------------------------------------------------------


async def random_stream(
    total: int, digest: hashlib._Hash | None = None, *, seed: int = 7, chunk: int = MiB
) -> AsyncIterator[bytes]:
    """``total`` pseudo-random bytes, generated chunk by chunk (never held whole), hashed into ``digest``."""
    rng = random.Random(seed)
    left = total
    while left:
        block = rng.randbytes(min(chunk, left))
        if digest is not None:
            digest.update(block)
        left -= len(block)
        yield block


async def stream_of(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), chunk):
        yield data[i : i + chunk]


async def read_all(store: ObjectStore, key: str, **kw: int | None) -> bytes:
    return b"".join([chunk async for chunk in store.get(key, **kw)])


def sample(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def key() -> str:
    return f"tests/{uuid.uuid4().hex}/file.bin"


# -- streaming put / get -------------------------------------------------------------------------------------


async def test_50_mb_object_streams_through_put_and_get(store: ObjectStore) -> None:
    size = 50 * MiB
    k = key()
    generated = hashlib.sha256()
    stored = await store.put(k, random_stream(size, generated), content_type="application/octet-stream")
    assert stored.size == size
    assert stored.sha256 == generated.hexdigest()

    read_back, received, largest = hashlib.sha256(), 0, 0
    async for chunk in store.get(k):
        read_back.update(chunk)
        received += len(chunk)
        largest = max(largest, len(chunk))
    assert received == size
    assert read_back.hexdigest() == stored.sha256
    assert largest <= MiB
    assert (await store.stat(k)).size == size


async def test_folder_put_keeps_memory_bounded(local_store: LocalObjectStore) -> None:
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        stored = await local_store.put(key(), random_stream(50 * MiB, digest))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.sha256 == digest.hexdigest()
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Start measuring the process's peak resident memory (VmHWM) from now; returns the resident KiB now."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # Linux: reset VmHWM to the current resident size
    return _rss_kib("VmRSS")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak RSS")
async def test_s3_parallel_small_puts_keep_peak_memory_small(s3_store: S3ObjectStore) -> None:
    """Many small uploads in flight at once (all started before any sends its byte) hold their bytes, not a
    part-size buffer each: 64 one-byte puts used to touch 64 × 16 MiB = 1 GiB."""
    count, started, all_started = 64, 0, asyncio.Event()

    async def one_byte(n: int) -> AsyncIterator[bytes]:
        nonlocal started
        started += 1
        if started == count:
            all_started.set()
        await all_started.wait()
        yield bytes([n])

    keys = [key() for _ in range(count)]
    baseline = _reset_peak_rss()
    stored = await asyncio.gather(*(s3_store.put(k, one_byte(n)) for n, k in enumerate(keys)))
    growth_mib = (_rss_kib("VmHWM") - baseline) / 1024
    assert [s.size for s in stored] == [1] * count
    assert [await read_all(s3_store, k) for k in keys[:3]] == [b"\x00", b"\x01", b"\x02"]
    assert growth_mib < 48, f"peak resident memory grew by {growth_mib:.0f} MiB for {count} one-byte uploads"


async def test_s3_put_goes_multipart_only_past_the_part_size(s3_server: S3TestServer) -> None:
    """Up to one part: a plain PUT (ETag without a part count). One byte more: a multipart upload of two parts,
    stored and hashed whole."""
    store = S3ObjectStore(
        "test-objects", prefix=f"t-{uuid.uuid4().hex}", endpoint=s3_server.endpoint, access_key=s3_server.access_key,
        secret_key=s3_server.secret_key, region=s3_server.region, part_size=MIN_PART_SIZE,
    )
    await store.ensure_ready()
    try:
        exact, over = key(), key()
        data = sample(MIN_PART_SIZE + 1)
        stored = await store.put(exact, stream_of(data[:MIN_PART_SIZE], MiB))
        assert (stored.size, stored.sha256) == (MIN_PART_SIZE, hashlib.sha256(data[:MIN_PART_SIZE]).hexdigest())
        assert "-" not in (await store.stat(exact)).etag
        stored = await store.put(over, stream_of(data, 1000 * 1000))
        assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert (await store.stat(over)).etag.endswith("-2")
        assert await read_all(store, over) == data
    finally:
        await store.aclose()


async def test_small_chunks_and_known_length(store: ObjectStore) -> None:
    data = sample(300_001)
    k = key()
    stored = await store.put(k, stream_of(data, 1000), content_type="text/plain", length=len(data))
    assert stored == type(stored)(k, len(data), hashlib.sha256(data).hexdigest(), "text/plain")
    assert await read_all(store, k) == data


@pytest.mark.parametrize("declared, actual", [(10, 5), (5, 10)])
async def test_length_mismatch_stores_nothing(store: ObjectStore, declared: int, actual: int) -> None:
    k = key()
    with pytest.raises(ValidationFailed) as caught:
        await store.put(k, stream_of(b"x" * actual), length=declared)
    assert caught.value.errors == [{"field": "length", "message": caught.value.errors[0]["message"]}]
    assert not await store.exists(k)


async def test_failing_source_stores_nothing(store: ObjectStore, s3_server_if_s3: Minio | None) -> None:
    """The producer dies after 17 MiB (past the first S3 part): nothing is stored, nothing is left behind."""

    async def dying() -> AsyncIterator[bytes]:
        async for block in random_stream(17 * MiB):
            yield block
        raise RuntimeError("client went away")

    k = key()
    with pytest.raises(RuntimeError, match="client went away"):
        await store.put(k, dying())
    assert not await store.exists(k)
    if isinstance(store, LocalObjectStore):
        assert [p.name for p in (store.root / k).parent.iterdir()] == []
    else:
        assert s3_server_if_s3 is not None
        assert not await asyncio.to_thread(_uploads_in_progress, s3_server_if_s3, store, k)


async def test_cancelled_put_stores_nothing(store: ObjectStore, s3_server_if_s3: Minio | None) -> None:
    """A request cancelled mid-upload (for S3: once its multipart upload is open) leaves no object, no temp
    file and no open upload."""
    halfway = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        async for n, block in _enumerate(random_stream(40 * MiB)):
            if n == 20:
                halfway.set()
            yield block
            await asyncio.sleep(0.05 if n >= 17 else 0)

    k = key()
    task = asyncio.create_task(store.put(k, slow()))
    if s3_server_if_s3 is None:
        await halfway.wait()
    else:
        await _eventually(lambda: _uploads_in_progress(s3_server_if_s3, store, k))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if isinstance(store, LocalObjectStore):
        assert [p.name for p in (store.root / k).parent.iterdir()] == []
    else:
        assert s3_server_if_s3 is not None
        # the uploading thread aborts the upload on its own once its current request returns
        await _eventually(lambda: not _uploads_in_progress(s3_server_if_s3, store, k))
    assert not await store.exists(k)


async def test_s3_put_cancelled_while_its_multipart_upload_opens_leaves_none_open(s3_server: S3TestServer) -> None:
    """Cancelled while the store is still creating the multipart upload (the put does not know its id yet), the
    upload is aborted once it exists instead of staying open in the bucket."""
    store = S3ObjectStore(
        "test-objects", prefix=f"t-{uuid.uuid4().hex}", endpoint=s3_server.endpoint, access_key=s3_server.access_key,
        secret_key=s3_server.secret_key, region=s3_server.region, part_size=MIN_PART_SIZE,
    )
    await store.ensure_ready()
    raw = Minio(s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key, secure=False,
                region=s3_server.region)
    creating, release, created = threading.Event(), threading.Event(), threading.Event()
    create = store._client._create_multipart_upload

    def slow_create(*args: object, **kwargs: object) -> str:
        creating.set()
        release.wait(10)
        upload_id = create(*args, **kwargs)
        created.set()
        return upload_id

    store._client._create_multipart_upload = slow_create  # type: ignore[method-assign]
    try:
        k = key()
        task = asyncio.create_task(store.put(k, stream_of(sample(MIN_PART_SIZE + 1), MiB)))
        assert await asyncio.to_thread(creating.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await asyncio.to_thread(created.wait, 10)
        await _eventually(lambda: _uploads_in_progress(raw, store, k) == [])
        assert not await store.exists(k)
    finally:
        release.set()
        await store.aclose()


async def _eventually(check: Callable[[], object], timeout: float = 10.0) -> None:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
    """Poll a blocking ``check`` (in a thread) until it is truthy."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def _enumerate(stream: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    n = 0
    async for item in stream:
        yield n, item
        n += 1


async def test_overwrite_replaces_the_object(store: ObjectStore) -> None:
    k = key()
    await store.put(k, stream_of(b"first version"))
    before = await store.stat(k)
    await store.put(k, stream_of(b"second"))
    assert await read_all(store, k) == b"second"
    after = await store.stat(k)
    assert after.size == 6 and after.etag != before.etag


async def test_unicode_key(store: ObjectStore) -> None:
    k = f"hồ-sơ/{uuid.uuid4().hex}/Bằng tốt nghiệp (bản sao).pdf"
    await store.put(k, stream_of(b"%PDF-1.7"), content_type="application/pdf")
    assert await read_all(store, k) == b"%PDF-1.7"
    assert (await store.stat(k)).content_type == "application/pdf"


# -- ranges --------------------------------------------------------------------------------------------------


async def test_ranges(store: ObjectStore) -> None:
    data = sample(300_000)
    k = key()
    await store.put(k, stream_of(data))
    assert await read_all(store, k, start=0, end=0) == data[:1]
    assert await read_all(store, k, start=10, end=19) == data[10:20]
    assert await read_all(store, k, start=299_990) == data[299_990:]
    assert await read_all(store, k, end=99) == data[:100]
    assert await read_all(store, k, start=1000, end=10**9) == data[1000:]
    assert await read_all(store, k, start=5, end=2 * MiB) == data[5:]
    with pytest.raises(RangeNotSatisfiable):
        await read_all(store, k, start=len(data))
    with pytest.raises(ValueError):
        await read_all(store, k, start=20, end=10)


# -- metadata, existence, deletion -----------------------------------------------------------------------------


async def test_stat_exists_delete(store: ObjectStore) -> None:
    k = key()
    await store.put(k, stream_of(b"hello"), content_type="text/plain")
    info = await store.stat(k)
    assert (info.key, info.size, info.content_type) == (k, 5, "text/plain")
    assert info.etag and info.last_modified is not None
    assert await store.exists(k)

    await store.delete(k)
    assert not await store.exists(k)
    await store.delete(k)  # idempotent
    with pytest.raises(NotFound):
        await store.stat(k)


async def test_missing_key_is_not_found(store: ObjectStore) -> None:
    k = key()
    with pytest.raises(NotFound):
        await store.stat(k)
    with pytest.raises(NotFound):
        await read_all(store, k)
    with pytest.raises(NotFound):
        await read_all(store, k, start=0, end=10)
    assert not await store.exists(k)


BAD_KEYS = [
    "", "/etc/passwd", "../up", "a/../../b", "a/./b", "a//b", "a\\b", "a/", ".hidden", "a/.multipart/x",
    "a\x00b", "a\nb", "x" * 1025,
]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
async def test_bad_keys_are_rejected(store: ObjectStore, bad: str) -> None:
    calls = [
        lambda: store.put(bad, stream_of(b"x")),
        lambda: read_all(store, bad),
        lambda: store.stat(bad),
        lambda: store.exists(bad),
        lambda: store.delete(bad),
        lambda: store.download_url(bad),
        lambda: store.create_multipart(bad),
    ]
    for call in calls:
        with pytest.raises(ValidationFailed) as caught:
            await call()
        assert caught.value.errors and caught.value.errors[0]["field"] == "key"
    if isinstance(store, LocalObjectStore):
        assert sorted(p.name for p in store.root.parent.iterdir()) == ["objects"]


async def test_folder_key_that_clashes_with_a_prefix_is_a_conflict(local_store: LocalObjectStore) -> None:
    from services.common.errors import Conflict

    await local_store.put("docs/a", stream_of(b"file"))
    with pytest.raises(Conflict):
        await local_store.put("docs/a/b", stream_of(b"under a file"))
    with pytest.raises(Conflict):
        await local_store.put("docs", stream_of(b"over a folder"))
    assert await read_all(local_store, "docs/a") == b"file"


# -- multipart -----------------------------------------------------------------------------------------------


async def test_multipart_three_parts(store: ObjectStore) -> None:
    k = key()
    sizes = {1: 5 * MiB, 2: 5 * MiB, 3: 123_457}
    upload_id = await store.create_multipart(k, content_type="video/mp4")
    whole = hashlib.sha256()
    digests = {n: hashlib.sha256() for n in sizes}
    parts: dict[int, PartInfo] = {}
    for n in (2, 1, 3):  # parts may arrive in any order
        parts[n] = await store.upload_part(k, upload_id, n, random_stream(sizes[n], digests[n], seed=n))
        assert (parts[n].part_number, parts[n].size) == (n, sizes[n])
    for n in sorted(sizes):  # the object's hash is the hash of the parts in order
        whole.update(b"".join([b async for b in random_stream(sizes[n], seed=n)]))
    assert not await store.exists(k)

    stored = await store.complete_multipart(k, upload_id, [parts[n] for n in sorted(parts)])
    assert stored.size == sum(sizes.values())
    assert stored.sha256 == whole.hexdigest()
    read_back = hashlib.sha256()
    async for chunk in store.get(k):
        read_back.update(chunk)
    assert read_back.hexdigest() == stored.sha256
    assert (await store.stat(k)).content_type == "video/mp4"
    if isinstance(store, LocalObjectStore):
        assert not (store.root / ".multipart" / upload_id).exists()


async def test_multipart_part_reupload_replaces_it(store: ObjectStore) -> None:
    k = key()
    upload_id = await store.create_multipart(k)
    await store.upload_part(k, upload_id, 1, stream_of(b"old"))
    part = await store.upload_part(k, upload_id, 1, stream_of(b"new!"))
    stored = await store.complete_multipart(k, upload_id, [part])
    assert stored.size == 4
    assert await read_all(store, k) == b"new!"


async def test_multipart_rejects_bad_part_lists(store: ObjectStore) -> None:
    k = key()
    upload_id = await store.create_multipart(k)
    small1 = await store.upload_part(k, upload_id, 1, stream_of(b"a" * 1024))
    small2 = await store.upload_part(k, upload_id, 2, stream_of(b"b" * 1024))

    for parts in (
        [small1, small2],  # a part other than the last is under 5 MiB
        [PartInfo(1, "0" * 64 if isinstance(store, LocalObjectStore) else "0" * 32, 1024)],  # wrong etag
        [small2, small1],  # out of order
        [],
    ):
        with pytest.raises(ValidationFailed):
            await store.complete_multipart(k, upload_id, parts)
    for bad_number in (0, 10_001):
        with pytest.raises(ValidationFailed):
            await store.upload_part(k, upload_id, bad_number, stream_of(b"x"))
    if isinstance(store, LocalObjectStore):  # moto does not tie upload ids to keys (S3 and MinIO do)
        with pytest.raises(NotFound):
            await store.upload_part(key(), upload_id, 1, stream_of(b"x"))  # another key's upload
    await store.abort_multipart(k, upload_id)
    assert not await store.exists(k)


async def test_abort_leaves_nothing(store: ObjectStore, s3_server_if_s3: Minio | None) -> None:
    k = key()
    upload_id = await store.create_multipart(k)
    part = await store.upload_part(k, upload_id, 1, random_stream(MIN_PART_SIZE))
    await store.abort_multipart(k, upload_id)

    assert not await store.exists(k)
    await store.abort_multipart(k, upload_id)  # idempotent
    if isinstance(store, LocalObjectStore):
        # moto answers these with a 500 (KeyError on the upload id) where S3 and MinIO say 404 NoSuchUpload
        with pytest.raises(NotFound):
            await store.upload_part(k, upload_id, 2, stream_of(b"late"))
        with pytest.raises(NotFound):
            await store.complete_multipart(k, upload_id, [part])
        assert list((store.root / ".multipart").iterdir()) == []
        assert not (store.root / k).parent.exists() or list((store.root / k).parent.iterdir()) == []
    else:
        assert s3_server_if_s3 is not None
        assert not await asyncio.to_thread(_uploads_in_progress, s3_server_if_s3, store, k)


async def test_unknown_upload_id(store: ObjectStore) -> None:
    k = key()
    # S3's own answer for an unknown id (404 NoSuchUpload) cannot be seen on moto, which fails with a 500
    unknown = ["0" * 32, "../../etc", ""] if isinstance(store, LocalObjectStore) else [""]
    for upload_id in unknown:
        with pytest.raises(NotFound):
            await store.upload_part(k, upload_id, 1, stream_of(b"x"))
        with pytest.raises(NotFound):
            await store.complete_multipart(k, upload_id, [PartInfo(1, "0" * 64, 1)])
    for upload_id in ("0" * 32, "../../etc", ""):
        await store.abort_multipart(k, upload_id)


# -- download URLs -------------------------------------------------------------------------------------------


# -- listing (what sweepers need) ------------------------------------------------------------------------------


async def test_list_objects_by_prefix(store: ObjectStore) -> None:
    base = f"tests/{uuid.uuid4().hex}"
    keys = [f"{base}/a/1.bin", f"{base}/a/2.bin", f"{base}/a/deep/3.bin", f"{base}/ab.bin", f"{base}/b/4.bin"]
    for n, k in enumerate(keys):
        await store.put(k, stream_of(b"x" * (n + 1)), content_type="application/octet-stream")
    upload_id = await store.create_multipart(f"{base}/a/staged.bin")  # open uploads are not objects
    await store.upload_part(f"{base}/a/staged.bin", upload_id, 1, stream_of(b"part"))

    async def listed(prefix: str) -> dict[str, int]:
        return {info.key: info.size async for info in store.list_objects(prefix)}

    assert await listed(f"{base}/") == {k: n + 1 for n, k in enumerate(keys)}
    assert await listed(f"{base}/a/") == {keys[0]: 1, keys[1]: 2, keys[2]: 3}
    assert await listed(f"{base}/a") == {keys[0]: 1, keys[1]: 2, keys[2]: 3, keys[3]: 4}  # a plain string prefix
    assert await listed(f"{base}/a/deep/3") == {keys[2]: 3}
    assert await listed(f"{base}/nothing/") == {}
    info = [i async for i in store.list_objects(keys[1])][0]
    stat = await store.stat(keys[1])
    assert (info.key, info.size, info.etag) == (stat.key, stat.size, stat.etag)
    assert info.last_modified is not None and abs((info.last_modified - datetime.now(UTC)).total_seconds()) < 120
    await store.delete(keys[0])
    assert keys[0] not in await listed(f"{base}/")
    await store.abort_multipart(f"{base}/a/staged.bin", upload_id)
    with pytest.raises(ValidationFailed):
        [i async for i in store.list_objects("/etc")]


async def test_list_objects_in_batches(store: ObjectStore) -> None:
    """More objects than one listing batch (500): every one listed once."""
    base = f"tests/{uuid.uuid4().hex}"
    keys = {f"{base}/{n:04d}" for n in range(520)}
    await asyncio.gather(*(store.put(k, stream_of(b"1")) for k in keys))
    listed = [info.key async for info in store.list_objects(base + "/")]
    assert sorted(listed) == sorted(keys)


async def test_list_multipart_finds_open_uploads(store: ObjectStore) -> None:
    base = f"tests/{uuid.uuid4().hex}"
    first = await store.create_multipart(f"{base}/one.bin")
    second = await store.create_multipart(f"{base}/two.bin")
    other = f"other-{uuid.uuid4().hex}/x.bin"
    elsewhere = await store.create_multipart(other)
    await store.upload_part(f"{base}/one.bin", first, 1, stream_of(b"data"))
    found = {(u.key, u.upload_id) async for u in store.list_multipart(base + "/")}
    assert found == {(f"{base}/one.bin", first), (f"{base}/two.bin", second)}
    uploads = [u async for u in store.list_multipart(f"{base}/one")]
    assert uploads[0].initiated is not None and uploads[0].initiated.tzinfo is not None
    if isinstance(store, LocalObjectStore):  # moto answers every upload with one fixed time (2010-11-10)
        assert abs((uploads[0].initiated - datetime.now(UTC)).total_seconds()) < 120
    # completed and aborted uploads are no longer open
    await store.complete_multipart(f"{base}/one.bin", first, [PartInfo(1, (await _part_etag(store, base, first)), 4)])
    await store.abort_multipart(f"{base}/two.bin", second)
    assert [u async for u in store.list_multipart(base + "/")] == []
    assert [(u.key, u.upload_id) async for u in store.list_multipart(other)] == [(other, elsewhere)]
    await store.abort_multipart(other, elsewhere)


async def _part_etag(store: ObjectStore, base: str, upload_id: str) -> str:
    """Upload part 1 again to learn its etag (the API hands etags back from upload_part only)."""
    return (await store.upload_part(f"{base}/one.bin", upload_id, 1, stream_of(b"data"))).etag


async def test_s3_presigned_download(s3_store: S3ObjectStore) -> None:
    data = sample(200_000)
    k = f"{uuid.uuid4().hex}/bảng điểm.pdf"
    await s3_store.put(k, stream_of(data), content_type="application/pdf")
    url = await s3_store.download_url(k, expires_seconds=60, filename="Bảng điểm.pdf")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert "filename*=UTF-8''B%E1%BA%A3ng%20%C4%91i%E1%BB%83m.pdf" in response.headers["content-disposition"]


def _sigv4_signature_holds(url: str, host: str, server: S3TestServer) -> bool:
    """Recompute the link's SigV4 query signature with botocore (an implementation independent of the minio SDK
    that signed it) as an S3 server does: for the ``Host`` the request arrives with."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    given = query.pop("X-Amz-Signature")[0]
    unsigned = urlunsplit(parts._replace(netloc=host, query=urlencode({k: v[0] for k, v in query.items()}, quote_via=quote)))
    auth = S3SigV4QueryAuth(Credentials(server.access_key, server.secret_key), "s3", server.region,
                            expires=int(query["X-Amz-Expires"][0]))
    request = AWSRequest("GET", unsigned)
    request.context["timestamp"] = query["X-Amz-Date"][0]
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request) == given


async def test_s3_links_are_signed_for_the_public_object_store_host(s3_server: S3TestServer) -> None:
    """Inside compose or a cluster the services reach S3 as ``minio:9000``, a name no browser resolves: with a
    public object-store URL the link names the public host, its signature holds for the ``Host`` a client sends
    there (and no longer for the inside name), and the object downloads when that host maps to the S3 API."""
    # a dotless name: moto reads the bucket from the first label of a dotted Host (virtual-hosted style), which
    # MinIO does only with MINIO_DOMAIN set
    public = "objects:9443"
    store = open_store(f"s3://public-links/{uuid.uuid4().hex}", s3_endpoint=s3_server.endpoint,
                       s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
                       s3_region=s3_server.region, s3_public_url=f"https://{public}",
                       secret_key=SECRET_KEY, public_base_url=PUBLIC_BASE_URL)
    await store.ensure_ready()  # reaches the inside endpoint: the public one is only named in links
    data = sample(70_000)
    await store.put("bảng điểm.pdf", stream_of(data), content_type="application/pdf")
    url = await store.download_url("bảng điểm.pdf", expires_seconds=60, filename="Bảng điểm.pdf")
    await store.aclose()

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", public)
    assert s3_server.endpoint not in url
    assert _sigv4_signature_holds(url, public, s3_server)
    assert not _sigv4_signature_holds(url, s3_server.endpoint, s3_server)
    # the public host mapped to the S3 API (as a published port or a proxy that keeps Host does). moto's server
    # does not check signatures (the botocore check above does): this shows the link's path and query address the
    # object when the request names the public host
    inside = urlunsplit(parts._replace(scheme="http", netloc=s3_server.endpoint))
    async with httpx.AsyncClient() as client:
        response = await client.get(inside, headers={"Host": public})
    assert response.status_code == 200, response.text
    assert response.content == data


@pytest.mark.parametrize("service", ["identity", "learning", "records", "credentials"])
async def test_each_service_signs_links_for_its_public_object_store_url(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``<SVC>_PUBLIC_OBJECT_STORE_URL`` from the environment reaches the store every service's app opens."""
    from services.registry import SERVICES

    spec = SERVICES[service]
    prefix = spec.env_prefix
    monkeypatch.setenv(f"{prefix}OBJECT_STORE_URL", "s3://vet-objects")
    monkeypatch.setenv(f"{prefix}S3_ENDPOINT", "minio:9000")
    monkeypatch.setenv(f"{prefix}S3_ACCESS_KEY", "key")
    monkeypatch.setenv(f"{prefix}S3_SECRET_KEY", "secret")
    monkeypatch.setenv(f"{prefix}PUBLIC_OBJECT_STORE_URL", "https://objects.vet.example.test")
    create_app = importlib.import_module(f"services.{service}.app").create_app
    store = create_app(spec.settings_class()()).state.store
    url = await store.download_url("a.pdf")
    await store.aclose()
    assert url.startswith("https://objects.vet.example.test/vet-objects/a.pdf?"), url


def test_public_object_store_url_must_be_a_host() -> None:
    for bad in ("https://objects.example.test/bucket", "https://user@objects.example.test", "https://", "a b:9000"):
        with pytest.raises(ValueError, match="public object store URL"):
            S3ObjectStore("bucket", endpoint="minio:9000", public_endpoint=bad)


@pytest.fixture
async def download_client(local_store: LocalObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(objects_router(lambda request: local_store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE_URL) as client:
        yield client


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_folder_signed_download(local_store: LocalObjectStore, download_client: httpx.AsyncClient) -> None:
    data = sample(200_000)
    k = "hồ-sơ/bằng.pdf"
    stored = await local_store.put(k, stream_of(data), content_type="application/pdf")
    url = await local_store.download_url(k)
    assert url.startswith(f"{PUBLIC_BASE_URL}/v1/objects/h%E1%BB%93-s%C6%A1/b%E1%BA%B1ng.pdf?expires=")

    full = await download_client.get(url)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-length"] == str(len(data))
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["etag"] == f'"{stored.sha256}"'
    assert full.headers["content-type"] == "application/pdf"
    assert "content-disposition" not in full.headers

    part = await download_client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert part.headers["content-length"] == "100"
    assert part.content == data[100:200]

    tail = await download_client.get(url, headers={"Range": "bytes=-50"})
    assert (tail.status_code, tail.content) == (206, data[-50:])
    stale = await download_client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (stale.status_code, stale.content) == (200, data)
    several = await download_client.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert several.status_code == 200

    beyond = await download_client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert beyond.headers["content-type"] == "application/problem+json"


async def test_folder_download_refuses_tampered_and_expired_links(
    local_store: LocalObjectStore, download_client: httpx.AsyncClient
) -> None:
    await local_store.put("a.txt", stream_of(b"secret a"))
    await local_store.put("b.txt", stream_of(b"secret b"))
    url = await local_store.download_url("a.txt", filename="a.txt")
    assert (await download_client.get(url)).content == b"secret a"

    sig = parse_qs(urlsplit(url).query)["sig"][0]
    tampered = [
        _with_query(url, sig=sig[:-1] + ("0" if sig[-1] != "0" else "1")),
        _with_query(url, expires=str(int(time.time()) + 10**6)),
        _with_query(url, filename="other.exe"),
        _with_query(url, sig="không-hợp-lệ"),
        url.replace("/a.txt?", "/b.txt?"),
        url.split("?")[0],
    ]
    for bad in tampered:
        response = await download_client.get(bad)
        assert response.status_code == 403, bad
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 403

    hour_ago = LocalObjectStore(
        local_store.root, secret_key=SECRET_KEY, public_base_url=PUBLIC_BASE_URL, clock=lambda: time.time() - 3600
    )
    expired = await download_client.get(await hour_ago.download_url("a.txt", expires_seconds=60))
    assert expired.status_code == 403
    assert expired.json()["detail"] == "the download link has expired"


async def test_folder_download_headers_and_missing_object(
    local_store: LocalObjectStore, download_client: httpx.AsyncClient
) -> None:
    await local_store.put("page.html", stream_of(b"<script>alert(1)</script>"), content_type="text/html")
    response = await download_client.get(await local_store.download_url("page.html", filename="Trang chủ.html"))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["content-disposition"].startswith('attachment; filename="Trang chu.html"')

    missing = await download_client.get(await local_store.download_url("never-stored.txt"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


# -- readiness and the factory ---------------------------------------------------------------------------------


async def test_ping_and_ensure_ready(tmp_path: Path, s3_server: S3TestServer) -> None:
    folder = LocalObjectStore(tmp_path / "new", secret_key=SECRET_KEY, public_base_url=PUBLIC_BASE_URL)
    bucket = s3_store_for(s3_server, bucket=f"fresh-{uuid.uuid4().hex[:12]}", prefix="")
    for store in (folder, bucket):
        with pytest.raises(ServiceUnavailable):
            await store.ping()
        await store.ensure_ready()
        await store.ensure_ready()
        await store.ping()
        await store.aclose()


async def test_ping_fails_when_s3_is_unreachable() -> None:
    store = S3ObjectStore("bucket", endpoint="127.0.0.1:9", region="us-east-1")
    with pytest.raises(ServiceUnavailable):
        await store.ping()
    with pytest.raises(ServiceUnavailable):
        await store.put("a.txt", stream_of(b"x"))
    await store.aclose()


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    common = {"secret_key": SECRET_KEY, "public_base_url": PUBLIC_BASE_URL}
    relative = open_store("file://var/objects", **common)
    assert isinstance(relative, LocalObjectStore) and relative.root == Path.cwd() / "var/objects"
    absolute = open_store(f"file://{tmp_path}", **common)
    assert isinstance(absolute, LocalObjectStore) and absolute.root == tmp_path

    s3 = open_store("s3://vet-objects/records/v1", s3_endpoint="https://minio.internal:9000", **common)
    assert isinstance(s3, S3ObjectStore)
    assert (s3.bucket, s3.prefix, s3.endpoint) == ("vet-objects", "records/v1", "minio.internal:9000")

    for url, needle in [
        ("ftp://host/x", "unknown object store scheme"),
        ("var/objects", "no scheme"),
        ("file://", "needs a path"),
        ("s3://", "needs a bucket"),
        ("s3://bucket", "needs s3_endpoint"),
    ]:
        with pytest.raises(ValueError, match=needle):
            open_store(url, **common)


# -- S3 inspection ---------------------------------------------------------------------------------------------


@pytest.fixture
def s3_server_if_s3(store: ObjectStore, request: pytest.FixtureRequest) -> Minio | None:
    """A raw minio client on the moto server when ``store`` is the S3 one, to look behind the store's back."""
    if not isinstance(store, S3ObjectStore):
        return None
    server: S3TestServer = request.getfixturevalue("s3_server")
    return Minio(
        server.endpoint, access_key=server.access_key, secret_key=server.secret_key, secure=False, region=server.region
    )


def _uploads_in_progress(client: Minio, store: S3ObjectStore, key: str) -> list[str]:
    result = client._list_multipart_uploads(store.bucket, prefix=store._name(key))
    return [upload.upload_id for upload in result.uploads]
