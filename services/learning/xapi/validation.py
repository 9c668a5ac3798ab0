"""xAPI 1.0.3 statement validation (the parts an LRS must check) and the keys statements are filtered by.

Errors name the offending property (``actor.mbox``, ``3.verb.id`` in a batch) and become 400 problem+json."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

from services.common.errors import BadRequest

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
STATEMENT_KEYS = {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments"}
SUBSTATEMENT_KEYS = {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
AGENT_KEYS = {"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"}
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_DURATION = re.compile(r"^P(?!$)(\d+(?:\.\d+)?Y)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?W)?(\d+(?:\.\d+)?D)?"
                       r"(T(?=\d)(\d+(?:\.\d+)?H)?(\d+(?:\.\d+)?M)?(\d+(?:\.\d+)?S)?)?$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


class Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def bad_request(errors: list[Invalid] | Invalid) -> BadRequest:
    errors = errors if isinstance(errors, list) else [errors]
    listed = [{"field": e.field, "message": e.message} for e in errors]
    return BadRequest(f"The statement is not valid: {listed[0]['field']}: {listed[0]['message']}.", errors=listed)


def _obj(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(field, "must be an object")
    return value


def _unknown(value: dict[str, Any], allowed: set[str], field: str) -> None:
    extra = sorted(set(value) - allowed)
    if extra:
        raise Invalid(f"{field}.{extra[0]}" if field else extra[0], "is not a property of xAPI 1.0.3")


def _iri(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _IRI.match(value):
        raise Invalid(field, "must be an absolute IRI")
    return value


def iri(value: Any, field: str) -> str:
    """``value`` if it is an absolute IRI; else :class:`Invalid` naming ``field``."""
    return _iri(value, field)


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        if not isinstance(value, str):
            raise ValueError
        return uuid.UUID(value)
    except ValueError:
        raise Invalid(field, "must be a UUID") from None


def timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise Invalid(field, "must be an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, "must be an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise Invalid(field, "must carry a time zone")
    return parsed


def _lang_map(value: Any, field: str) -> None:
    value = _obj(value, field)
    for key, text in value.items():
        if not _LANG.match(key) or not isinstance(text, str):
            raise Invalid(f"{field}.{key}", "a language map maps RFC 5646 tags to strings")


def agent(value: Any, field: str, *, group_allowed: bool = True) -> dict[str, Any]:
    value = _obj(value, field)
    kind = value.get("objectType", "Agent")
    if kind == "Group" and group_allowed:
        members = value.get("member")
        _unknown(value, AGENT_KEYS | {"member"}, field)
        if members is not None:
            if not isinstance(members, list):
                raise Invalid(f"{field}.member", "must be an array of agents")
            for i, m in enumerate(members):
                agent(m, f"{field}.member.{i}", group_allowed=False)
        ifis = [k for k in IFIS if k in value]
        if not ifis and not members:
            raise Invalid(field, "an anonymous group needs its members")
    elif kind == "Agent":
        _unknown(value, AGENT_KEYS, field)
        ifis = [k for k in IFIS if k in value]
        if len(ifis) != 1:
            raise Invalid(field, "an agent has exactly one of mbox, mbox_sha1sum, openid, account")
    else:
        raise Invalid(f"{field}.objectType", "must be Agent or Group")
    if "name" in value and not isinstance(value["name"], str):
        raise Invalid(f"{field}.name", "must be a string")
    if "mbox" in value and (not isinstance(value["mbox"], str) or not value["mbox"].startswith("mailto:") or "@" not in value["mbox"]):
        raise Invalid(f"{field}.mbox", "must be a mailto: IRI")
    if "mbox_sha1sum" in value and (not isinstance(value["mbox_sha1sum"], str) or not _SHA1.match(value["mbox_sha1sum"])):
        raise Invalid(f"{field}.mbox_sha1sum", "must be a SHA-1 hex digest")
    if "openid" in value:
        _iri(value["openid"], f"{field}.openid")
    if "account" in value:
        account = _obj(value["account"], f"{field}.account")
        _unknown(account, {"homePage", "name"}, f"{field}.account")
        _iri(account.get("homePage"), f"{field}.account.homePage")
        if not isinstance(account.get("name"), str) or not account["name"]:
            raise Invalid(f"{field}.account.name", "is required")
    return value


def agent_key(value: dict[str, Any]) -> str:
    """The inverse functional identifier as one string: what ``agent=`` filters on."""
    if "mbox" in value:
        return "mbox:" + value["mbox"].lower()
    if "mbox_sha1sum" in value:
        return "sha1:" + value["mbox_sha1sum"].lower()
    if "openid" in value:
        return "openid:" + value["openid"]
    if "account" in value:
        return f"account:{value['account']['homePage']}|{value['account']['name']}"
    members = sorted(agent_key(m) for m in value.get("member", []))
    return "group:" + ",".join(members)


def _activity(value: dict[str, Any], field: str) -> None:
    _unknown(value, {"objectType", "id", "definition"}, field)
    _iri(value.get("id"), f"{field}.id")
    if "definition" in value:
        definition = _obj(value["definition"], f"{field}.definition")
        for lm in ("name", "description"):
            if lm in definition:
                _lang_map(definition[lm], f"{field}.definition.{lm}")
        for iri in ("type", "moreInfo"):
            if iri in definition:
                _iri(definition[iri], f"{field}.definition.{iri}")


def _verb(value: Any, field: str) -> dict[str, Any]:
    value = _obj(value, field)
    _unknown(value, {"id", "display"}, field)
    _iri(value.get("id"), f"{field}.id")
    if "display" in value:
        _lang_map(value["display"], f"{field}.display")
    return value


def _result(value: Any, field: str) -> None:
    value = _obj(value, field)
    _unknown(value, {"score", "success", "completion", "response", "duration", "extensions"}, field)
    for flag in ("success", "completion"):
        if flag in value and not isinstance(value[flag], bool):
            raise Invalid(f"{field}.{flag}", "must be true or false")
    if "duration" in value and (not isinstance(value["duration"], str) or not _DURATION.match(value["duration"])):
        raise Invalid(f"{field}.duration", "must be an ISO 8601 duration")
    if "score" in value:
        score = _obj(value["score"], f"{field}.score")
        _unknown(score, {"scaled", "raw", "min", "max"}, f"{field}.score")
        for k, v in score.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise Invalid(f"{field}.score.{k}", "must be a number")
        if "scaled" in score and not -1 <= score["scaled"] <= 1:
            raise Invalid(f"{field}.score.scaled", "must be between -1 and 1")
        if "min" in score and "max" in score and score["min"] > score["max"]:
            raise Invalid(f"{field}.score.min", "must not exceed max")
        if "raw" in score and (("min" in score and score["raw"] < score["min"]) or ("max" in score and score["raw"] > score["max"])):
            raise Invalid(f"{field}.score.raw", "must lie between min and max")


def _context(value: Any, field: str, object_type: str) -> uuid.UUID | None:
    value = _obj(value, field)
    _unknown(value, {"registration", "instructor", "team", "contextActivities", "revision", "platform", "language", "statement", "extensions"}, field)
    registration = _uuid(value["registration"], f"{field}.registration") if "registration" in value else None
    if "instructor" in value:
        agent(value["instructor"], f"{field}.instructor")
    if "team" in value:
        team = agent(value["team"], f"{field}.team")
        if team.get("objectType") != "Group":
            raise Invalid(f"{field}.team", "must be a Group")
    for prop in ("revision", "platform"):
        if prop in value:
            if not isinstance(value[prop], str):
                raise Invalid(f"{field}.{prop}", "must be a string")
            if object_type != "Activity":
                raise Invalid(f"{field}.{prop}", "is only allowed when the object is an Activity")
    return registration


def _object(value: Any, field: str, *, nested: bool = False) -> tuple[str, dict[str, Any]]:
    value = _obj(value, field)
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        _activity(value, field)
    elif kind in ("Agent", "Group"):
        agent(value, field)
    elif kind == "StatementRef":
        _unknown(value, {"objectType", "id"}, field)
        _uuid(value.get("id"), f"{field}.id")
    elif kind == "SubStatement" and not nested:
        _unknown(value, SUBSTATEMENT_KEYS, field)
        for required in ("actor", "verb", "object"):
            if required not in value:
                raise Invalid(f"{field}.{required}", "is required")
        agent(value["actor"], f"{field}.actor")
        _verb(value["verb"], f"{field}.verb")
        sub_kind, _ = _object(value["object"], f"{field}.object", nested=True)
        if "result" in value:
            _result(value["result"], f"{field}.result")
        if "context" in value:
            _context(value["context"], f"{field}.context", sub_kind)
        if "timestamp" in value:
            timestamp(value["timestamp"], f"{field}.timestamp")
    else:
        raise Invalid(f"{field}.objectType", "must be Activity, Agent, Group, StatementRef or SubStatement")
    return kind, value


def validate(statement: Any, prefix: str = "") -> dict[str, Any]:
    """Checks one statement; returns its filter keys. Raises :class:`Invalid` naming the property."""
    p = f"{prefix}." if prefix else ""
    statement = _obj(statement, prefix or "statement")
    _unknown(statement, STATEMENT_KEYS, prefix)
    for required in ("actor", "verb", "object"):
        if required not in statement:
            raise Invalid(p + required, "is required")
    statement_id = _uuid(statement["id"], p + "id") if "id" in statement else None
    actor = agent(statement["actor"], p + "actor")
    verb = _verb(statement["verb"], p + "verb")
    kind, obj = _object(statement["object"], p + "object")
    if verb["id"] == VOIDED and kind != "StatementRef":
        raise Invalid(p + "object", "a voiding statement's object is a StatementRef")
    if "result" in statement:
        _result(statement["result"], p + "result")
    registration = _context(statement["context"], p + "context", kind) if "context" in statement else None
    ts = timestamp(statement["timestamp"], p + "timestamp") if "timestamp" in statement else None
    if "version" in statement and (not isinstance(statement["version"], str) or not re.match(r"^1\.0(\.\d+)?$", statement["version"])):
        raise Invalid(p + "version", "must be a 1.0.x version")
    if "authority" in statement:
        agent(statement["authority"], p + "authority")
    if "attachments" in statement and not isinstance(statement["attachments"], list):
        raise Invalid(p + "attachments", "must be an array")
    return {
        "id": statement_id, "actor_key": agent_key(actor), "verb_id": verb["id"],
        "activity_id": obj["id"] if kind == "Activity" else None,
        "voids": uuid.UUID(obj["id"]) if verb["id"] == VOIDED else None, "registration": registration, "timestamp": ts,
    }


def fingerprint(statement: dict[str, Any]) -> str:
    """Same statement or not: the statement as sent, without what the LRS fills in (id, stored, authority, version)."""
    core = {k: v for k, v in statement.items() if k not in ("id", "stored", "authority", "version")}
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def duration_seconds(value: str | None) -> int:
    """Seconds of an ISO 8601 duration (days and smaller; years, months and weeks are not lesson times)."""
    if not value:
        return 0
    m = _DURATION.match(value)
    if not m:
        return 0
    def num(s: str | None) -> float:
        return float(s[:-1]) if s else 0.0
    return int(num(m.group(4)) * 86400 + num(m.group(6)) * 3600 + num(m.group(7)) * 60 + num(m.group(8)))
