"""Số định danh cá nhân: the 12-digit personal identification number (on the CCCD card), validated the same way
by every service (identity registers persons, records syncs learners, credentials issues diplomas).

``PPP G YY RRRRRR``: 3 digits province code of birth registration, 1 digit century + gender (0/1 male/female born
1900–1999, 2/3 born 2000–2099, 4/5 born 2100–2199, …), 2 digits last two digits of the birth year, 6 random digits.
No check digit. Province codes are data (``data/provinces.csv``), old pre-2025 codes included since numbers issued
before the 2025 merger keep them for life.

Messages never repeat the number (errors are stored and shown)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

Gender = Literal["male", "female"]
DATA = Path(__file__).resolve().parent / "data" / "provinces.csv"


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    status: str
    merged_into: str | None


@cache
def provinces() -> dict[str, Province]:
    with DATA.open(encoding="utf-8") as f:
        return {
            row["code"]: Province(row["code"], row["name"], row["status"], row["merged_into"] or None)
            for row in csv.DictReader(f)
        }


def current_province(code: str) -> str:
    """The province a (possibly pre-2025) code belongs to today."""
    seen = set()
    while (p := provinces().get(code)) is not None and p.merged_into and code not in seen:
        seen.add(code)
        code = p.merged_into
    return code


@dataclass(frozen=True)
class RuleBroken:
    rule: str
    message: str


@dataclass(frozen=True)
class DecodedNumber:
    province_code: str
    gender: Gender
    birth_year: int


def decode(number: str) -> DecodedNumber:
    digit = int(number[3])
    return DecodedNumber(
        province_code=number[:3],
        gender="male" if digit % 2 == 0 else "female",
        birth_year=1900 + (digit // 2) * 100 + int(number[4:6]),
    )


def is_well_formed(number: str) -> bool:
    """Exactly 12 ASCII digits (full-width and other Unicode digits are not)."""
    return len(number) == 12 and number.isascii() and number.isdigit()


def check(number: str, *, date_of_birth: date | None = None, gender: Gender | None = None, today: date | None = None) -> list[RuleBroken]:
    """Every rule the number breaks (empty when valid); ``date_of_birth`` and ``gender``, when given, must agree
    with the century + gender digit and the birth year digits."""
    if not is_well_formed(number):
        return [RuleBroken("shape", "must be exactly 12 digits (0-9)")]
    broken: list[RuleBroken] = []
    if number[:3] not in provinces():
        broken.append(RuleBroken("province", f"{number[:3]} is not a province code of birth registration"))
    decoded = decode(number)
    today = today or date.today()
    if decoded.birth_year > today.year:
        broken.append(RuleBroken("birth_year", f"digits 4-6 give birth year {decoded.birth_year}, which is in the future"))
    if date_of_birth is not None:
        if date_of_birth.year // 100 != decoded.birth_year // 100:
            broken.append(RuleBroken("century", f"digit 4 gives a birth in the {decoded.birth_year // 100 * 100}s, but date_of_birth is {date_of_birth.year}"))
        elif date_of_birth.year != decoded.birth_year:
            broken.append(RuleBroken("birth_year", f"digits 5-6 give birth year {decoded.birth_year}, but date_of_birth is {date_of_birth.year}"))
    if gender is not None and gender != decoded.gender:
        broken.append(RuleBroken("gender", f"digit 4 encodes {decoded.gender}, but gender is {gender}"))
    return broken


def mask(number: str) -> str:
    """``001******789``: shown to everyone but the person and authorised officers."""
    if len(number) < 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 6) + number[-3:]
