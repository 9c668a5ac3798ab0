"""Fuzzing ``POST /v1/verify``: no body may give a 5xx. Seeded random bodies (``FUZZ_SEED``, ``FUZZ_CASES``): raw
bytes that are not JSON or not UTF-8, JSON's odd corners (NaN, huge numbers, duplicate keys, a BOM), deep nesting up
to the 1 MiB body limit (bare and inside a credential), huge strings and arrays, random JSON with JSON-LD keywords
and credential terms as keys, and genuine credentials with random parts replaced by random JSON of any type.

Every answer is 200 with a verification result, or a 4xx RFC 9457 problem; random JSON never verifies."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
from typing import Any

import pytest

from tests.credentials.differential.conftest import SQLITE_ONLY
from tests.credentials.differential.jsondoc import render, set_, walk
from tests.credentials.differential.oracle import Genuine
from tests.support import Platform

SEED = int(os.environ.get("FUZZ_SEED", "1206"))
CASES = int(os.environ.get("FUZZ_CASES", "300"))
LIMIT = 1024 * 1024

KEYS = ["@context", "@id", "@type", "@value", "@language", "@direction", "@list", "@set", "@graph", "@included",
        "@nest", "@reverse", "@vocab", "@base", "@json", "@index", "@protected", "@version", "@import", "@propagate",
        "@none", "@container", "id", "type", "credentialSubject", "credentialStatus", "proof", "issuer", "validFrom",
        "validUntil", "name", "gpa", "classification", "statusPurpose", "statusListIndex", "statusListCredential",
        "verificationMethod", "proofValue", "cryptosuite", "verifiableCredential", "achievement", "_:b0",
        "https://www.w3.org/2018/credentials#credentialSubject", "vet:gpa", "", " ", "\u0000", "tên", "\ud800", "a" * 300]
STRINGS = ["", " ", "https://www.w3.org/ns/credentials/v2", "VerifiableCredential", "DataIntegrityProof", "eddsa-rdfc-2022",
           "_:b0", "urn:x:a b", "did:web:127.0.0.1%3A8000:issuers:CD0101", "did:web:127.0.0.1%3A8000:issuers:CD0101#key-1",
           "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "z" + "1" * 86, "revocation", "suspension",
           "2026-01-01T00:00:00Z", "not a date", "9999-99-99", "\u0000\u0001\u007f", "\u202e", "\ud800", "\U0001f600",
           "Nguyễn", "@id", "@vocab", "http://127.0.0.1:8000/api/credentials/v1/status-lists/00000000-0000-0000-0000-000000000000"]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 5 or roll < 0.35:
        return rng.choice([None, True, False, 0, -1, 2 ** 63, -(2 ** 64), 1.5, 1e308, -0.0, rng.randrange(-10 ** 6, 10 ** 6),
                           rng.choice(STRINGS), "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(12)))])
    if roll < 0.65:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # ASCII escapes: any string, a lone surrogate included, is valid JSON


def raw_bodies(rng: random.Random) -> list[tuple[str, bytes]]:
    """Bodies that are not (plain) JSON, one each."""
    return [
        ("empty", b""), ("whitespace", b" \n\t "), ("null", b"null"), ("number", b"1"), ("string", b'"vc"'), ("array", b"[]"),
        ("true", b"true"), ("invalid-utf8", b'{"a": "\xff\xfe"}'), ("utf16", '{"a": 1}'.encode("utf-16")),
        ("bom", b"\xef\xbb\xbf{}"), ("nan", b'{"validFrom": NaN}'), ("infinity", b'{"a": [Infinity, -Infinity]}'),
        ("huge-exponent", b'{"a": 1e999999}'), ("huge-integer", b'{"a": ' + b"9" * 5000 + b"}"),
        ("duplicate-keys", b'{"@context": 1, "@context": ["https://www.w3.org/ns/credentials/v2"], "type": [], "type": 2}'),
        ("trailing-garbage", b"{}}"), ("unterminated", b'{"a": "'), ("nul-byte", b'{"a": "\x00"}'),
        ("control-in-string", b'{"a": "\x01"}'), ("lone-surrogate-escape", b'{"a": "\\udc00"}'),
        ("wrapper-not-object", b'{"verifiableCredential": 5}'), ("wrapper-array", b'{"verifiableCredential": [{}, {}]}'),
        ("over-limit", b'{"a": "' + b"x" * (LIMIT + 10) + b'"}'),
        ("random-bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))),
    ]


def deep_bodies(genuine: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Nesting as deep as the body limit allows, bare and where a verifier walks (subject, context, status)."""
    out: list[tuple[str, bytes]] = []
    for depth in (100, 1_000, 10_000, 100_000, LIMIT // 2 - 8):
        out.append((f"deep-array-{depth}", b"[" * depth + b"]" * depth))
    for depth in (50, 500, 5_000, 50_000):
        out.append((f"deep-object-{depth}", b'{"a":' * depth + b"1" + b"}" * depth))
        for where in ("credentialSubject", "@context", "credentialStatus", "issuer"):
            doc = dict(genuine, **{where: "__DEEP__"})
            nested = b"[" * depth + b"]" * depth if where == "@context" else b'{"name":' * depth + b'"x"' + b"}" * depth
            out.append((f"deep-{where}-{depth}", _dumps(doc).replace(b'"__DEEP__"', nested, 1)))
    return out


def huge_bodies(rng: random.Random, genuine: dict[str, Any]) -> list[tuple[str, bytes]]:
    big = LIMIT - 64 * 1024
    out = []
    for path in (["credentialSubject", "name"], ["proof", "proofValue"], ["@context", 0], ["issuer", "id"],
                 ["credentialStatus", 0, "statusListIndex"], ["id"]):
        doc = copy.deepcopy(genuine)
        try:
            set_(doc, path, rng.choice(["x", "9", "đ", "\u0000", " "]) * (big // 2))
        except Exception:
            continue
        out.append((f"huge-string {render(path)}", _dumps(doc)))
    doc = copy.deepcopy(genuine)
    doc["@context"] = doc["@context"] * 20_000
    out.append(("many-contexts", _dumps(doc)))
    doc = copy.deepcopy(genuine)
    doc["credentialStatus"] = (doc["credentialStatus"] if isinstance(doc["credentialStatus"], list) else [doc["credentialStatus"]]) * 2_000
    out.append(("many-status-entries", _dumps(doc)))
    doc = copy.deepcopy(genuine)
    # 300 blank nodes; canonicalisation time grows about quadratically with their number (5,000: ~20 s of CPU today)
    doc["credentialSubject"]["identifier"] = [{"type": "IdentityObject", "identityHash": str(i)} for i in range(300)]
    out.append(("many-nodes", _dumps(doc)))
    doc = copy.deepcopy(genuine)
    doc["proof"] = [doc["proof"]] * 3_000
    out.append(("many-proofs", _dumps(doc)))
    doc = copy.deepcopy(genuine)
    for i in range(20_000):
        doc[f"k{i}"] = i
    out.append(("many-keys", _dumps(doc)))
    return out


def mangled(rng: random.Random, genuine: list[dict[str, Any]]) -> tuple[str, bytes]:
    """A genuine credential with 1–4 random parts replaced by random JSON (any type), or random keys added."""
    doc = copy.deepcopy(rng.choice(genuine))
    changes = []
    for _ in range(rng.randint(1, 4)):
        paths = [p for p, _ in walk(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        if rng.random() < 0.2:
            objects = [p for p, v in walk(doc) if isinstance(v, dict)]
            target = rng.choice(objects)
            key = rng.choice(KEYS)
            set_(doc, [*target, key], random_json(rng)) if target else doc.__setitem__(key, random_json(rng))
            changes.append(f"+{render([*target, key])}")
        else:
            set_(doc, path, random_json(rng))
            changes.append(render(path))
    return f"mangled {' '.join(changes)}", _dumps(doc)


@SQLITE_ONLY
async def test_no_body_gives_a_server_error(platform: Platform, genuine: Genuine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "httpx")
    rng = random.Random(SEED)
    docs = list(genuine.documents.values())
    cases: list[tuple[str, bytes]] = raw_bodies(rng) + deep_bodies(docs[0]) + huge_bodies(rng, docs[0])
    fixed = len(cases)
    while len(cases) < max(CASES, fixed + 1):
        if rng.random() < 0.5:
            cases.append(mangled(rng, docs))
        else:
            cases.append(("random", _dumps(random_json(rng))))

    failures = []
    async with platform.client("credentials") as c:
        for i, (name, content) in enumerate(cases):
            r = await c.post("/v1/verify", content=content, headers={"Content-Type": "application/json"})
            label = f"{i:04d} {name} ({len(content)} bytes)"
            if r.status_code >= 500:
                failures.append(f"{label}: HTTP {r.status_code} {r.text[:200]}")
            elif r.status_code == 200:
                result = r.json()
                if not isinstance(result.get("checks"), list) or "outcome" not in result:
                    failures.append(f"{label}: 200 without a verification result: {r.text[:200]}")
                elif result["verified"] and (i < fixed or name == "random"):
                    failures.append(f"{label}: random input verified: {r.text[:200]}")
            elif not r.headers.get("content-type", "").startswith("application/problem+json"):
                failures.append(f"{label}: HTTP {r.status_code} is not problem+json: {r.text[:200]}")
    assert not failures, f"FUZZ_SEED={SEED} FUZZ_CASES={CASES}: {len(failures)} of {len(cases)} bodies:\n" + "\n".join(failures)
