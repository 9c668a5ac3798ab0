"""Canonicalisation by document shape gives exactly the full path's canonical N-Quads (or its refusal) — for the documents
the platform issues and for many variations of them meant to trip it: values that are IRIs, blank node labels,
terms, keywords, relative or malformed IRIs, equal values where pyld merges nodes or quads, identical blank nodes,
escapes, numbers, undefined properties and changed structure — each seen in a shuffled order and more than once,
so that templates learnt from one document are reused for others."""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.credentials.issuing.builder import Numbers, build
from services.credentials.issuing.schemas import CredentialIssue
from services.credentials.proofs import contexts, dataintegrity, safemode
from services.credentials.proofs.contexts import DID_V1, MULTIKEY_V1, VC_V2
from services.credentials.proofs.shapes import MARK, NotTemplatable, ShapeCanonicalizer
from tests.credentials.factories import diploma

ISSUER = "did:web:127.0.0.1%3A8000:issuers:CD0101"
LISTS = "http://127.0.0.1:8000/api/credentials/v1/status-lists/"


def _issued(body: dict[str, Any], when: datetime, *, legacy_status: bool = False) -> dict[str, Any]:
    """A document as the builder makes it; ``legacy_status``: with the two-entry credentialStatus issued before
    (holders keep such copies, so they are canonicalised too)."""
    item = CredentialIssue.model_validate(body)
    status = [
        {"id": f"{LISTS}{lst}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": purpose,
         "statusListIndex": str(index), "statusListCredential": f"{LISTS}{lst}"}
        for purpose, lst, index in (("revocation", uuid.uuid4(), 17), ("suspension", uuid.uuid4(), 90210))
    ]
    doc = build(item, credential_id=uuid.uuid4(), issuer_did=ISSUER, issuer_name="Trường Cao đẳng (thử)", issued_at=when,
                numbers=Numbers("CD0101/2026/000001", "0001/2026"), status=status[0])
    return doc | {"credentialStatus": status} if legacy_status else doc


def _documents() -> list[dict[str, Any]]:
    when = datetime(2026, 7, 1, 3, 4, 5, tzinfo=UTC)
    docs = [
        _issued(diploma(), when),
        _issued(diploma(), when, legacy_status=True),
        _issued(diploma(level="intermediate", achievement={"code": "5480202", "occupation_code": "5480202"}), when),
        _issued(diploma(kind="certificate", level="elementary", holder={"id_number": None}), when),
        _issued(diploma(kind="course_certificate", level="course", graduation={"gpa": None, "classification": None},
                        achievement={"code": "KNM-01", "occupation_code": None, "occupation_name": None, "credits": None,
                                     "skill_area": "communication", "hours": 30, "version": "2"}), when),
    ]
    status_list = {
        "@context": [VC_V2], "id": f"{LISTS}{uuid.uuid4()}", "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": ISSUER, "validFrom": "2026-07-01T03:04:05Z",
        "credentialSubject": {"id": f"{LISTS}x#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
                              "encodedList": "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"},
    }
    did = {
        "@context": [DID_V1, MULTIKEY_V1, {"vet": "https://vet.gov.vn/ns/credentials#",
                                           "currentSigningKey": {"@id": "vet:currentSigningKey", "@type": "@id"}}],
        "id": ISSUER,
        "verificationMethod": [{"id": f"{ISSUER}#k1", "type": "Multikey", "controller": ISSUER,
                                "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}],
        "assertionMethod": [f"{ISSUER}#k1"],
        "currentSigningKey": f"{ISSUER}#k1",
    }
    # two keys; properties typed @vocab, @id and xsd:double, whose values may be terms or compact IRIs
    did_two_keys = copy.deepcopy(did) | {"assertionMethod": [f"{ISSUER}#k1", f"{ISSUER}#k2"]}
    vocab = {
        "@context": [VC_V2, {"ex": "https://example.org/", "thing": "ex:thing", "other": "https://example.org/other",
                             "kind": {"@id": "ex:kind", "@type": "@vocab"}, "link": {"@id": "ex:link", "@type": "@id"},
                             "tags": {"@id": "ex:tags", "@container": "@set"}, "part": "ex:part",
                             "score": {"@id": "ex:score", "@type": "http://www.w3.org/2001/XMLSchema#double"}}],
        "id": "urn:uuid:" + str(uuid.uuid4()), "type": ["VerifiableCredential"], "issuer": ISSUER,
        # blank nodes whose lists may hold equal values, and a string that pyld rewrites as an xsd:double
        "credentialSubject": {"kind": "thing", "link": "ex:a", "tags": ["a", "b", "c"], "score": "3.12",
                              "part": {"tags": ["x", "y"]}},
    }
    options = [{"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "created": "2026-07-01T03:04:05Z",
                "verificationMethod": f"{ISSUER}#k1", "proofPurpose": "assertionMethod", "@context": d["@context"]}
               for d in docs[:2]]
    return [*docs, status_list, did, did_two_keys, vocab, *options]


#: values meant to behave differently from an ordinary string somewhere in JSON-LD processing
TRICKY = [
    "Nguyễn Thị Ánh", "", " ", 'say "hi"\\ \n\t\r', "urn:uuid:" + str(uuid.uuid4()), "https://example.org/a b",
    "https://example.org/x", "http:relative", "did:key:z6Mk", "_:b0", "_:b1", "@id", "@type", "@nonsense", "Diploma",
    "Certificate", "xsd:string", "vet:foo", "schema:x", "vet", "a:b c", "1://x", "//host/p", "../up", "#frag", "x:",
    "mailto:a@b.vn", "Achievement", "id", "2026-07-01", "3.12", "NaN", "true", "0", "a" * 300, "ex:thing", "thing",
    "other", "ex:unknown",
    # control characters, DEL and C1, IRI-special characters, NFC/NFD, astral and private-use characters
    "\x00", "\x08tên\x7f", "a\x85b\u2028c", "Nguye\u0302\u0303n", "e\u0301", "urn:a|b", "urn:x{y}", 'urn:a"b', "urn:a<b>",
    "urn:a\\b", "urn:a^b", "urn:a`b", "urn:a b", "🌃 \ufeff", "urn:🌃", "https://example.org/Nguyễn", "\ue001",
]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() if k != "@context" for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _get(doc: dict[str, Any], path: tuple[Any, ...]) -> Any:
    target: Any = doc
    for key in path:
        target = target[key]
    return target


def _variants(base: dict[str, Any], rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    leaves = _leaves(base)
    strings = [p for p in leaves if isinstance(_get(base, p), str)]
    mutations: list[Callable[[dict[str, Any]], None]] = [
        # ordinary new values everywhere (the common case: another learner's diploma)
        lambda d: [_set(d, p, f"{_get(d, p)}-{rng.randrange(10**6)}") for p in strings if not str(_get(d, p)).startswith(("http", "urn", "did"))],
        lambda d: [_set(d, p, rng.choice(TRICKY)) for p in rng.sample(strings, min(3, len(strings)))],
        lambda d: _set(d, rng.choice(strings), rng.choice(TRICKY)),
        # equal IRIs: pyld merges the nodes
        lambda d: [_set(d, p, _get(d, strings[0])) for p in rng.sample(strings, min(2, len(strings)))],
        lambda d: _set(d, rng.choice(strings), _get(d, rng.choice(strings))),
        lambda d: _set(d, rng.choice(leaves), rng.choice([0, 1, -7, 2.5, 1e22, True, False, None, 10**21])),
        lambda d: _set(d, rng.choice(strings), "x" + MARK + "1" + MARK),
        # every string of a list made equal: pyld keeps one quad of equal ones
        lambda d: [_set(d, p, _get(d, (*p[:-1], 0))) for p in strings if isinstance(p[-1], int)],
        # structure: an undefined property (refused), a duplicated or removed node, a type changed
        lambda d: d.setdefault("credentialSubject", {}).__setitem__("notAProperty", "x") if isinstance(d.get("credentialSubject"), dict) else None,
        lambda d: _duplicate_first_list_item(d),
        lambda d: d.pop(rng.choice([k for k in d if k != "@context"])),
        lambda d: _set(d, ("type",), ["VerifiableCredential"]) if "type" in d else None,
    ]
    for _ in range(n):
        doc = copy.deepcopy(base)
        for mutate in rng.sample(mutations, rng.randint(1, 2)):
            try:
                mutate(doc)
            except (KeyError, IndexError, TypeError, ValueError):
                pass
        out.append(doc)
    return out


def _duplicate_first_list_item(doc: Any) -> bool:
    """Two identical blank nodes (equal first-degree hashes: the full URDNA2015 decides)."""
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                value.append(copy.deepcopy(value[0]))
                return True
            if _duplicate_first_list_item(value):
                return True
    return False


def _outcome(fn: Callable[[dict[str, Any]], str], doc: dict[str, Any]) -> tuple[str, str]:
    try:
        return "ok", fn(doc)
    except Exception as exc:  # the same kind of refusal is what matters
        return "error", type(exc).__name__


def test_shapes_give_pyld_s_canonical_form() -> None:
    rng = random.Random(20261128)
    shapes = ShapeCanonicalizer(contexts.to_rdf, contexts.bundled())
    cases = []
    for base in _documents():
        cases += [base, *_variants(base, rng, 60)]
    expected = [_outcome(contexts.canonize_full, doc) for doc in cases]
    # safe mode refuses most tricky variants (and the DID and inline-context documents outright); enough are still
    # canonicalised for the templates to be exercised
    assert sum(1 for kind, _ in expected if kind == "ok") >= 150

    def canonize(doc: dict[str, Any]) -> str:
        safemode.precheck(doc)  # as contexts.canonize does before the shapes
        try:
            return shapes.canonize(doc)
        except NotTemplatable:
            return contexts.canonize_full(doc)

    for round_ in range(3):
        misses = shapes.misses
        order = list(range(len(cases)))
        rng.shuffle(order)
        for i in order:
            assert _outcome(canonize, cases[i]) == expected[i], (round_, cases[i])
    # by the third round every shape has settled: documents are only filled into templates
    assert shapes.misses == misses and shapes.hits > len(cases)


def test_documents_of_one_shape_share_one_template() -> None:
    shapes = ShapeCanonicalizer(contexts.to_rdf, contexts.bundled())
    when = datetime(2026, 7, 1, tzinfo=UTC)
    people = [("Nguyễn Văn An", "2004-01-02", "male", "Hà Nội", "3.01"), ("Trần Thị Bình", "2003-12-31", "female", "Huế", "2.50"),
              ("Lê Hoàng Cường", "2002-06-15", "male", "Cần Thơ", "3.87"), ("Phạm Thị Dung", "2005-03-08", "female", "Đà Nẵng", "2.00")]
    for name, born, gender, place, gpa in people * 3:
        doc = _issued(diploma(holder={"full_name": name, "date_of_birth": born, "gender": gender, "birth_place": place},
                              graduation={"gpa": gpa}), when)
        assert shapes.canonize(doc) == contexts.canonize_full(doc)
    assert (shapes.misses, shapes.hits) == (1, len(people) * 3 - 1)


def test_canonize_uses_shapes_and_signatures_still_verify() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    when = datetime(2026, 7, 1, tzinfo=UTC)
    docs = [_issued(diploma(holder={"full_name": f"Lê Thị {n}"}), when) for n in ("Hoa", "Lan", "Mai")]
    signed = [dataintegrity.sign(d, key, f"{ISSUER}#k1", created=when) for d in docs]
    for doc in signed:
        assert dataintegrity.verify(doc, key.public_key())
        unsecured = {k: v for k, v in doc.items() if k != "proof"}
        assert contexts.canonize(unsecured) == contexts.canonize_full(unsecured)
        tampered = copy.deepcopy(doc)
        tampered["credentialSubject"]["name"] = "Lê Thị Hoà"
        assert not dataintegrity.verify(tampered, key.public_key())


@pytest.mark.parametrize("value", ["_:b0", "@id", "Diploma", "x" + MARK + "0" + MARK])
def test_values_that_shape_processing_are_not_templated_over(value: str) -> None:
    base = _documents()[0]
    doc = copy.deepcopy(base)
    doc["credentialSubject"]["achievement"]["id"] = value
    assert _outcome(contexts.canonize, doc) == _outcome(contexts.canonize_full, doc)


def test_one_canonicalizer_shared_by_threads() -> None:
    """The service canonicalises on the event loop and in its signing thread at once."""
    from concurrent.futures import ThreadPoolExecutor

    shapes = ShapeCanonicalizer(contexts.to_rdf, contexts.bundled())
    when = datetime(2026, 7, 1, tzinfo=UTC)
    docs = [_issued(diploma(holder={"full_name": f"Đỗ Minh {i}"}, level=("college", "intermediate")[i % 2],
                            achievement={"code": ("6480201", "5480202")[i % 2], "occupation_code": ("6480201", "5480202")[i % 2]}), when)
            for i in range(40)]
    expected = [contexts.canonize_full(d) for d in docs]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(shapes.canonize, docs * 3)) == expected * 3
