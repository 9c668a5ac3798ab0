"""What may go into a credential this service signs, so that every verifier — this one and the W3C reference
verifier (vc.js with rdf-canonize) — reads the same signed data.

* **Text** is taken as sent (NFC or NFD: both are valid Unicode and canonicalise to the same bytes everywhere),
  but never with a control character — C0 (U+0000–U+001F, tab and line breaks included), DEL (U+007F), C1
  (U+0080–U+009F) — nor an unpaired surrogate: implementations of N-Quads escape them differently, so a signature
  over them does not verify everywhere, and PostgreSQL cannot store U+0000 at all.
* **Codes that become part of an IRI** (``urn:vet:course:{code}:{version}``, ``urn:vet:programme:{institution}:{code}``)
  are restricted to :data:`IRI_SAFE` rather than escaped: letters A–Z a–z, digits and ``- . _ ~`` (RFC 3986's
  unreserved characters), beginning with a letter or digit. ``:`` is not among them, so that code ``A:1`` without
  a version and code ``A`` with version ``1`` cannot name the same achievement.
* **Every IRI of the built document** is checked with a strict RFC 3987 parser (:func:`is_absolute_iri`), and every
  string in it for control characters (:func:`document_problems`), as the last line before signing."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pyoxigraph

#: letters, digits and RFC 3986's other unreserved characters; the first is a letter or digit
IRI_SAFE = r"^[A-Za-z0-9][A-Za-z0-9._~-]*$"
IRI_SAFE_DESCRIPTION = "letters A-Z a-z, digits and - . _ ~ only, beginning with a letter or digit (it becomes part of an IRI)"
_IRI_SAFE = re.compile(IRI_SAFE)
_REFUSED = re.compile("[\u0000-\u001f\u007f-\u009f\ud800-\udfff]")


def refused_character(value: str) -> str | None:
    """Why ``value`` cannot be signed as text (its first refused character, named by code point and position),
    or None. Never repeats the value itself (it may be a personal ID number)."""
    m = _REFUSED.search(value)
    if m is None:
        return None
    code = ord(m.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"contains an unpaired surrogate U+{code:04X} (character {m.start() + 1}), which is not a Unicode character"
    return (f"contains the control character U+{code:04X} (character {m.start() + 1}); control characters "
            "(U+0000-U+001F, U+007F-U+009F) are not accepted")


def is_iri_safe(value: str) -> bool:
    return _IRI_SAFE.match(value) is not None


def is_absolute_iri(value: object) -> bool:
    """True when ``value`` is a valid absolute IRI (RFC 3987, as RDF requires; checked by oxigraph's parser)."""
    if not isinstance(value, str):
        return False
    try:
        pyoxigraph.NamedNode(value)
    except ValueError:  # UnicodeEncodeError (a lone surrogate) is a ValueError too
        return False
    return True


@cache
def _iri_terms() -> frozenset[str]:
    """Terms whose string values are IRIs in the contexts credentials are built with (``"@type": "@id"``), plus
    ``id``. (``"@vocab"``-typed values such as ``proofPurpose`` are terms, not IRIs.)"""
    from services.credentials.proofs.contexts import OB_V3, VC_V2, VET_V1, bundled

    found = {"id"}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, dict) and value.get("@type") == "@id" and not key.startswith("@"):
                    found.add(key)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for url in (VC_V2, OB_V3, VET_V1):
        walk(bundled()[url])
    return frozenset(found)


def document_problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(JSON path, problem) for every IRI-valued string that is not an absolute IRI and every string with a
    character that cannot be signed, in a built (unsigned) credential (``@context`` aside), in document order."""
    iri_terms = _iri_terms()
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, tuple[str | int, ...], str | None]] = [(document, (), None)]
    while stack:
        node, path, key = stack.pop()
        if isinstance(node, str):
            refused = refused_character(node)
            if refused is not None:
                problems.append((".".join(map(str, path)), refused))
            elif key in iri_terms and not is_absolute_iri(node):
                problems.append((".".join(map(str, path)), "is not a valid absolute IRI"))
        elif isinstance(node, dict):
            stack.extend((v, (*path, k), k) for k, v in reversed(node.items()) if k != "@context")
        elif isinstance(node, list):
            stack.extend((v, (*path, i), key) for i, v in reversed(list(enumerate(node))))
    return problems
