"""Library search latency over 100,000 seeded learning objects on PostgreSQL (target: p95 < 50 ms).

Seeds a throwaway database (migrated with learning's Alembic tree; rows loaded with COPY), then times
``GET /v1/search`` through the learning app in process (httpx ASGITransport: the framework, the visibility
filter, the tsvector/GIN match, ranking and facet counts — no network), anonymous and signed-out queries
typed without diacritics. Baseline in the same run: ``GET /healthz`` through the same stack.

    python bench/search.py [--objects 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

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


async def seed(url: str, n: int) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    rng = random.Random(7)
    now = datetime.now(UTC)
    objects, tags = [], []
    for i in range(n):
        oid = uuid.uuid4()
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))).capitalize()
        description = " ".join(rng.choice(WORDS) for _ in range(20))
        when = now - timedelta(minutes=i)
        visibility = rng.choice(["public", "public", "platform", "institution"])
        objects.append((oid, when, when, f"CD{rng.randint(1, 300):04d}", "bench", 1, 1, "published", title[:300],
                        rng.choice(TYPES), "vi", "CC-BY-4.0", visibility, fold(f"{title} {description}"), when,
                        rng.randint(0, 1000), rng.randint(0, 500)))
        tags.append((oid, "level", rng.choice(LEVELS)))
        tags.append((oid, "occupation", f"{rng.choice([5, 6])}{rng.randint(100000, 999999)}"))
    columns = ["id", "created_at", "updated_at", "institution_code", "owner_sub", "latest_version", "published_version",
               "status", "title", "type", "language", "licence", "visibility", "search_text", "published_at",
               "view_count", "download_count"]
    await conn.copy_records_to_table("learning_objects", records=objects, columns=columns)
    await conn.copy_records_to_table("learning_object_tags", records=tags, columns=["object_id", "kind", "value"])
    await conn.execute("ANALYZE")
    await conn.close()


async def timed(client: httpx.AsyncClient, path: str, params: dict | None = None) -> float:
    start = time.perf_counter()
    r = await client.get(path, params=params)
    elapsed = time.perf_counter() - start
    assert r.status_code == 200, r.text
    return elapsed


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    reason = await postgres_available()
    if reason:
        sys.exit(f"needs PostgreSQL ({PG_ADMIN_DSN}): {reason}")
    name, url = await create_pg_database("vet_bench_search")
    try:
        await upgrade("learning", url)
        t0 = time.perf_counter()
        await seed(url, args.objects)
        print(f"seeded {args.objects} objects in {time.perf_counter() - t0:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(LearningSettings(database_url=url, object_store_url=f"file://{tmp}", outbox_enabled=False, log_level="WARNING"))
            async with app.router.lifespan_context(app):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://learning") as c:
                    for q in QUERIES:  # warm up
                        await timed(c, "/v1/search", {"q": q})
                    base = [await timed(c, "/healthz") for _ in range(args.queries)]
                    runs = {
                        "relevance": [await timed(c, "/v1/search", {"q": QUERIES[i % len(QUERIES)]}) for i in range(args.queries)],
                        "newest+facet": [await timed(c, "/v1/search", {"q": QUERIES[i % len(QUERIES)], "sort": "newest", "level": "trung_cap"})
                                         for i in range(args.queries)],
                        "most_used, no q": [await timed(c, "/v1/search", {"sort": "most_used", "type": "video"}) for _ in range(args.queries)],
                    }
        b50 = pct(base, 50)
        print(f"baseline GET /healthz: p50 {b50:.2f} ms, p95 {pct(base, 95):.2f} ms")
        for label, values in runs.items():
            p50, p95 = pct(values, 50), pct(values, 95)
            verdict = "OK" if p95 < 50 else "over target"
            print(f"search {label:16s} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({p50 / b50:5.1f}x baseline p50; target p95 < 50 ms: {verdict})")
    finally:
        await drop_pg_database(name)


if __name__ == "__main__":
    asyncio.run(main())
