"""Classical test theory (lý thuyết khảo thí cổ điển) from responses, pure functions.

For each item, over the finished attempts whose form held it:

* **p-value** (difficulty index) — the mean credit, 0–1: on a one-mark item the share of examinees who got it
  right. High is easy.
* **point-biserial** (discrimination) — Pearson's correlation between the item's credit and the attempt's total
  score (percent of the form's points); for a right/wrong item this is the point-biserial coefficient
  r = (M₁ − M₀) / s · √(p·q), with s the population standard deviation of the totals. Near 0 or negative: the
  item does not separate stronger examinees from weaker ones.

A **difficulty band** for blueprints comes from the p-value once ``min_responses`` responses count (easy p ≥ 0.7,
hard p < 0.3, medium between), and from the author's estimate before that.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

EASY_FROM = 0.7
HARD_BELOW = 0.3


@dataclass(frozen=True)
class ItemStatistics:
    responses: int
    p_value: float | None
    point_biserial: float | None


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r of two equally long samples; None with fewer than two pairs or when either does not vary."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sxy / math.sqrt(sxx * syy)


def item_statistics(pairs: Iterable[tuple[float, float]]) -> ItemStatistics:
    """``pairs``: (the item's credit 0–1, the attempt's total %) for every finished attempt that held the item."""
    credits, totals = [], []
    for credit, total in pairs:
        credits.append(float(credit))
        totals.append(float(total))
    if not credits:
        return ItemStatistics(0, None, None)
    p = sum(credits) / len(credits)
    r = pearson(credits, totals)
    return ItemStatistics(len(credits), round(p, 4), round(r, 4) if r is not None else None)


def band(p_value: float | None, responses: int, declared: str, min_responses: int) -> str:
    if p_value is None or responses < min_responses:
        return declared
    if p_value >= EASY_FROM:
        return "easy"
    if p_value < HARD_BELOW:
        return "hard"
    return "medium"
