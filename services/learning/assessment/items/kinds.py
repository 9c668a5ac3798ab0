"""Item kinds without the database: an item's options and key from what its author sends, what a learner is shown
(never the key), and the credit (0–1) an answer earns.

The five kinds the courses' quizzes know (single, multiple, true/false, matching, numeric with a tolerance) are
built and graded by :mod:`services.learning.courses.grading`, so a question means the same in a quiz and in an
exam. Ordering and cloze are graded here; essays and file uploads are scored by a person (credit ``None`` until
then)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from services.common.errors import ValidationFailed
from services.learning.assessment.items.schemas import MANUAL_KINDS, QUIZ_KINDS, ItemCreate, ItemShown, OptionRead
from services.learning.courses import grading
from services.learning.courses.schemas import QuestionCreate

BLANK = re.compile(r"\{\{(\d{1,2})\}\}")
#: longest essay answer (characters) and longest text given for a blank
ESSAY_MAX_CHARS = 50_000
BLANK_MAX_CHARS = 500


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"The item is not valid: {message}.", errors=[{"field": field, "message": message}])


def _oid() -> str:
    return secrets.token_hex(4)


def normalise(text: str, case_sensitive: bool = False) -> str:
    """How a blank's answer is compared: NFC, spaces collapsed, case folded unless the blank says otherwise."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return text if case_sensitive else text.casefold()


def build(body: ItemCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options, key) of a new item; ValidationFailed naming the field otherwise."""
    own = {"sequence": body.sequence, "blanks": body.blanks, "guidance": body.guidance, "max_words": body.max_words,
           "accept": body.accept}
    allowed = {"ordering": {"sequence"}, "cloze": {"blanks"}, "essay": {"guidance", "max_words"},
               "file_upload": {"guidance", "accept"}}.get(body.kind, set())
    for field, value in own.items():
        if value is not None and field not in allowed:
            raise _fail(field, f"a {body.kind} item has no {field}")
    if body.kind in QUIZ_KINDS:
        question = QuestionCreate.model_validate({"kind": body.kind, "prompt": body.prompt, "points": body.points, "choices": body.choices,
                                                  "pairs": body.pairs, "answer": body.answer, "tolerance": body.tolerance})
        return grading.build(question)
    for field in ("choices", "pairs", "answer"):
        if getattr(body, field) is not None:
            raise _fail(field, f"a {body.kind} item has no {field}")
    if body.kind == "ordering":
        if not body.sequence or len(body.sequence) < 2:
            raise _fail("sequence", "at least two steps are needed")
        steps = [{"id": _oid(), "text": text} for text in body.sequence]
        order = [s["id"] for s in steps]
        steps.sort(key=lambda s: s["id"])  # stored apart from the order
        return {"sequence": steps}, {"order": order}
    if body.kind == "cloze":
        if not body.blanks:
            raise _fail("blanks", "a cloze item needs its blanks")
        found = [int(n) for n in BLANK.findall(body.prompt)]
        if found != list(range(1, len(body.blanks) + 1)):
            raise _fail("prompt", f"the prompt must hold the blanks {{{{1}}}} to {{{{{len(body.blanks)}}}}}, each once and in order")
        blanks = [{"accepted": sorted({normalise(a, b.case_sensitive) for a in b.accepted}), "case_sensitive": b.case_sensitive}
                  for b in body.blanks]
        return {"blanks": len(blanks)}, {"blanks": blanks}
    options: dict[str, Any] = {}
    if body.kind == "essay" and body.max_words:
        options["max_words"] = body.max_words
    if body.kind == "file_upload":
        options["accept"] = sorted(set(body.accept or ["image", "pdf", "document"]))
    return options, {"guidance": body.guidance or ""}


def _options(raw: list[dict[str, Any]] | None, order: list[str] | None = None) -> list[OptionRead] | None:
    if raw is None:
        return None
    by_id = {o["id"]: o for o in raw}
    ids = order if order is not None else sorted(by_id)
    return [OptionRead(id=i, text=by_id[i]["text"]) for i in ids if i in by_id]


def arrangement(item: Any, rng: Any, shuffle: bool) -> dict[str, Any]:
    """The order a form shows an item's options in (``rng``: the form's seeded generator). Matching's right side and
    an ordering item's steps are always shuffled (their stored order is by random id, which is no order at all)."""
    shown: dict[str, Any] = {"item_id": str(item.id)}
    for part in ("choices", "left", "right", "sequence"):
        ids = [o["id"] for o in item.options.get(part, [])]
        if not ids:
            continue
        if part in ("right", "sequence") or (shuffle and part == "choices"):
            rng.shuffle(ids)
        shown[part] = ids
    return shown


def shown(item: Any, entry: dict[str, Any] | None = None) -> ItemShown:
    """``item`` as a learner sees it, in the order ``entry`` (the form's) gives; no key."""
    entry = entry or {}
    options = item.options
    return ItemShown(
        id=item.id, kind=item.kind, prompt=item.prompt, points=item.points,
        choices=_options(options.get("choices"), entry.get("choices")) if "choices" in options else None,
        left=_options(options.get("left"), entry.get("left") or [o["id"] for o in options.get("left", [])]) if item.kind == "matching" else None,
        right=_options(options.get("right"), entry.get("right")) if item.kind == "matching" else None,
        sequence=_options(options.get("sequence"), entry.get("sequence")) if item.kind == "ordering" else None,
        blanks=options.get("blanks") if item.kind == "cloze" else None,
        max_words=options.get("max_words"), accept=options.get("accept"),
    )


def public_parts(item: Any) -> dict[str, Any]:
    """The options as the bank's managers see them (stored order)."""
    s = shown(item)
    return {k: getattr(s, k) for k in ("choices", "left", "right", "sequence", "blanks", "max_words", "accept")}


def check_answer(item: Any, answer: Any, field: str = "answer") -> None:
    """A learner's answer has the shape the item takes (bounded); 422 naming ``field`` otherwise. Shape only: a
    wrong answer is a valid answer."""
    kind = item.kind
    ok = True
    if answer is None:
        return
    if kind == "essay":
        ok = isinstance(answer, str) and len(answer) <= ESSAY_MAX_CHARS
    elif kind == "cloze":
        ok = (isinstance(answer, list) and len(answer) == item.options.get("blanks")
              and all(isinstance(a, str) and len(a) <= BLANK_MAX_CHARS for a in answer))
    elif kind in ("ordering", "multiple"):
        ok = isinstance(answer, list) and len(answer) <= 50 and all(isinstance(a, str) and len(a) <= 50 for a in answer)
    elif kind == "single":
        ok = isinstance(answer, str) and len(answer) <= 50
    elif kind == "true_false":
        ok = isinstance(answer, bool)
    elif kind == "numeric":
        ok = (isinstance(answer, (int, float)) and not isinstance(answer, bool)) or (isinstance(answer, str) and len(answer) <= 50)
    elif kind == "matching":
        ok = isinstance(answer, dict) and len(answer) <= 50 and all(isinstance(v, str) and len(v) <= 50 for v in answer.values())
    elif kind == "file_upload":
        raise ValidationFailed("A file is sent to the item's file address, not as an answer.",
                               errors=[{"field": field, "message": "send the file with PUT …/responses/{item_id}/file"}])
    if not ok:
        raise ValidationFailed(f"The answer does not fit a {kind} item.", errors=[{"field": field, "message": f"not a {kind} answer"}])


def credit(item: Any, answer: Any) -> float | None:
    """What an answer earns, 0–1 of the item's points; None for the kinds a person scores."""
    if item.kind in MANUAL_KINDS:
        return None
    if answer is None:
        return 0.0
    if item.kind in QUIZ_KINDS:
        return 1.0 if grading.is_correct(item, answer) else 0.0
    key = item.answer
    if item.kind == "ordering":
        return 1.0 if isinstance(answer, list) and answer == key["order"] else 0.0
    if item.kind == "cloze":
        blanks = key["blanks"]
        if not isinstance(answer, list) or len(answer) != len(blanks):
            return 0.0
        right = sum(1 for given, blank in zip(answer, blanks, strict=True)
                    if isinstance(given, str) and normalise(given, blank["case_sensitive"]) in blank["accepted"])
        return right / len(blanks)
    return 0.0
