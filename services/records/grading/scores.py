"""A grade's numbers as text and the weighted module score on the hot path of a sync (pure functions).

:func:`dec` writes a decimal the one way records stores and shows it (``8`` and ``8.0`` are the same score);
:func:`weighted` is :func:`~services.records.grading.rules.weighted_score` with each distinct score text parsed once,
which a sync of a hundred thousand grade rows feels."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from services.records.grading.rules import MAX_SCORE, ONE_DECIMAL, weighted_score

_ZERO = Decimal(0)


@functools.lru_cache(maxsize=8192)
def _dec(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def dec(value: Any) -> str:
    """Canonical text of a decimal: ``8`` and ``8.0`` are the same score."""
    try:
        return _dec(value)
    except TypeError:  # unhashable: not a number anyway; let Decimal say so
        return format(Decimal(str(value)).normalize(), "f")


@functools.lru_cache(maxsize=4096)
def _component(text: str) -> tuple[Decimal, str] | None:
    """A component score given as text → (value, canonical text); None when it is no score from 0 to 10 (then
    :func:`weighted_score` says what is wrong with it)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or not (_ZERO <= value <= MAX_SCORE):
        return None
    return value, format(value.normalize(), "f")


def weighted(components: dict[str, Any], weights: dict[str, Decimal]) -> tuple[Decimal, dict[str, str]]:
    """:func:`weighted_score` and the components' canonical text, with each distinct score text parsed once; any
    component that is not a plain valid score goes the long way, which raises the precise error."""
    total = _ZERO
    canonical: dict[str, str] = {}
    for name, value in components.items():
        weight = weights.get(name)
        if weight is None:
            break
        kind = type(value)
        parsed = _component(value) if kind is str else _component(str(value)) if kind in (int, float) else None
        if parsed is None:
            break
        total += parsed[0] * weight
        canonical[name] = parsed[1]
    else:
        if len(canonical) == len(weights):
            return total.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP), canonical
    return weighted_score(components, weights), {k: dec(v) for k, v in components.items()}
