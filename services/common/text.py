"""Vietnamese text helpers: NFC normalisation and diacritic folding for search that matches with or without
diacritics ("ky nang giao tiep" finds "Kỹ năng giao tiếp")."""

from __future__ import annotations

import unicodedata

_SPECIAL = str.maketrans({"đ": "d", "Đ": "d"})


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def fold(value: str) -> str:
    """Lower-case, diacritics removed, whitespace collapsed: ``"Trường Cao đẳng"`` → ``"truong cao dang"``."""
    decomposed = unicodedata.normalize("NFD", value.translate(_SPECIAL))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(stripped.casefold().split())
