"""Per-learner forms of a written exam, without the database.

At publication the blueprint is frozen into a **pool**: the active items of the exam's banks, each in the first
blueprint row it fits (tag, difficulty band), so rows never compete for an item and a row with fewer items than it
asks for is refused then, not at a learner's start. A learner's form for an attempt is drawn from that pool with a
generator seeded by ``HMAC-SHA256(exam secret, learner key : attempt number)``: the same learner and attempt always
get the same form (it is stored too), two learners get different ones, and nobody can compute another's form
without the exam's secret."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.learning.assessment.items import kinds


def form_seed(secret: str, learner_key: str, attempt_number: int) -> str:
    return hmac.new(secret.encode(), f"{learner_key}:{attempt_number}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Shortfall:
    row: int
    wanted: int
    available: int


def freeze_pool(blueprint: Sequence[dict[str, Any]], items: Sequence[Any], band_of: Callable[[Any], str]) -> tuple[list[list[str]], list[Shortfall]]:
    """The candidate item ids of each blueprint row (sorted), and the rows that cannot be filled."""
    pool: list[list[str]] = [[] for _ in blueprint]
    for item in items:
        band = band_of(item)
        for i, row in enumerate(blueprint):
            if (row.get("tag") is None or row["tag"] in item.tags) and row.get("band", "any") in ("any", band):
                pool[i].append(str(item.id))
                break
    short = [Shortfall(i, row["count"], len(pool[i])) for i, row in enumerate(blueprint) if len(pool[i]) < row["count"]]
    return [sorted(ids) for ids in pool], short


def draw(pool: Sequence[Sequence[str]], blueprint: Sequence[dict[str, Any]], items_by_id: dict[str, Any], seed: str,
         shuffle_options: bool) -> list[dict[str, Any]]:
    """A form: ``count`` items of each row, in a shuffled order, each with the order its options are shown in."""
    rng = random.Random(int(seed, 16))
    chosen: list[str] = []
    for ids, row in zip(pool, blueprint, strict=True):
        chosen += rng.sample(list(ids), row["count"])
    rng.shuffle(chosen)
    return [kinds.arrangement(items_by_id[item_id], rng, shuffle_options) for item_id in chosen]
