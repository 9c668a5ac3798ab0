"""Regression corpus of issue 12: one recipe per known forgery (``corpus/<class>/<name>.json``), applied to a
credential issued afresh (keys are made per test run, so signed documents cannot be stored). Each recipe names the
credential to issue (``issued``: a request of ``oracle.body``, with optional ``issue`` overrides), its ``state``
(active, revoked, suspended), why it is a forgery, and ``ops`` (``jsondoc.apply``: set, insert, delete, move, copy,
rename, wrap, listify at a JSON path; ``{"$from": path, "doc": "companion"}`` copies a value of a genuine active
diploma).

For every recipe: the platform never answers 5xx and does not say valid; vc.js rejects it too (``"vcjs":
"accepts"`` marks the few forgeries vc.js cannot see — the platform's own rules, such as pinned contexts — where the
test checks that vc.js still accepts them, so the recipe stays honest). A recipe with ``issue`` overrides passes as
well when the platform refuses to issue that credential (422 naming the field)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.credentials.differential.conftest import SQLITE_ONLY
from tests.credentials.differential.jsondoc import RecipeError, apply, diff
from tests.credentials.differential.oracle import (
    Genuine,
    PlatformAnswer,
    VcJsAnswer,
    body,
    issue_one,
    platform_verify,
    served_documents,
    set_state,
    vcjs_verify,
)
from tests.support import Platform

CORPUS = Path(__file__).parent / "corpus"
CLASSES = ["dropped-nodes", "dropped-predicates", "lossy-value-objects", "status-not-understood", "escaping",
           "redefined-inline-terms", "vocab-null"]


def _recipes() -> list[dict[str, Any]]:
    recipes = []
    for file in sorted(CORPUS.glob("*/*.json")):
        recipe = json.loads(file.read_text(encoding="utf-8"))
        recipe["file"] = str(file.relative_to(CORPUS))
        recipes.append(recipe)
    return recipes


RECIPES = _recipes()


def test_corpus_covers_every_class_of_issue_12() -> None:
    assert {r["class"] for r in RECIPES} == set(CLASSES), "a class of issue 12 has no recipe (or a recipe names a new class)"
    for r in RECIPES:
        assert r["file"] == f"{r['class']}/{r['name']}.json", f"{r['file']}: file name and class must match the recipe"
        assert r["state"] in ("active", "revoked", "suspended") and r.get("vcjs", "rejects") in ("rejects", "accepts"), r["file"]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = out[key] | value if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class Prepared:
    recipe: dict[str, Any]
    issued: dict[str, Any] | None = None
    refused: dict[str, Any] | None = None
    document: Any = None
    error: str | None = None
    vcjs: VcJsAnswer | None = None


async def _issue(platform: Platform, recipe: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    request = _merge(body(recipe["issued"]), recipe.get("issue", {}))
    if not recipe.get("issue"):
        return await issue_one(platform, request, recipe["state"]), None
    async with platform.client("credentials") as c:
        r = await c.post("/v1/credentials", json=request, headers=await platform.school_headers())
    if r.status_code == 422:
        return None, r.json()
    assert r.status_code == 201, r.text
    await set_state(platform, r.json()["id"], recipe["state"])
    return r.json(), None


@pytest.fixture(scope="module")
async def prepared(platform: Platform, genuine: Genuine, vcjs: None) -> dict[str, Prepared]:
    """Every recipe issued and applied; vc.js's verdicts for all of them from one node process."""
    out: dict[str, Prepared] = {}
    for recipe in RECIPES:
        p = out[recipe["file"]] = Prepared(recipe)
        p.issued, p.refused = await _issue(platform, recipe)
        if p.issued is None:
            continue
        try:
            p.document = apply(p.issued["document"], recipe["ops"], {"companion": genuine.documents["diploma-college"]})
        except RecipeError as exc:
            p.error = str(exc)
    ready = [p for p in out.values() if p.document is not None]
    issued = [p.issued["document"] for p in ready if p.issued] + list(genuine.documents.values())
    answers = await vcjs_verify([p.document for p in ready], await served_documents(platform, issued))
    for p, answer in zip(ready, answers, strict=True):
        p.vcjs = answer
    return out


def _explain(p: Prepared, mine: PlatformAnswer | None) -> str:
    lines = [f"{p.recipe['file']} ({p.recipe['class']}): {p.recipe['why']}"]
    if mine is not None:
        lines.append(f"  platform: {mine.summary()}")
    if p.vcjs is not None:
        lines.append(f"  vc.js:    {p.vcjs.summary()}")
    if p.issued is not None and p.document is not None:
        lines += [f"    {d}" for d in diff(p.issued["document"], p.document)]
    return "\n".join(lines)


@SQLITE_ONLY
@pytest.mark.parametrize("file", [r["file"] for r in RECIPES])
async def test_recipe_is_refused(platform: Platform, prepared: dict[str, Prepared], file: str) -> None:
    p = prepared[file]
    if p.refused is not None:
        fields = [e.get("field") for e in p.refused.get("errors", [])]
        assert fields and all(fields), f"{file}: issuing was refused without naming the field: {p.refused}"
        return
    assert p.error is None, f"{file}: the recipe no longer fits the issued credential ({p.error}); update the recipe"
    assert p.issued is not None and p.vcjs is not None
    if not p.recipe.get("issue"):
        # the recipe starts from a credential in the state it says (else a refusal would prove nothing)
        (before,) = await platform_verify(platform, [p.issued["document"]])
        expected = "valid" if p.recipe["state"] == "active" else p.recipe["state"]
        assert before.result and before.result["outcome"] == expected, f"{file}: the issued credential is {before.summary()}"
    (mine,) = await platform_verify(platform, [p.document])
    if p.recipe.get("vcjs") == "accepts":
        assert p.vcjs.valid, f"vc.js no longer accepts this recipe; move it to the ordinary recipes:\n{_explain(p, mine)}"
    else:
        assert not p.vcjs.valid, f"vc.js accepts this recipe: it is no forgery vc.js can see; fix or drop it:\n{_explain(p, mine)}"
    assert not mine.server_error, f"HTTP {mine.status_code}:\n{_explain(p, mine)}"
    assert not mine.valid, f"the platform says valid:\n{_explain(p, mine)}"
    assert mine.status_code == 200 and mine.result is not None, _explain(p, mine)


@SQLITE_ONLY
async def test_issued_credentials_carry_at_most_one_status_entry(platform: Platform, genuine: Genuine) -> None:
    """Open Badges 3.0 (class 8 of issue 12): an AchievementCredential has 0..1 ``credentialStatus`` — one object,
    not an array of a revocation and a suspension entry (1EdTech's JSON Schema refuses the array)."""
    shapes = {name: type(doc.get("credentialStatus")).__name__ for name, doc in genuine.documents.items()}
    assert all(shape in ("dict", "NoneType") for shape in shapes.values()), f"credentialStatus by credential: {shapes}"
