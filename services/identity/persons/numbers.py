"""Số định danh cá nhân: the 12-digit personal identification number. The rules live in the kit
(:mod:`services.common.id_numbers`) so that every service validates a number exactly as identity does; this module
keeps identity's names for them."""

from __future__ import annotations

from services.common.id_numbers import (
    DATA,
    DecodedNumber,
    Gender,
    Province,
    RuleBroken,
    check,
    current_province,
    decode,
    is_well_formed,
    mask,
    provinces,
)

__all__ = ["DATA", "DecodedNumber", "Gender", "Province", "RuleBroken", "check", "current_province", "decode",
           "is_well_formed", "mask", "provinces"]
