"""What every record a school sends shares, whatever the format (JSON batch, CSV, OneRoster, one API call): the
row base model, the field types, and how a row's validation errors read. The rows themselves are in each
domain's ``schemas.py`` (:data:`services.records.sync.rows.ENTITIES` lists them)."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from services.common import id_numbers
from services.common.errors import ValidationFailed

R = TypeVar("R", bound=BaseModel)

Level = Literal["elementary", "intermediate", "college", "short_course"]
Mode = Literal["full_time", "work_study"]
Status = Literal["enrolled", "suspended", "withdrawn", "graduated"]
Sex = Literal["male", "female"]
Code = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-/]+$")


#: numbers checked today → the message of what they break ("" when valid): a sync's grade rows name each learner
#: once per module and term, and the check was a fifth of a grade row's validation. Emptied when the day changes
#: (a rule compares the birth year with today's) or when it holds :data:`_CHECKED_MAX` numbers.
_checked: dict[str, str] = {}
_checked_on: list[date] = []
_CHECKED_MAX = 100_000


def _id_number(v: str) -> str:
    """Số định danh cá nhân, checked by the kit's rules (:mod:`services.common.id_numbers`, the ones identity
    applies); the date of birth and sex are checked against it when identity resolves the learner. The message
    never repeats the number (errors are stored and shown)."""
    today = date.today()
    if not _checked_on or _checked_on[0] != today or len(_checked) >= _CHECKED_MAX:
        _checked.clear()
        _checked_on[:] = [today]
    message = _checked.get(v)
    if message is None:
        message = _checked[v] = _id_number_broken(v, today)
    if message:
        raise ValueError(message)
    return v


def _id_number_broken(v: str, today: date) -> str:
    """What ``v`` breaks as one message, or "" when it is valid."""
    broken = id_numbers.check(v, today=today)
    if broken and broken[0].rule == "shape":
        kind = "digits" if v.isascii() and v.isdigit() else "characters, not all digits"
        return f"a personal ID number has 12 digits; this one has {len(v)} {kind}"
    return "; ".join(r.message for r in broken)


IdNumber = Annotated[str, AfterValidator(_id_number), Field(description="12-digit personal identification number",
                                                             json_schema_extra={"pattern": r"^\d{12}$"})]


def nfc(v: str | None) -> str | None:
    """Text in Unicode NFC (a name typed as "e" + combining marks and as "ễ" is the same name)."""
    return unicodedata.normalize("NFC", v) if isinstance(v, str) else v


class Row(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


def pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) per error; a rule of ours (a ``ValueError`` in a validator) speaks for itself, without
    pydantic's "Value error, " prefix."""
    return [(".".join(str(p) for p in e["loc"]) or "row",
             str(e["ctx"]["error"]) if e["type"] == "value_error" and "error" in e.get("ctx", {}) else e["msg"])
            for e in exc.errors()]


def rejected(errors: list[tuple[str, str]]) -> ValidationFailed:
    """A row's errors as the 422 of a single-row API write (a sync reports them as the row's errors instead)."""
    return ValidationFailed("; ".join(f"{f}: {m}" for f, m in errors), errors=[{"field": f, "message": m} for f, m in errors])


def validated(schema: type[R], data: dict[str, Any]) -> R:
    """``data`` as a row of ``schema``, checked as a sync checks it (:func:`rejected` when it is not valid)."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise rejected(pydantic_errors(exc)) from None
