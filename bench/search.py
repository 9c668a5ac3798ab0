"""Library search latency over 100,000 (``--objects 1000000``: a million) seeded learning objects on PostgreSQL
(target: p95 < 50 ms).

Seeds a throwaway database (migrated with learning's Alembic tree; rows loaded with COPY, then vacuumed and
analysed as autovacuum would), then times
``GET /v1/search`` through the learning app in process (httpx ASGITransport: the framework, the visibility
filter, the tsvector/GIN match, ranking and facet counts — no network), anonymous and signed-out queries
typed without diacritics. Baseline in the same run: ``GET /healthz`` through the same stack.

    python bench/search.py [--objects 100000] [--queries 200] [--rounds 3] [--database-url postgresql+asyncpg://…]

``--database-url`` reuses a database already seeded by an earlier run (``--keep`` keeps the one seeded here).
Each query shape is timed ``--rounds`` times (interleaved with the others); p50 / p95 are printed per round, so the
spread on a shared machine shows. Two modes (``--modes``): ``computed``, every search computed (the service's
search cache off), and ``repeated``, the same ten queries with the cache on as deployed (a ranking reused for
``search_cache_seconds``; the page's objects read anew). Shapes: relevance (first page, total and facets), the same query's second page
(keyset cursor, no facets), newest filtered by level, most used filtered by type without a query.

Wall times on a shared machine swing with its load, so each shape's CPU per request is printed too: this process
(the app, plus the in-process client) and the database backends serving it (read from ``/proc/<pid>/stat`` when
PostgreSQL runs on this machine) — the work a search costs, which the load around it barely changes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.loadavg import LoadWatch  # noqa: E402
from services.common.migrations import upgrade  # noqa: E402
from services.common.testing import PG_ADMIN_DSN, create_pg_database, drop_pg_database, postgres_available  # noqa: E402
from services.common.text import fold  # noqa: E402
from services.learning.app import create_app  # noqa: E402
from services.learning.config import LearningSettings  # noqa: E402

WORDS = ("kỹ năng giao tiếp làm việc nhóm an toàn lao động hàn điện cơ khí ô tô bảo dưỡng động cơ điện tử viễn thông "
         "công nghệ thông tin lập trình mạng máy tính kế toán du lịch nhà hàng khách sạn nấu ăn may thời trang "
         "chăm sóc khách hàng tiếng anh chuyên ngành quản trị kinh doanh logistics điện lạnh cắt gọt kim loại").split()
TYPES = ["video", "document", "slides", "scorm", "audio", "image"]
LEVELS = ["so_cap", "trung_cap", "cao_dang"]
QUERIES = ["ky nang giao tiep", "lam viec nhom", "an toan lao dong", "han dien", "bao duong dong co o to",
           "cong nghe thong tin", "nau an", "tieng anh chuyen nganh", "ke toan", "dien lanh"]


OBJECT_COLUMNS = ["id", "created_at", "updated_at", "institution_code", "owner_sub", "latest_version", "published_version",
                  "status", "title", "type", "language", "licence", "visibility", "search_text", "published_at",
                  "view_count", "download_count"]
TAG_COLUMNS = ["object_id", "kind", "value"]


def library_rows(n: int, *, start: int = 0, seed: int = 7) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """``n`` published learning objects (rows of OBJECT_COLUMNS) and their tags (level, occupation), made up from
    WORDS: titles of 3-7 words, descriptions of 20, one object a minute back in time. The folded search text is
    built from the words' folded forms (folding works word by word), so a million rows take seconds, not minutes."""
    rng = random.Random(seed + start)
    folded = {w: fold(w) for w in WORDS}
    now = datetime.now(UTC)
    choice, randint = rng.choice, rng.randint
    for i in range(start, start + n):
        oid = uuid.UUID(int=rng.getrandbits(128), version=4)
        title_words = [choice(WORDS) for _ in range(randint(3, 7))]
        description = [choice(WORDS) for _ in range(20)]
        title = " ".join(title_words).capitalize()
        when = now - timedelta(minutes=i)
        visibility = choice(("public", "public", "platform", "institution"))
        search_text = " ".join(folded[w] for w in (*title_words, *description))
        yield ((oid, when, when, f"CD{randint(1, 300):04d}", "bench", 1, 1, "published", title[:300], choice(TYPES), "vi",
                "CC-BY-4.0", visibility, search_text, when, randint(0, 1000), randint(0, 500)),
               [(oid, "level", choice(LEVELS)), (oid, "occupation", f"{choice((5, 6))}{randint(100000, 999999)}")])


async def seed(url: str, n: int, *, chunk: int = 50_000, progress: bool = False) -> None:
    """``n`` objects into the learning database at ``url``: PostgreSQL by COPY in chunks (the full-text index
    dropped during the load and built once at the end, then VACUUM ANALYZE as autovacuum would), SQLite by
    executemany in one transaction (its FTS table kept by the triggers)."""
    if url.startswith("sqlite"):
        await _seed_sqlite(url, n)
        return
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        # a GIN index built once over the loaded rows takes a fraction of keeping it up to date row by row
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'learning_objects' AND indexdef ILIKE '%gin%'")
        for row in indexes:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        done, started = 0, time.perf_counter()
        while done < n:
            size = min(chunk, n - done)
            objects, tags = [], []
            for obj, obj_tags in library_rows(size, start=done):
                objects.append(obj)
                tags.extend(obj_tags)
            await conn.copy_records_to_table("learning_objects", records=objects, columns=OBJECT_COLUMNS)
            await conn.copy_records_to_table("learning_object_tags", records=tags, columns=TAG_COLUMNS)
            done += size
            if progress:
                print(f"  seeded {done:,} / {n:,} objects ({time.perf_counter() - started:.0f} s)", flush=True)
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for row in indexes:
            await conn.execute(row["indexdef"])
        # what autovacuum does to a freshly loaded table within a minute or so: statistics and the visibility map
        # (without it every index-only probe of the tags visits the heap)
        for table in ("learning_objects", "learning_object_tags"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()


async def _seed_sqlite(url: str, n: int) -> None:
    from sqlalchemy import insert

    from services.common.db import Database
    from services.learning.models import LearningObject, LearningObjectTag

    db = Database(url)
    try:
        async with db.session() as session:
            conn = await session.connection()
            objects, tags = [], []
            for obj, obj_tags in library_rows(n):
                objects.append(dict(zip(OBJECT_COLUMNS, obj, strict=True)))
                tags.extend(dict(zip(TAG_COLUMNS, t, strict=True)) for t in obj_tags)
            await conn.execute(insert(LearningObject.__table__), objects)
            await conn.execute(insert(LearningObjectTag.__table__), tags)
    finally:
        await db.dispose()


async def timed(client: httpx.AsyncClient, path: str, params: dict | None = None) -> float:
    start = time.perf_counter()
    r = await client.get(path, params=params)
    elapsed = time.perf_counter() - start
    assert r.status_code == 200, r.text
    return elapsed


def backend_cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU of these PostgreSQL backends, or None when they are not local processes."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    except (OSError, IndexError, ValueError):
        return None
    return total


async def backend_pids(monitor: asyncpg.Connection, database: str) -> list[int]:
    rows = await monitor.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)
    return [r["pid"] for r in rows]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def measure(url: str, tmp: str, args: argparse.Namespace, monitor: asyncpg.Connection, database: str, *,
                  cache_seconds: float, load: LoadWatch, mode: str) -> tuple[list[list[float]], dict[str, list[list[float]]], dict[str, list[tuple[float, float | None]]]]:
    """The four shapes, ``args.rounds`` times each, through a learning app whose search cache keeps rankings for
    ``cache_seconds`` (0: every search computed)."""
    settings = LearningSettings(database_url=url, object_store_url=f"file://{tmp}", outbox_enabled=False, log_level="WARNING",
                                search_cache_seconds=cache_seconds)
    app = create_app(settings)
    cpu: dict[str, list[tuple[float, float | None]]] = {}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://learning") as c:
            for q in QUERIES:  # warm up
                await timed(c, "/v1/search", {"q": q})
            second = {}
            for q in QUERIES:  # the cursor of each query's first page, for the "page 2" shape
                second[q] = (await c.get("/v1/search", params={"q": q})).json()["next_cursor"]
            shapes = {
                "relevance": lambda i: {"q": QUERIES[i % len(QUERIES)]},
                "relevance p.2": lambda i: {"q": QUERIES[i % len(QUERIES)], "cursor": second[QUERIES[i % len(QUERIES)]]},
                "newest+level": lambda i: {"q": QUERIES[i % len(QUERIES)], "sort": "newest", "level": "trung_cap"},
                "most_used, no q": lambda i: {"sort": "most_used", "type": "video"},
            }
            base: list[list[float]] = []
            runs: dict[str, list[list[float]]] = {label: [] for label in shapes}
            for _ in range(args.rounds):
                base.append([await timed(c, "/healthz") for _ in range(args.queries)])
                for label, params in shapes.items():
                    pids = await backend_pids(monitor, database)
                    app0, db0 = time.process_time(), backend_cpu_seconds(pids)
                    with load.side(f"{mode}:{label}"):
                        runs[label].append([await timed(c, "/v1/search", params(i)) for i in range(args.queries)])
                    db1 = backend_cpu_seconds(pids)
                    db_ms = None if db0 is None or db1 is None else (db1 - db0) * 1000 / args.queries
                    cpu.setdefault(label, []).append(((time.process_time() - app0) * 1000 / args.queries, db_ms))
    return base, runs, cpu


def report(mode: str, title: str, base: list[list[float]], runs: dict[str, list[list[float]]],
           cpu: dict[str, list[tuple[float, float | None]]], load: LoadWatch) -> None:
    print(f"== {title}")
    b50 = pct([v for r in base for v in r], 50)
    print(f"baseline GET /healthz: p50 {b50:.2f} ms")
    for label, rounds in runs.items():
        p50s = " ".join(f"{pct(r, 50):6.1f}" for r in rounds)
        p95s = " ".join(f"{pct(r, 95):6.1f}" for r in rounds)
        worst = max(pct(r, 95) for r in rounds)
        verdict = "OK" if worst < 50 else "over target"
        during = load.load_of(f"{mode}:{label}")
        shown = "unknown" if during is None else f"{during:.2f}"
        print(f"search {label:16s} p50 [{p50s}] ms  p95 [{p95s}] ms  (target p95 < 50 ms: {verdict}; load average during {shown})")
    for label, samples in cpu.items():
        app_ms = sum(a for a, _ in samples) / len(samples)
        dbs = [d for _, d in samples if d is not None]
        db = f"{sum(dbs) / len(dbs):5.1f} ms" if dbs else "  n/a (not a local server)"
        print(f"cpu/request {label:16s} app {app_ms:5.1f} ms + database {db}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (its URL is printed)")
    parser.add_argument("--modes", default="computed,repeated",
                        help="computed: every search computed (no search cache); repeated: the service's search cache on")
    args = parser.parse_args()
    load = LoadWatch()
    reason = await postgres_available()
    if reason:
        sys.exit(f"needs PostgreSQL ({PG_ADMIN_DSN}): {reason}")
    name, url = (None, args.database_url) if args.database_url else await create_pg_database("vet_bench_search")
    try:
        await upgrade("learning", url)
        if name is not None:
            t0 = time.perf_counter()
            await seed(url, args.objects, progress=args.objects >= 200_000)
            print(f"seeded {args.objects} objects in {time.perf_counter() - t0:.1f} s" + (f" into {url}" if args.keep else ""))
        monitor = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        database = url.rsplit("/", 1)[1].split("?")[0]
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        with tempfile.TemporaryDirectory() as tmp:
            results = {mode: await measure(url, tmp, args, monitor, database, load=load, mode=mode,
                                           cache_seconds=0.0 if mode == "computed" else LearningSettings.model_fields["search_cache_seconds"].default)
                       for mode in modes}
        await monitor.close()
        for mode, (base, runs, cpu) in results.items():
            report(mode, {"computed": "every search computed (search cache off)",
                          "repeated": "the same 10 queries repeated (search cache on, as deployed)"}.get(mode, mode), base, runs, cpu, load)
    finally:
        if name is not None and not args.keep:
            await drop_pg_database(name)
        load.end()


if __name__ == "__main__":
    asyncio.run(main())
