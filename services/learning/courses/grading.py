"""Questions and quizzes without the database: building a question's options and key from what an author sends,
what a learner is shown (never the key), drawing an attempt's questions, grading answers on the server."""

from __future__ import annotations

import math
import random
import secrets
from typing import Any

from services.common.errors import ValidationFailed
from services.learning.courses.schemas import AttemptQuestion, OptionRead, QuestionCreate, QuestionRead
from services.learning.models import Question


def _oid() -> str:
    """Option ids are random, so neither their order nor their value hints at the key."""
    return secrets.token_hex(4)


def build(body: QuestionCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options, answer key) for a new question; ValidationFailed naming the field otherwise."""

    def fail(field: str, message: str) -> ValidationFailed:
        return ValidationFailed(f"The question is not valid: {message}.", errors=[{"field": field, "message": message}])

    if body.kind in ("single", "multiple"):
        if not body.choices or len(body.choices) < 2:
            raise fail("choices", "at least two choices are needed")
        choices = [{"id": _oid(), "text": c.text} for c in body.choices]
        correct = [choices[i]["id"] for i, c in enumerate(body.choices) if c.correct]
        if body.kind == "single" and len(correct) != 1:
            raise fail("choices", "exactly one choice must be correct")
        if body.kind == "multiple" and not correct:
            raise fail("choices", "at least one choice must be correct")
        return {"choices": choices}, {"ids": sorted(correct)}
    if body.choices is not None:
        raise fail("choices", f"a {body.kind} question has no choices")
    if body.kind == "true_false":
        if not isinstance(body.answer, bool):
            raise fail("answer", "true or false is needed")
        return {}, {"value": body.answer}
    if body.kind == "numeric":
        if body.answer is None or isinstance(body.answer, bool) or not math.isfinite(float(body.answer)):
            raise fail("answer", "a number is needed")
        return {}, {"value": float(body.answer), "tolerance": body.tolerance}
    # matching
    if not body.pairs or len(body.pairs) < 2:
        raise fail("pairs", "at least two pairs are needed")
    left = [{"id": _oid(), "text": p.left} for p in body.pairs]
    right = [{"id": _oid(), "text": p.right} for p in body.pairs]
    key = {lo["id"]: ro["id"] for lo, ro in zip(left, right, strict=True)}
    right.sort(key=lambda o: o["id"])  # stored apart from the pairing
    return {"left": left, "right": right}, {"pairs": key}


def _options(raw: list[dict[str, Any]] | None, order: list[str] | None = None) -> list[OptionRead] | None:
    if raw is None:
        return None
    by_id = {o["id"]: o for o in raw}
    ids = order if order is not None else sorted(by_id)
    return [OptionRead(id=i, text=by_id[i]["text"]) for i in ids if i in by_id]


def public(q: Question) -> QuestionRead:
    matching = q.kind == "matching"
    return QuestionRead(id=q.id, kind=q.kind, prompt=q.prompt, pool=q.pool, points=q.points,
                        choices=_options(q.options.get("choices")),
                        left=_options(q.options.get("left"), [o["id"] for o in q.options.get("left", [])]) if matching else None,
                        right=_options(q.options.get("right")) if matching else None)


def draw(fixed: list[Question], pools: dict[str, list[Question]], quiz_pools: list[dict[str, Any]], shuffle: bool,
         rng: random.Random | None = None) -> list[dict[str, Any]]:
    """The questions of one attempt (fixed ones, then random ones per pool, none twice) with the option order shown."""
    rng = rng or random.SystemRandom()
    chosen = list(fixed)
    seen = {q.id for q in chosen}
    for spec in quiz_pools:
        candidates = [q for q in pools.get(spec["pool"], []) if q.id not in seen]
        picked = rng.sample(candidates, min(spec["count"], len(candidates)))
        chosen += picked
        seen |= {q.id for q in picked}
    if shuffle:
        rng.shuffle(chosen)
    drawn = []
    for q in chosen:
        item: dict[str, Any] = {"question_id": str(q.id)}
        for part in ("choices", "left", "right"):
            ids = [o["id"] for o in q.options.get(part, [])]
            if part == "right" or (shuffle and part != "left"):
                rng.shuffle(ids)
            if ids:
                item[part] = ids
        drawn.append(item)
    return drawn


def shown(q: Question, item: dict[str, Any]) -> AttemptQuestion:
    return AttemptQuestion(id=q.id, kind=q.kind, prompt=q.prompt, points=q.points,
                           choices=_options(q.options.get("choices"), item.get("choices")) if "choices" in q.options else None,
                           left=_options(q.options.get("left"), item.get("left")) if q.kind == "matching" else None,
                           right=_options(q.options.get("right"), item.get("right")) if q.kind == "matching" else None)


def is_correct(q: Question, given: Any) -> bool:
    key = q.answer
    if given is None:
        return False
    if q.kind == "single":
        return isinstance(given, str) and given in key["ids"]
    if q.kind == "multiple":
        return isinstance(given, list) and all(isinstance(g, str) for g in given) and sorted(set(given)) == key["ids"]
    if q.kind == "true_false":
        return isinstance(given, bool) and given is key["value"]
    if q.kind == "numeric":
        if isinstance(given, bool) or not isinstance(given, (int, float, str)):
            return False
        try:
            value = float(given)
        except ValueError:
            return False
        return math.isfinite(value) and abs(value - key["value"]) <= key["tolerance"] + 1e-9
    if q.kind == "matching":
        return isinstance(given, dict) and given == key["pairs"]
    return False


def grade(questions: list[Question], answers: dict[str, Any]) -> tuple[float, list[tuple[Question, bool]]]:
    """Score in percent (one decimal) and per-question correctness; every question counts its points."""
    total = sum(q.points for q in questions)
    results = [(q, is_correct(q, answers.get(str(q.id)))) for q in questions]
    earned = sum(q.points for q, ok in results if ok)
    return (round(100.0 * earned / total, 1) if total else 0.0), results
