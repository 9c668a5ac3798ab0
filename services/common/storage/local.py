"""Folder backend: objects are files under a root folder, ``<root>/<key>``.

Writes go to a hidden temporary file in the target's folder, are fsynced, then renamed over the target
(``os.replace``), so a reader sees the old object or the new one. Beside each object a hidden sidecar
``.<name>.meta`` keeps its content type and SHA-256 (used as the ETag); a sidecar that does not match the file
(size and mtime) is ignored. Resumable uploads stage their parts under ``<root>/.multipart/<upload_id>/``.
Downloads go through the service's signed route (:mod:`services.common.storage.routes`).

All file work runs in worker threads (``asyncio.to_thread``); the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import mimetypes
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from services.common.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from services.common.storage import (
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    READ_CHUNK,
    ObjectInfo,
    ObjectStore,
    PartInfo,
    StoredObject,
    UploadInfo,
    check_expiry,
    check_part_number,
    check_parts,
    length_mismatch,
    part_too_large,
    resolve_range,
    validate_key,
    validate_prefix,
)

__all__ = ["LocalObjectStore"]

#: objects listed per worker-thread hop
LIST_BATCH = 500
#: bytes handed to a worker thread per write
WRITE_BLOCK = 1024 * 1024
STAGING = ".multipart"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class LocalObjectStore(ObjectStore):
    """Objects in a local folder. ``secret_key`` signs download links to
    ``{public_base_url}{route_prefix}/{key}``; ``clock`` (seconds since the epoch) is replaceable in tests."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        secret_key: str,
        public_base_url: str,
        route_prefix: str = "/v1/objects",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_key:
            raise ValueError("the folder object store needs a secret_key to sign download links")
        self.root = Path(root).absolute()
        self.public_base_url = public_base_url.rstrip("/")
        self.route_prefix = "/" + route_prefix.strip("/")
        self._secret = secret_key.encode("utf-8")
        self._clock = clock

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # -- plain objects -------------------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        data: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        length: int | None = None,
    ) -> StoredObject:
        target = self._path(key)
        writer = await asyncio.to_thread(self._writer_for, key, target)
        try:
            async for block in _blocks(data, WRITE_BLOCK):
                if length is not None and writer.size + len(block) > length:
                    raise length_mismatch(length, writer.size + len(block))
                await asyncio.to_thread(writer.write, block)
            if length is not None and writer.size != length:
                raise length_mismatch(length, writer.size)
            await asyncio.to_thread(self._commit, writer, key, target, content_type)
        except BaseException:
            writer.discard()
            raise
        return StoredObject(key, writer.size, writer.sha256.hexdigest(), content_type)

    async def get(self, key: str, *, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)
        file, size = await asyncio.to_thread(_open_for_read, path)
        try:
            offset, remaining = resolve_range(size, start, end)
            if offset:
                await asyncio.to_thread(file.seek, offset)
            while remaining > 0:
                chunk = await asyncio.to_thread(file.read, min(READ_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk
        finally:
            file.close()

    async def stat(self, key: str) -> ObjectInfo:
        return await asyncio.to_thread(self._stat, key)

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def remove() -> None:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                _meta_path(path).unlink()

        await asyncio.to_thread(remove)

    async def list_objects(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        validate_prefix(prefix)
        walker = self._walk(prefix)
        while batch := await asyncio.to_thread(_take, walker, LIST_BATCH):
            for info in batch:
                yield info

    # -- resumable uploads ---------------------------------------------------------------------------------

    async def create_multipart(self, key: str, content_type: str | None = None) -> str:
        validate_key(key)
        upload_id = secrets.token_hex(16)
        folder = self.root / STAGING / upload_id

        def create() -> None:
            folder.mkdir(parents=True)
            info = {"key": key, "content_type": content_type, "created": self._clock()}
            _write_atomic(folder / "upload.json", json.dumps(info).encode("utf-8"))

        await asyncio.to_thread(create)
        return upload_id

    async def upload_part(
        self, key: str, upload_id: str, part_number: int, data: AsyncIterable[bytes]
    ) -> PartInfo:
        check_part_number(part_number)
        folder, _ = await asyncio.to_thread(self._upload, key, upload_id)
        writer = await asyncio.to_thread(_open_writer, folder)
        try:
            async for block in _blocks(data, WRITE_BLOCK):
                if writer.size + len(block) > MAX_PART_SIZE:
                    raise part_too_large()
                await asyncio.to_thread(writer.write, block)
            etag = writer.sha256.hexdigest()
            await asyncio.to_thread(_commit_part, writer, folder, part_number, etag)
        except BaseException:
            writer.discard()
            raise
        return PartInfo(part_number, etag, writer.size)

    async def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> StoredObject:
        check_parts(parts)
        return await asyncio.to_thread(self._complete, key, upload_id, parts)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        validate_key(key)
        try:
            folder, _ = await asyncio.to_thread(self._upload, key, upload_id)
        except NotFound:
            return
        await asyncio.to_thread(shutil.rmtree, folder, True)

    async def list_multipart(self, prefix: str = "") -> AsyncIterator[UploadInfo]:
        validate_prefix(prefix)

        def scan() -> list[UploadInfo]:
            found = []
            try:
                folders = sorted(os.scandir(self.root / STAGING), key=lambda e: e.name)
            except FileNotFoundError:
                return []
            for entry in folders:
                if not _UPLOAD_ID.fullmatch(entry.name):
                    continue
                try:
                    info = json.loads((Path(entry.path) / "upload.json").read_bytes())
                except (OSError, ValueError):
                    continue
                key = info.get("key")
                if isinstance(key, str) and key.startswith(prefix):
                    created = info.get("created")
                    initiated = datetime.fromtimestamp(created, tz=UTC) if isinstance(created, (int, float)) else None
                    found.append(UploadInfo(key, entry.name, initiated))
            return found

        for upload in await asyncio.to_thread(scan):
            yield upload

    # -- links and health ----------------------------------------------------------------------------------

    async def download_url(self, key: str, *, expires_seconds: int = 900, filename: str | None = None) -> str:
        validate_key(key)
        check_expiry(expires_seconds)
        expires = int(self._clock()) + expires_seconds
        query = {"expires": str(expires), "sig": self._signature(key, expires, filename)}
        if filename is not None:
            query["filename"] = filename
        return f"{self.public_base_url}{self.route_prefix}/{quote(key, safe='/')}?{urlencode(query)}"

    def verify_signature(self, key: str, expires: int, sig: str, *, filename: str | None = None) -> None:
        """Check a download link's signature, then its expiry; raise Forbidden if either fails."""
        expected = self._signature(key, expires, filename).encode("ascii")
        if not hmac.compare_digest(expected, sig.encode("utf-8", "replace")):
            raise Forbidden("the download link is not valid")
        if self._clock() > expires:
            raise Forbidden("the download link has expired")

    async def ping(self) -> None:
        def check() -> None:
            if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
                raise ServiceUnavailable("the object folder is missing or not writable")

        await asyncio.to_thread(check)

    async def ensure_ready(self) -> None:
        await asyncio.to_thread((self.root / STAGING).mkdir, parents=True, exist_ok=True)

    # -- internals -----------------------------------------------------------------------------------------

    def _signature(self, key: str, expires: int, filename: str | None) -> str:
        message = f"{key}\n{expires}" if filename is None else f"{key}\n{expires}\n{filename}"
        return hmac.new(self._secret, message.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _writer_for(self, key: str, target: Path) -> _Writer:
        """A temp file beside ``target``, creating its folder."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _path_conflict(key) from None
        return _Writer(target.parent)

    def _commit(self, writer: _Writer, key: str, target: Path, content_type: str | None) -> None:
        """Make the written temp file the object ``key``: fsync, sidecar, rename, fsync the folder."""
        st = writer.finish()
        meta = {
            "content_type": content_type,
            "sha256": writer.sha256.hexdigest(),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }
        try:
            if target.is_dir():
                raise _path_conflict(key)
            _write_atomic(_meta_path(target), json.dumps(meta).encode("utf-8"), sync_dir=False)
            os.replace(writer.path, target)
        except (IsADirectoryError, NotADirectoryError):
            raise _path_conflict(key) from None
        _fsync_dir(target.parent)

    def _stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise _not_found() from None
        if not stat.S_ISREG(st.st_mode):
            raise _not_found()
        meta = _read_meta(path, st)
        if meta is not None:
            etag, content_type = meta["sha256"], meta.get("content_type")
        else:
            etag, content_type = f"{st.st_mtime_ns:x}-{st.st_size:x}", mimetypes.guess_type(key)[0]
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectInfo(key, st.st_size, content_type, etag, modified)

    def _walk(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects under ``prefix``, depth first in name order; hidden names (temp files, sidecars, staging)
        are the store's own and never listed."""
        folder = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        root = str(self.root) + os.sep
        stack = [folder]
        while stack:
            current = stack.pop()
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name, reverse=True)
            except (FileNotFoundError, NotADirectoryError):
                continue
            files = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                key = entry.path.removeprefix(root).replace(os.sep, "/")
                if entry.is_dir(follow_symlinks=False):
                    if key.startswith(prefix) or prefix.startswith(key + "/"):
                        stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                    files.append(key)
            for key in reversed(files):
                try:
                    yield self._stat(key)
                except NotFound:  # deleted meanwhile
                    continue

    def _upload(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        """The staging folder and description of upload ``upload_id`` of ``key``; NotFound otherwise."""
        validate_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound("no such upload")
        folder = self.root / STAGING / upload_id
        try:
            info = json.loads((folder / "upload.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise NotFound("no such upload") from None
        if info.get("key") != key:
            raise NotFound("no such upload")
        return folder, info

    def _complete(self, key: str, upload_id: str, parts: list[PartInfo]) -> StoredObject:
        folder, info = self._upload(key, upload_id)
        files = []
        for index, part in enumerate(parts):
            etag = part.etag.strip('"')
            path = folder / f"{part.part_number:05d}-{etag}.part"
            if not _SHA256_HEX.fullmatch(etag) or not path.is_file():
                raise _bad_parts(f"part {part.part_number} was not uploaded with etag {etag}")
            if index < len(parts) - 1 and path.stat().st_size < MIN_PART_SIZE:
                raise _bad_parts(f"part {part.part_number} is smaller than {MIN_PART_SIZE} bytes")
            files.append(path)
        target = self._path(key)
        writer = self._writer_for(key, target)
        try:
            for path in files:
                with path.open("rb") as source:
                    while block := source.read(WRITE_BLOCK):
                        writer.write(block)
            self._commit(writer, key, target, info.get("content_type"))
        except BaseException:
            writer.discard()
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return StoredObject(key, writer.size, writer.sha256.hexdigest(), info.get("content_type"))


class _Writer:
    """A hidden temp file, hashed and counted as it is written."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        self.path = Path(name)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, block: bytes) -> None:
        self.sha256.update(block)
        self.file.write(block)
        self.size += len(block)

    def finish(self) -> os.stat_result:
        """Flush to disk and close; returns the file's final stat."""
        self.file.flush()
        os.fsync(self.file.fileno())
        st = os.fstat(self.file.fileno())
        self.file.close()
        return st

    def discard(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.file.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _open_writer(folder: Path) -> _Writer:
    """A temp file in an upload's staging folder."""
    try:
        return _Writer(folder)
    except FileNotFoundError:
        raise NotFound("no such upload") from None


def _commit_part(writer: _Writer, folder: Path, part_number: int, etag: str) -> None:
    """Keep the part as ``<number>-<sha256>.part``, replacing earlier uploads of the same number."""
    writer.finish()
    final = folder / f"{part_number:05d}-{etag}.part"
    try:
        os.replace(writer.path, final)
    except FileNotFoundError:  # aborted meanwhile
        raise NotFound("no such upload") from None
    for old in folder.glob(f"{part_number:05d}-*.part"):
        if old != final:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    _fsync_dir(folder)


def _take(iterator: Iterator[ObjectInfo], count: int) -> list[ObjectInfo]:
    return list(itertools.islice(iterator, count))


def _open_for_read(path: Path) -> tuple[BinaryIO, int]:
    try:
        file = path.open("rb")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise _not_found() from None
    size = os.fstat(file.fileno()).st_size
    return file, size


async def _blocks(data: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Regroup a stream into blocks of at least ``size`` bytes (the last may be shorter), to keep thread hops
    few whatever chunk size the producer uses."""
    pending: list[bytes] = []
    buffered = 0
    async for chunk in data:
        if not chunk:
            continue
        if not pending and len(chunk) >= size:
            yield bytes(chunk)
            continue
        pending.append(chunk)
        buffered += len(chunk)
        if buffered >= size:
            yield b"".join(pending)
            pending, buffered = [], 0
    if pending:
        yield b"".join(pending)


def _meta_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta")


def _read_meta(path: Path, st: os.stat_result) -> dict[str, Any] | None:
    """The sidecar of ``path`` if it describes the file as it is now."""
    try:
        meta = json.loads(_meta_path(path).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("size") != st.st_size or meta.get("mtime_ns") != st.st_mtime_ns:
        return None
    return meta


def _write_atomic(path: Path, content: bytes, *, sync_dir: bool = True) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Persist a rename (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _not_found() -> NotFound:
    return NotFound("no object with this key")


def _path_conflict(key: str) -> Conflict:
    return Conflict("the key clashes with an existing object or key prefix in the folder store", key=key)


def _bad_parts(message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": "parts", "message": message}])
