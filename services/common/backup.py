"""Backup and restore of a whole platform: every service's database and every object store, with a manifest.

``python -m services backup DEST`` / ``python -m services restore SRC`` (``services/__main__.py``) call
:func:`backup` and :func:`restore` with each service as its settings configure it (:class:`ServiceTarget`).

A backup is a folder::

    manifest.json                  format, created time, per service: database backend, file, schema revision;
                                   per object store: its address, services, object count; sha256 of every file
    databases/<service>.dump       PostgreSQL: ``pg_dump --format=custom`` (restored with ``pg_restore``)
    databases/<service>.sqlite3    SQLite: a copy made with SQLite's online backup API (consistent while in use)
    objects/<store>.jsonl          one line per object: key, size, sha256, content type
    objects/<store>/<key>          the objects' bytes

:func:`restore` checks before it changes anything: every file against its checksum (a corrupted or incomplete
backup is refused, naming the file), every schema revision against the code's migrations (a backup made by newer
code is refused: restore it with that code), each database's backend, and that the databases and stores are
empty (``replace=True`` empties the databases first and overwrites objects of the same key). Then it restores the
databases, migrates them to the code's head (a backup from older code is upgraded) and puts the objects back.

Not in a backup: the secrets (``IDENTITY_KEY_ENCRYPTION_SECRET``, ``IDENTITY_CLIENT_SECRET_PEPPER``,
``CREDENTIALS_KEY_ENCRYPTION_KEY``, …) — keep them apart, see README "Backup and restore" — and unfinished
multipart uploads. The services should be stopped while a restore runs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.db import _sqlite_file, is_sqlite
from services.common.migrations import alembic_config, upgrade
from services.common.storage import ObjectStore, validate_key

FORMAT = "vet-platform-backup/1"
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024
#: objects copied at the same time
OBJECT_CONCURRENCY = 8

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why. A refused restore changed nothing."""


@dataclass
class ServiceTarget:
    """One service as configured: its database and its object store."""

    name: str
    database_url: str
    #: where the store is, without credentials (``file:///abs/path`` or ``s3://endpoint/bucket/prefix``)
    store_address: str
    open_store: Callable[[], ObjectStore]
    _store: ObjectStore | None = field(default=None, repr=False)

    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = self.open_store()
        return self._store

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.aclose()
            self._store = None


def store_address(object_store_url: str, s3_endpoint: str = "") -> str:
    scheme, _, rest = object_store_url.partition("://")
    if scheme.lower() == "file":
        return "file://" + str(Path(rest).resolve())
    return f"s3://{s3_endpoint}/{rest.strip('/')}"


# -- helpers --------------------------------------------------------------------------------------------------------

def _sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _inside(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BackupError(f"{relative!r} points outside the backup folder")
    return path


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for a SQLAlchemy URL (the password never on a command line)."""
    u = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for var, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username), ("PGPASSWORD", u.password),
                       ("PGDATABASE", u.database)):
        if value is not None:
            env[var] = str(value)
    sslmode = u.query.get("sslmode") or u.query.get("ssl")
    if isinstance(sslmode, str):
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(sslmode, sslmode)
    return env


async def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError as exc:
        raise BackupError(f"{args[0]} is not installed (PostgreSQL's client tools are needed for {what})") from exc
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"{what} failed ({args[0]} exit {proc.returncode}): {(err or out).decode(errors='replace').strip()[:2000]}")


async def _query(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def database_revision(url: str) -> str | None:
    try:
        rows = await _query(url, "SELECT version_num FROM alembic_version")
    except Exception:  # no alembic_version table: never migrated
        return None
    return rows[0][0] if rows else None


def _sqlite_revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def code_revisions(service: str) -> tuple[set[str], str | None]:
    """Every revision the code's migrations know for ``service``, and its head."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


async def database_is_empty(url: str) -> bool:
    if is_sqlite(url):
        path = _sqlite_file(url)
        if path is None or not path.exists():
            return True
        sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    try:
        rows = await _query(url, sql)
    except Exception as exc:
        where = make_url(url).render_as_string(hide_password=True)
        raise BackupError(f"cannot reach the database {where} ({type(exc).__name__}): a restore goes into existing, "
                          "empty databases (deploy/postgres-init.sql creates them)") from exc
    tables: int = rows[0][0]
    return tables == 0


async def _store_is_empty(store: ObjectStore) -> bool:
    async for _ in store.list_objects():
        return False
    return True


# -- backup ---------------------------------------------------------------------------------------------------------

async def _backup_database(target: ServiceTarget, dest: Path) -> dict[str, Any]:
    if is_sqlite(target.database_url):
        source = _sqlite_file(target.database_url)
        if source is None or not source.exists():
            raise BackupError(f"{target.name}: SQLite database {target.database_url} does not exist")
        out = dest / "databases" / f"{target.name}.sqlite3"

        def copy() -> None:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            dst = sqlite3.connect(out)
            try:
                src.backup(dst)  # the online backup API: a consistent copy while the service writes
            finally:
                dst.close()
                src.close()

        await asyncio.to_thread(copy)
        return {"backend": "sqlite", "file": f"databases/{target.name}.sqlite3",
                "revision": await asyncio.to_thread(_sqlite_revision, out)}
    out = dest / "databases" / f"{target.name}.dump"
    revision = await database_revision(target.database_url)
    await _run(["pg_dump", "--format=custom", "--compress=6", f"--file={out}"], _pg_env(target.database_url),
               f"pg_dump of {target.name}")
    return {"backend": "postgresql", "file": f"databases/{target.name}.dump", "revision": revision}


async def _workers(items: AsyncIterator[Any], work: Callable[[Any], Any], concurrency: int = OBJECT_CONCURRENCY) -> None:
    """``work(item)`` for every item, ``concurrency`` at a time; the first failure cancels the rest and is raised."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=concurrency * 2)
    done = object()

    async def worker() -> None:
        while (item := await queue.get()) is not done:
            await work(item)

    async def produce() -> None:
        async for item in items:
            await queue.put(item)
        for _ in range(concurrency):
            await queue.put(done)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for _ in range(concurrency):
                group.create_task(worker())
    except* BackupError as failures:
        raise failures.exceptions[0] from None
    except* Exception as failures:
        raise failures.exceptions[0] from None


async def _backup_store(store: ObjectStore, label: str, dest: Path) -> tuple[int, int]:
    folder = dest / "objects" / label
    folder.mkdir(parents=True)
    lines: list[str] = []
    total = 0

    async def copy(info: Any) -> None:
        nonlocal total
        validate_key(info.key)
        path = _inside(folder, info.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        # the file written off the loop (as the restore reads it): the other copies' downloads go on meanwhile
        with await asyncio.to_thread(path.open, "wb") as f:
            async for block in store.get(info.key):
                await asyncio.to_thread(f.write, block)
                digest.update(block)
                size += len(block)
        content_type = info.content_type or (await store.stat(info.key)).content_type
        lines.append(json.dumps({"key": info.key, "size": size, "sha256": digest.hexdigest(), "content_type": content_type},
                                ensure_ascii=False))
        total += size

    await _workers(store.list_objects(), copy)
    lines.sort()
    (dest / "objects" / f"{label}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines), total


def _new_backup_folder(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: a backup goes into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)  # personal data and hashed secrets: the operator's account only
    (dest / "databases").mkdir()


async def backup(dest: Path, targets: list[ServiceTarget], *, progress: Progress = lambda _: None) -> dict[str, Any]:
    """Writes a backup of every target into ``dest`` (a new or empty folder); returns the manifest."""
    await asyncio.to_thread(_new_backup_folder, dest)
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                "services": {}, "object_stores": {}, "files": {}}
    for target in targets:
        entry = await _backup_database(target, dest)
        known, head = code_revisions(target.name)
        entry["code_head"] = head
        manifest["services"][target.name] = {"database": entry}
        progress(f"{target.name}: database ({entry['backend']}, revision {entry['revision']})")
    stores: dict[str, str] = {}  # address → label
    for target in targets:
        label = stores.get(target.store_address)
        if label is None:
            label = stores[target.store_address] = f"store-{len(stores) + 1}"
            count, size = await _backup_store(target.store(), label, dest)
            manifest["object_stores"][label] = {"address": target.store_address, "services": [], "objects": count,
                                                "bytes": size, "index": f"objects/{label}.jsonl"}
            progress(f"{target.name}: object store {target.store_address}: {count} objects, {size} bytes")
        manifest["object_stores"][label]["services"].append(target.name)
        manifest["services"][target.name]["object_store"] = label
    for path in sorted((dest / "databases").iterdir()) + sorted((dest / "objects").glob("*.jsonl")):
        digest, size = await asyncio.to_thread(_sha256_file, path)
        manifest["files"][path.relative_to(dest).as_posix()] = {"sha256": digest, "size": size}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


# -- restore --------------------------------------------------------------------------------------------------------

def read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{src} holds no {MANIFEST}: not a backup") from exc
    except ValueError as exc:
        raise BackupError(f"{src / MANIFEST} is not valid JSON: the backup is corrupted") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src / MANIFEST} is not a {FORMAT} manifest")
    return manifest


def _index(src: Path, store: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _inside(src, store["index"]).read_text(encoding="utf-8").splitlines() if line]


def verify_backup(src: Path) -> dict[str, Any]:
    """The manifest, once every file of the backup matches its checksum; else :class:`BackupError` naming it."""
    manifest = read_manifest(src)
    for relative, expected in manifest["files"].items():
        path = _inside(src, relative)
        if not path.is_file():
            raise BackupError(f"corrupted backup: {relative} is missing")
        if _sha256_file(path) != (expected["sha256"], expected["size"]):
            raise BackupError(f"corrupted backup: {relative} does not match its checksum")
    for label, store in manifest["object_stores"].items():
        for obj in _index(src, store):
            path = _inside(src / "objects" / label, obj["key"])
            if not path.is_file() or _sha256_file(path) != (obj["sha256"], obj["size"]):
                raise BackupError(f"corrupted backup: object {obj['key']!r} of {label} is missing or does not match its checksum")
    return manifest


async def _restore_database(name: str, entry: dict[str, Any], src: Path, url: str) -> None:
    path = _inside(src, entry["file"])
    if entry["backend"] == "sqlite":
        target = _sqlite_file(url)
        assert target is not None
        target.parent.mkdir(parents=True, exist_ok=True)

        def copy() -> None:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            dst = sqlite3.connect(target)
            try:
                source.backup(dst)  # replaces the whole destination database
            finally:
                dst.close()
                source.close()

        await asyncio.to_thread(copy)
        return
    await _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                f"--dbname={make_url(url).database}", str(path)], _pg_env(url), f"pg_restore of {name}")


async def _empty_database(url: str) -> None:
    if is_sqlite(url):
        return  # the online backup API replaces the whole file's content
    engine = create_async_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def _restore_objects(src: Path, label: str, store_entry: dict[str, Any], store: ObjectStore) -> int:
    folder = src / "objects" / label

    async def chunks(path: Path) -> AsyncIterator[bytes]:
        with await asyncio.to_thread(path.open, "rb") as f:
            while block := await asyncio.to_thread(f.read, CHUNK):
                yield block

    async def items() -> AsyncIterator[dict[str, Any]]:
        for obj in _index(src, store_entry):
            yield obj

    async def put(obj: dict[str, Any]) -> None:
        await store.put(obj["key"], chunks(_inside(folder, obj["key"])), content_type=obj.get("content_type"), length=obj["size"])

    await _workers(items(), put)
    return int(store_entry["objects"])


async def restore(src: Path, targets: list[ServiceTarget], *, replace: bool = False, progress: Progress = lambda _: None) -> None:
    manifest = await asyncio.to_thread(verify_backup, src)
    by_name = {t.name: t for t in targets}
    missing = sorted(set(manifest["services"]) - set(by_name))
    if missing:
        raise BackupError(f"the backup holds services this platform does not configure: {', '.join(missing)}")
    # everything is checked before anything changes
    for name, service in manifest["services"].items():
        entry, target = service["database"], by_name[name]
        known, head = code_revisions(name)
        if entry["revision"] is not None and entry["revision"] not in known:
            raise BackupError(
                f"{name}: the backup's schema revision {entry['revision']} is unknown to this code (its newest is {head}): "
                "the backup was made by a newer version; restore it with that version (nothing was changed)")
        backend = "sqlite" if is_sqlite(target.database_url) else "postgresql"
        if entry["backend"] != backend:
            raise BackupError(f"{name}: a {entry['backend']} backup cannot be restored into {backend} ({target.database_url.split('@')[-1]})")
        if not replace and not await database_is_empty(target.database_url):
            raise BackupError(f"{name}: the database is not empty; restore into empty databases, or pass --replace to "
                              "drop what it holds (nothing was changed)")
    stores: dict[str, list[ServiceTarget]] = {}
    for label, store_entry in manifest["object_stores"].items():
        seen: dict[str, ServiceTarget] = {}
        for name in store_entry["services"]:
            seen.setdefault(by_name[name].store_address, by_name[name])
        stores[label] = list(seen.values())
        for target in stores[label]:
            await target.store().ensure_ready()
            if not replace and not await _store_is_empty(target.store()):
                raise BackupError(f"the object store {target.store_address} is not empty; restore into empty stores, or "
                                  "pass --replace to overwrite objects of the same key (nothing was changed)")

    for name, service in manifest["services"].items():
        target = by_name[name]
        if replace:
            await _empty_database(target.database_url)
        await _restore_database(name, service["database"], src, target.database_url)
        await upgrade(name, target.database_url, "head")
        progress(f"{name}: database restored (revision {service['database']['revision']}, migrated to head)")
    for label, store_entry in manifest["object_stores"].items():
        for target in stores[label]:
            count = await _restore_objects(src, label, store_entry, target.store())
            progress(f"object store {target.store_address}: {count} objects restored")
