"""Forged copies of genuine credentials that a JSON-LD processor would read without the forged part — dropped nodes,
dropped predicates, lossy value objects, status entries it does not understand, redefined terms — are refused as
malformed by ``POST /v1/verify``, naming the JSON path of the offending part; none gives a 5xx. Each case keeps the
genuine signature: it is valid only if the forged part never reaches the signed data."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.credentials.factories import check, issue, verify
from tests.support import Platform

VC = "https://www.w3.org/2018/credentials#"
FORGED_SUBJECT = {"type": ["AchievementSubject"], "name": "Kẻ Mạo Danh", "gpa": "4.00", "classification": "Xuất sắc"}


def _forge(doc: dict[str, Any], change: Any) -> dict[str, Any]:
    forged = copy.deepcopy(doc)
    change(forged)
    return forged


def _move_subject_under_iri(doc: dict[str, Any]) -> None:
    """Class 1: the real subject under its full-IRI key, a forged one (with an id JSON-LD cannot use) where readers
    look: the forged node and the triples pointing at it would be dropped."""
    doc[VC + "credentialSubject"] = doc["credentialSubject"]
    doc["credentialSubject"] = FORGED_SUBJECT | {"id": "urn:forged subject"}


def _forged_node_with_bad_id(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["achievement"] = doc["credentialSubject"]["achievement"] | {
        "id": "urn:vet:programme:CD0101 6480201", "name": "Kỹ thuật hàng không"}


def _fake_first_status(doc: dict[str, Any]) -> None:
    real = doc["credentialStatus"]
    real = real if isinstance(real, list) else [real]
    fake = copy.deepcopy(real[0]) | {"id": "urn:fake status", "statusListIndex": "0"}
    doc["credentialStatus"] = [fake, *real]


def _blank_node_predicate(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["_:gpa"] = "4.00"


def _value_object(key: str, value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["credentialSubject"]["name"] = {"@value": "Kẻ Mạo Danh", key: value} if key else {"@value": None}
    return change


def _lone_language(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["classification"] = {"@language": "vi"}


def _status(change: Any) -> Any:
    def apply(doc: dict[str, Any]) -> None:
        entries = doc["credentialStatus"]
        change(entries[0] if isinstance(entries, list) else entries)
    return apply


def _purpose_under_iri(entry: dict[str, Any]) -> None:
    entry["https://www.w3.org/ns/credentials/status#statusPurpose"] = entry.pop("statusPurpose")


def _nested_entry(doc: dict[str, Any]) -> None:
    entries = doc["credentialStatus"]
    doc["credentialStatus"] = {"type": "BitstringStatusListEntry", "entry": entries}


def _redefine(doc: dict[str, Any]) -> None:
    """Class 6: swapped definitions of the platform's own terms in an inline context."""
    doc["@context"] = [*doc["@context"], {"classification": "https://vet.gov.vn/ns/credentials#trainingMode",
                                          "trainingMode": "https://vet.gov.vn/ns/credentials#classification"}]
    subject = doc["credentialSubject"]
    subject["classification"], subject["trainingMode"] = subject["trainingMode"], subject["classification"]


def _vocab_null(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["@context"] = {"@vocab": None}


def _undefined_term(doc: dict[str, Any]) -> None:
    doc["credentialSubject"]["diemTrungBinh"] = "4.00"


def _unknown_context(doc: dict[str, Any]) -> None:
    doc["@context"] = [*doc["@context"], "https://example.org/evil-context.jsonld"]


CASES = {
    "dropped node: subject moved under its IRI": (_move_subject_under_iri, "$[\"https://www.w3.org/2018/credentials#credentialSubject\"]"),
    "dropped node: achievement with a space in its id": (_forged_node_with_bad_id, "$.credentialSubject.achievement.id"),
    "dropped node: fake first status entry": (_fake_first_status, "$.credentialStatus[0].id"),
    "dropped predicate: blank-node key": (_blank_node_predicate, '$.credentialSubject["_:gpa"]'),
    "value object: @direction": (_value_object("@direction", "rtl"), "$.credentialSubject.name[\"@value\"]"),
    "value object: @value null": (_value_object("", None), "$.credentialSubject.name[\"@value\"]"),
    "value object: lone @language": (_lone_language, "$.credentialSubject.classification[\"@language\"]"),
    "status: purpose as a list": (_status(lambda e: e.__setitem__("statusPurpose", ["revocation", "suspension"])), ".statusPurpose"),
    "status: purpose as a value object": (_status(lambda e: e.__setitem__("statusPurpose", {"@value": "revocation"})), ".statusPurpose"),
    "status: purpose under its IRI": (_status(_purpose_under_iri), "statusPurpose\"]"),
    "status: extra nesting": (_nested_entry, "$.credentialStatus"),
    "status: unknown member": (_status(lambda e: e.__setitem__("statusSize", "2")), ".statusSize"),
    "status: index not canonical": (_status(lambda e: e.__setitem__("statusListIndex", e["statusListIndex"] + "abc")), ".statusListIndex"),
    "inline context redefining the platform's terms": (_redefine, '$["@context"][3]'),
    "@vocab null inside the subject": (_vocab_null, "$.credentialSubject[\"@context\"]"),
    "undefined term": (_undefined_term, "$.credentialSubject.diemTrungBinh"),
    "context that is not bundled": (_unknown_context, '$["@context"][3]'),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_forged_copy_is_malformed_with_its_path(platform: Platform, case: str) -> None:
    genuine = (await issue(platform))["document"]
    assert (await verify(platform, genuine))["verified"] is True
    change, path = CASES[case]
    result = await verify(platform, _forge(genuine, change))
    assert result["verified"] is False and result["outcome"] == "malformed", result
    problem = check(result, "structure")["problem"]
    assert problem["status"] == 422 and path in problem["path"], (problem, path)


async def test_a_revoked_credential_stays_revoked_whatever_its_status_entries_say(platform: Platform) -> None:
    cred = await issue(platform)
    async with platform.client("credentials") as c:
        r = await c.post(f"/v1/credentials/{cred['id']}/revoke", json={"reason": "Cấp sai"}, headers=await platform.school_headers())
    assert r.status_code == 200, r.text
    doc = cred["document"]
    for change in (_fake_first_status, _status(_purpose_under_iri), _nested_entry,
                   _status(lambda e: e.__setitem__("statusPurpose", ["suspension"]))):
        result = await verify(platform, _forge(doc, change))
        assert result["verified"] is False, result
    assert (await verify(platform, doc))["outcome"] == "revoked"


@pytest.mark.parametrize("body", [
    {"@context": ["https://www.w3.org/ns/credentials/v2"], "credentialSubject": {"@context": {"@vocab": None}}},
    {"@context": ["https://www.w3.org/ns/credentials/v2", {"@vocab": None}], "type": ["VerifiableCredential"]},
    {"@context": "https://www.w3.org/ns/credentials/v2"}, [], "x", 12, None,
    {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiableCredential"], "issuer": "did:key:z",
     "credentialSubject": {"name": "\ud800"}, "proof": {"type": "DataIntegrityProof"}},
])
async def test_odd_documents_are_malformed_not_500(platform: Platform, body: Any) -> None:
    async with platform.client("credentials") as c:
        # json.dumps escapes the lone surrogate (\ud800) as JSON allows; the server decodes it into the text
        r = await c.post("/v1/verify", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "malformed"


async def test_blank_nodes_only_the_full_algorithm_tells_apart(platform: Platform) -> None:
    """Two identical identity objects need RDFC-1.0's N-degree hashing, run off the event loop in a worker process:
    the copies are checked (the signature does not cover the extra objects: tampered), never a 5xx."""
    doc = (await issue(platform))["document"]
    twice = _forge(doc, lambda d: d["credentialSubject"]["identifier"].append(copy.deepcopy(d["credentialSubject"]["identifier"][0])))
    result = await verify(platform, twice)
    assert result["outcome"] == "tampered", result
    many = _forge(doc, lambda d: d["credentialSubject"].__setitem__("identifier", d["credentialSubject"]["identifier"] * 20))
    result = await verify(platform, many)
    assert result["outcome"] == "tampered", result


async def test_documents_past_the_size_bounds_are_malformed(platform: Platform) -> None:
    """Processing grows faster than linearly with the number of objects: an anonymous verification is bounded."""
    doc = (await issue(platform))["document"]
    identity = doc["credentialSubject"]["identifier"][0]
    many = _forge(doc, lambda d: d["credentialSubject"].__setitem__(
        "identifier", [identity | {"salt": f"{i:032x}"} for i in range(300)]))
    result = await verify(platform, many)
    assert result["outcome"] == "malformed" and "more than 256 objects" in check(result, "structure")["problem"]["detail"], result
    deep: Any = "x"
    for _ in range(30):
        deep = {"name": deep}
    result = await verify(platform, _forge(doc, lambda d: d["credentialSubject"].__setitem__("signer", deep)))
    assert result["outcome"] == "malformed" and "levels deep" in check(result, "structure")["problem"]["detail"], result
