"""Open Badges 3.0 conformance: credentials issued through the API (a college diploma and a course certificate,
with Vietnamese text) validate against 1EdTech's OB 3.0 AchievementCredential JSON Schema (draft 2019-09, vendored
under ``ob3/`` with its provenance), resolved offline.

One presentation step, the same JSON-LD data: the vendored generation of the schema requires ``proof`` as an array,
while the platform issues VC 2.0's single proof object; the test wraps it in a one-element array (the proof is not
part of the signed data, and a single value and a one-element array are the same in JSON-LD). Everything else is
checked exactly as issued — in particular ``credentialStatus``, which OB 3.0 allows once (0..1)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator
from referencing import Registry, Resource

from tests.credentials.factories import diploma, issue
from tests.support import Platform

SCHEMA_FILE = Path(__file__).parent / "ob3" / "ob_v3p0_achievementcredential_schema.json"
#: the address the OB 3.0 specification gives; the published file's own $id names the json-ld folder (ob3/README.md)
SCHEMA_URL = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"


@cache
def validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"].startswith("https://json-schema.org/draft/2019-09/schema")
    resource = Resource.from_contents(schema)
    # offline: every $ref resolves inside the file; a $ref to anything else would fail (no retrieval is configured)
    registry = Registry().with_resources([(schema["$id"], resource), (SCHEMA_URL, resource)])
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator({"$ref": SCHEMA_URL}, registry=registry, format_checker=Draft201909Validator.FORMAT_CHECKER)


def ob3_errors(document: dict[str, Any]) -> list[str]:
    presented = copy.deepcopy(document)
    if isinstance(presented.get("proof"), dict):
        presented["proof"] = [presented["proof"]]
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
            for e in validator().iter_errors(presented)]


def course_certificate() -> dict[str, Any]:
    return diploma(
        kind="course_certificate", level="course",
        holder={"full_name": "Nguyễn Thị Thu Hương", "birth_place": "Thừa Thiên Huế", "gender": "female"},
        achievement={"code": "KNGT-01", "name": "Kỹ năng giao tiếp và làm việc nhóm", "occupation_code": None,
                     "occupation_name": None, "credits": None, "skill_area": "communication", "hours": 30, "version": "2"},
        graduation={"gpa": None, "classification": None, "decision_number": "45/QĐ-CĐKTCN", "final_score": "8.5"},
    )


async def test_issued_credentials_conform_to_the_ob3_schema(platform: Platform) -> None:
    documents = {
        "diploma": (await issue(platform, diploma(holder={"full_name": "Đặng Thị Ngọc Ánh", "birth_place": "Thành phố Hồ Chí Minh"})))["document"],
        "course certificate": (await issue(platform, course_certificate()))["document"],
    }
    for what, doc in documents.items():
        assert ob3_errors(doc) == [], what
        status = doc["credentialStatus"]
        assert isinstance(status, dict) and status["type"] == "BitstringStatusListEntry", what
        assert status["statusPurpose"] == "revocation", what
    # the schema is really applied: the two-entry array issued before is refused, at credentialStatus
    legacy = copy.deepcopy(documents["diploma"])
    legacy["credentialStatus"] = [legacy["credentialStatus"], dict(legacy["credentialStatus"], statusPurpose="suspension")]
    assert [e.split(":", 1)[0] for e in ob3_errors(legacy)] == ["credentialStatus"]
    assert ob3_errors({k: v for k, v in documents["diploma"].items() if k != "validFrom"})  # required in OB 3.0.3
