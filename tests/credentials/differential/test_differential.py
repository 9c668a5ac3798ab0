"""Differential testing against the W3C reference verifier: several hundred credentials mutated from genuine ones
(seeded; see ``mutations.py``) are verified by the platform (``POST /v1/verify``) and by Digital Bazaar's vc.js
(eddsa-rdfc-2022 + Bitstring Status List) — one node process for the batch. The platform may be stricter than
vc.js; it must never say valid where vc.js does not.

Environment: ``DIFF_SEED`` (default below), ``DIFF_CASES`` (default 400), ``DIFF_FILTER`` (a regular expression:
only the cases whose names match, e.g. ``'^0042 '``; names are stable for a seed), ``DIFF_REPORT`` (a file to write
every case's verdicts and diff to, as JSON)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.credentials.differential.conftest import SQLITE_ONLY
from tests.credentials.differential.jsondoc import diff
from tests.credentials.differential.mutations import Case, Env, entries_of, generate
from tests.credentials.differential.oracle import Genuine, PlatformAnswer, VcJsAnswer, platform_verify, served_documents, vcjs_verify
from tests.support import Platform

pytestmark = SQLITE_ONLY

SEED = int(os.environ.get("DIFF_SEED", "20261206"))
CASES = int(os.environ.get("DIFF_CASES", "400"))
FILTER = os.environ.get("DIFF_FILTER")
REPORT = os.environ.get("DIFF_REPORT")
SHOWN = 40


async def test_genuine_credentials_verify_in_both(platform: Platform, genuine: Genuine, vcjs: None) -> None:
    """Every genuine credential: valid in both; revoked and suspended ones recognised as such by both — except a
    suspension the document does not name (README, credential status: suspension is the platform's own state, answered
    from its record), which vc.js cannot see: there vc.js must find the credential valid."""
    docs = list(genuine.documents.values())
    ours = await platform_verify(platform, docs)
    theirs = await vcjs_verify(docs, await served_documents(platform, docs))
    problems = []
    for name, mine, ref in zip(genuine.names(), ours, theirs, strict=True):
        expected = genuine.expected[name]
        outcome = mine.result.get("outcome") if mine.result else None
        if expected == "valid":
            ref_ok = ref.valid
        else:
            purpose = "revocation" if expected == "revoked" else "suspension"
            named = any(isinstance(e, dict) and e.get("statusPurpose") == purpose for e in entries_of(genuine.documents[name]))
            if named:
                ref_ok = ref.verified and {s["purpose"]: s["value"] for s in ref.status}.get(purpose) is True
            else:
                ref_ok = ref.valid
        if outcome != expected or not ref_ok:
            problems.append(f"{name}: expected {expected}; platform {mine.summary()}; vc.js {ref.summary()}")
    assert not problems, "\n".join(problems)


def _line(case: Case, mine: PlatformAnswer, ref: VcJsAnswer) -> str:
    return f"{case.name}\n    platform: {mine.summary()}\n    vc.js:    {ref.summary()}"


async def test_platform_never_says_valid_where_vcjs_does_not(platform: Platform, genuine: Genuine, env: Env, vcjs: None,
                                                              capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "httpx")  # hundreds of request lines would bury the failure message
    cases = generate(SEED, CASES, env)
    if FILTER:
        cases = [c for c in cases if re.search(FILTER, c.name)]
    assert cases, f"no case matches DIFF_FILTER={FILTER!r}"
    docs = [c.document for c in cases]
    ours = await platform_verify(platform, docs)
    theirs = await vcjs_verify(docs, await served_documents(platform, list(genuine.documents.values())))

    laxer, stricter, errors = [], [], []
    table: dict[str, Counter[str]] = {}
    for case, mine, ref in zip(cases, ours, theirs, strict=True):
        if mine.server_error:
            verdict = "5xx"
            errors.append((case, mine, ref))
        elif mine.valid and not ref.valid:
            verdict = "platform-laxer"
            laxer.append((case, mine, ref))
        elif ref.valid and not mine.valid:
            verdict = "platform-stricter"
            stricter.append((case, mine, ref))
        else:
            verdict = "both-valid" if mine.valid else "both-invalid"
        table.setdefault(case.family, Counter())[verdict] += 1

    if REPORT:
        report = json.dumps([
            {"name": c.name, "family": c.family, "base": c.base, "platform": m.summary(), "platform_valid": m.valid,
             "status_code": m.status_code, "vcjs": r.summary(), "vcjs_valid": r.valid,
             "diff": diff(genuine.documents[c.base], c.document), "document": c.document}
            for c, m, r in zip(cases, ours, theirs, strict=True)], indent=1)
        await asyncio.to_thread(Path(REPORT).write_text, report, encoding="utf-8")

    summary = [f"differential: seed {SEED}, {len(cases)} cases"
               + (f" (DIFF_FILTER={FILTER!r})" if FILTER else "")
               + f": platform laxer {len(laxer)}, 5xx {len(errors)}, platform stricter {len(stricter)}"]
    for family, counts in sorted(table.items()):
        summary.append(f"  {family:15} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if stricter:
        summary.append("  stricter than vc.js (allowed), e.g.:")
        summary += [f"    {c.name} — platform: {m.summary()[:120]}" for c, m, _ in stricter[:8]]
    with capsys.disabled():
        print("\n" + "\n".join(summary))

    if laxer or errors:
        lines = [f"The platform said valid (or answered 5xx) where vc.js did not — seed {SEED}.",
                 f"Reproduce one: DIFF_SEED={SEED} DIFF_CASES={CASES} DIFF_FILTER='^{(errors + laxer)[0][0].name[:4]} ' "
                 "pytest tests/credentials/differential/test_differential.py -k never_says", *summary, ""]
        for case, mine, ref in (errors + laxer)[:SHOWN]:
            lines.append(_line(case, mine, ref))
            changes = diff(genuine.documents[case.base], case.document)
            lines += [f"      {d}" for d in changes[:12]] + ([f"      … {len(changes) - 12} more changes"] if len(changes) > 12 else [])
        rest = (errors + laxer)[SHOWN:]
        if rest:
            lines.append(f"… and {len(rest)} more: " + "; ".join(c.name for c, _, _ in rest))
        pytest.fail("\n".join(lines), pytrace=False)
