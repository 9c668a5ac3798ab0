"""The module score by records' grading rules, without importing records (services never import each other).

Records computes the grade it stores (``services/records/grading/rules.py``): the weighted mean of the component
scores (each 0–10) on the 10-point scale, one decimal, rounded half up in decimal arithmetic; the letter and
4-point value from the programme's grading policy, which records serves as data
(``GET /v1/grading-policies/{code}``). A gradebook shows the same computation before sending, from the module's
weights and the policy read from records' API; what records answers when the grade is sent is kept beside it. The
tests send grades and check that records' stored score equals the one shown here, among them one where binary
floating point and ``round()`` would give another (0.2×5 + 0.2×5.25 + 0.4×6 + 0.2×9 = 6.25: 6.3, not 6.2)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ONE_DECIMAL = Decimal("0.1")


def weights_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return set(a) == set(b) and all(Decimal(str(a[k])) == Decimal(str(b[k])) for k in a)


def module_score(scores: Mapping[str, Decimal], weights: Mapping[str, Decimal]) -> Decimal:
    total = sum((scores[k] * w for k, w in weights.items()), Decimal(0))
    return total.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def letter(policy: Mapping[str, Any], score: Decimal) -> tuple[str, bool]:
    """The letter band of ``score`` by the policy (as records' API serves it) and whether it passes."""
    bands = sorted(policy["letters"], key=lambda b: Decimal(str(b["min_score"])), reverse=True)
    band = next((b for b in bands if score >= Decimal(str(b["min_score"]))), bands[-1])
    return str(band["letter"]), score >= Decimal(str(policy["pass_score"]))
