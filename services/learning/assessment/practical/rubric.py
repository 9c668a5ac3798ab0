"""Analytic rubrics (bảng tiêu chí đánh giá) without the database: a rubric's shape, one judgement's points, and
the task's outcome from its assessors' judgements.

* A judgement picks one level per criterion; its points are the sum of the levels' points.
* With two assessors, totals further apart than the task's ``moderation_threshold`` need a moderator, whose
  judgement is then final; otherwise each criterion gets the mean of the two.
* The task is passed when the final points reach ``pass_mark`` percent and every critical criterion reaches its
  ``min_points`` — a critical criterion failed fails the task whatever the total (an unsafe practice fails the
  electrical installation however tidy the wiring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import ValidationFailed


def build(criteria: Sequence[Any]) -> tuple[dict[str, Any], float]:
    """The stored rubric (criteria and levels with ids ``c1``, ``c1.l1``…) and its maximum points."""
    out = []
    for i, c in enumerate(criteria, start=1):
        top = max(level.points for level in c.levels)
        if c.critical and c.min_points is None:
            raise ValidationFailed("A critical criterion says what it must reach.",
                                   errors=[{"field": f"rubric.criteria.{i - 1}.min_points", "message": "required for a critical criterion"}])
        if c.min_points is not None and c.min_points > top:
            raise ValidationFailed("A criterion's minimum is above its best level.",
                                   errors=[{"field": f"rubric.criteria.{i - 1}.min_points", "message": f"at most {top}"}])
        out.append({"id": f"c{i}", "title": c.title, "critical": c.critical, "min_points": c.min_points,
                    "levels": [{"id": f"c{i}.l{j}", "title": level.title, "points": level.points}
                               for j, level in enumerate(c.levels, start=1)]})
    return {"criteria": out}, float(sum(max(level["points"] for level in c["levels"]) for c in out))


def judge(rubric: Mapping[str, Any], levels: Mapping[str, str]) -> dict[str, float]:
    """Points per criterion of a judgement; 422 naming ``levels.<criterion>`` for a criterion left out or a level
    that is not one of its own."""
    criteria = {c["id"]: c for c in rubric["criteria"]}
    errors = [{"field": f"levels.{k}", "message": "not a criterion of this rubric"} for k in levels if k not in criteria]
    points: dict[str, float] = {}
    for cid, c in criteria.items():
        chosen = levels.get(cid)
        level = next((lv for lv in c["levels"] if lv["id"] == chosen), None)
        if level is None:
            errors.append({"field": f"levels.{cid}", "message": "choose one of the criterion's levels" if chosen is None
                           else f"{chosen} is not a level of {cid}"})
            continue
        points[cid] = float(level["points"])
    if errors:
        raise ValidationFailed("The judgement does not fit the rubric.", errors=errors)
    return points


@dataclass(frozen=True)
class Outcome:
    #: unscored (no judgement) | pending (fewer assessors than required) | needs_moderation | final
    status: str
    points: float | None = None
    percent: float | None = None
    passed: bool | None = None
    criteria: dict[str, float] = field(default_factory=dict)
    #: critical criteria below their minimum
    critical_failed: tuple[str, ...] = ()
    #: two assessors' totals apart by this much
    difference: float | None = None


def outcome(rubric: Mapping[str, Any], max_points: float, pass_mark: float, required: int, threshold: float,
            assessors: Sequence[Mapping[str, float]], moderator: Mapping[str, float] | None) -> Outcome:
    difference = abs(sum(assessors[0].values()) - sum(assessors[1].values())) if len(assessors) >= 2 else None
    if moderator is not None:
        final = dict(moderator)
    elif not assessors:
        return Outcome("unscored")
    elif len(assessors) < required:
        return Outcome("pending")
    elif required >= 2:
        if difference is not None and difference > threshold + 1e-9:
            return Outcome("needs_moderation", difference=difference)
        final = {cid: (assessors[0][cid] + assessors[1][cid]) / 2 for cid in assessors[0]}
    else:
        final = dict(assessors[0])
    total = sum(final.values())
    percent = round(100.0 * total / max_points, 2) if max_points else 0.0
    failed = tuple(c["id"] for c in rubric["criteria"] if c["critical"] and final.get(c["id"], 0.0) + 1e-9 < float(c["min_points"]))
    return Outcome("final", points=round(total, 2), percent=percent, passed=percent + 1e-9 >= pass_mark and not failed,
                   criteria=final, critical_failed=failed, difference=difference)
