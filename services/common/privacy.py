"""Personal identification numbers (số định danh cá nhân) as others see them: one masking rule for every
representation a service hands out (lists, single reads, transcripts, the change feed, exports)."""

from __future__ import annotations

from typing import Any


def mask_id_number(number: str) -> str:
    """``001******345``: the province code and the last three digits, the rest hidden. Shown to everyone but the
    person and authorised officers."""
    if len(number) < 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 6) + number[-3:]


def masked_key(key: dict[str, Any] | None) -> dict[str, Any] | None:
    """A natural key (``{"institution_code", "id_number", …}``) with its ID number masked."""
    if key is None or not isinstance(key.get("id_number"), str):
        return key
    return {**key, "id_number": mask_id_number(key["id_number"])}
