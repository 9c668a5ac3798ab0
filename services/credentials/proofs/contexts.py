"""The JSON-LD contexts every credential here may use, bundled in ``services/credentials/contexts/`` and served to
pyld by a document loader that never touches the network: a context that is not bundled is an error.

The files are the published contexts taken unchanged from npm packages (see ``contexts/index.json``)."""

from __future__ import annotations

import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from pyld import jsonld
from pyld.context_resolver import ContextResolver
from pyld.jsonld import JsonLdError

from services.credentials.proofs import canon, safemode
from services.credentials.proofs.safemode import Malformed
from services.credentials.proofs.shapes import RDF_LANGSTRING, NotTemplatable, ShapeCanonicalizer

CONTEXT_DIR = Path(__file__).resolve().parent.parent / "contexts"

VC_V2 = "https://www.w3.org/ns/credentials/v2"
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
DID_V1 = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
STATUS_LIST_V1 = "https://www.w3.org/ns/credentials/status/v1"
#: the platform's own terms (``contexts/vet-credentials-v1.json``)
VET_V1 = "https://vet.gov.vn/ns/credentials/v1"


class ContextNotBundled(Exception):
    """A document names a JSON-LD context that is not bundled; it is never fetched."""

    def __init__(self, url: str) -> None:
        super().__init__(f"JSON-LD context {url} is not bundled with the service")
        self.url = url


@cache
def bundled() -> dict[str, dict[str, Any]]:
    """URL → parsed context document."""
    index = json.loads((CONTEXT_DIR / "index.json").read_text(encoding="utf-8"))
    return {
        url: json.loads((CONTEXT_DIR / entry["file"]).read_text(encoding="utf-8"))
        for url, entry in index["contexts"].items()
    }


@cache
def bundled_text(url: str) -> bytes:
    """The bundled file of a context, as published (its bytes unchanged)."""
    index = json.loads((CONTEXT_DIR / "index.json").read_text(encoding="utf-8"))
    return (CONTEXT_DIR / index["contexts"][url]["file"]).read_bytes()


def load_document(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader: bundled contexts only."""
    document = bundled().get(url)
    if document is None:
        raise ContextNotBundled(url)
    # "static": the bundled files never change, so pyld may keep the resolved context across operations
    return {"contextUrl": None, "documentUrl": url, "document": document, "tag": "static"}


#: resolved contexts, shared by every operation of this process (contexts are immutable files)
_resolved: LRUCache[str, Any] = LRUCache(maxsize=256)
#: embedded (type-scoped) contexts of the bundled files by object identity: pyld would otherwise serialise each one
#: canonically (JCS) to look it up, on every node of every document. Entries keep their object alive, so an id is
#: never reused while cached; only objects of the bundled files are remembered.
_embedded: dict[int, tuple[Any, Any]] = {}


class _BundledContextResolver(ContextResolver):  # type: ignore[misc]
    def resolve(self, active_ctx: Any, context: Any, base: Any, cycles: Any = None) -> Any:
        if isinstance(context, dict) and "@context" not in context:
            hit = _embedded.get(id(context))
            if hit is not None and hit[0] is context:
                return hit[1]
            resolved = super().resolve(active_ctx, context, base, cycles)
            if _is_bundled(context):
                _embedded[id(context)] = (context, resolved)
            return resolved
        return super().resolve(active_ctx, context, base, cycles)


@cache
def _bundled_ids() -> frozenset[int]:
    ids: set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ids.add(id(node))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for document in bundled().values():
        walk(document)
    return frozenset(ids)


def _is_bundled(context: dict[str, Any]) -> bool:
    return id(context) in _bundled_ids()


def processing_options() -> dict[str, Any]:
    return {
        "documentLoader": load_document,
        "contextResolver": _BundledContextResolver(_resolved, load_document),
    }


class UndefinedTerm(Exception):
    """A property the document's contexts do not define: it would be dropped from the signed data, so the
    document is refused (the "safe mode" of JSON-LD processors used for Data Integrity)."""

    def __init__(self, term: str | None) -> None:
        super().__init__(f"the property {term!r} is not defined by the document's JSON-LD contexts")
        self.term = term


def _refuse_dropped(term: str | None) -> None:
    raise UndefinedTerm(term)


#: processed active contexts: (active context's ``_uuid``, the resolved contexts applied, flags) → the new active
#: context. pyld keeps such a cache itself (``ResolvedContext.get_processed``) but misses it for every type-scoped
#: context, because it first clones the active context under a fresh ``_uuid``: each document then redefines the
#: hundred-odd terms of the Open Badges scoped contexts. Processing a context is a pure function of these inputs,
#: and pyld never changes an active context once it is built (its own cache shares them the same way), so the
#: result is shared across documents. Keys hold the resolved contexts themselves, so an identity is never reused.
_processed: LRUCache[tuple[Any, ...], Any] = LRUCache(maxsize=4096)


class _Processor(jsonld.JsonLdProcessor):  # type: ignore[misc]
    def _process_context(self, active_ctx: Any, local_ctx: Any, options: dict[str, Any], override_protected: bool = False,
                         propagate: bool = True, validate_scoped: bool = True, cycles: Any = None) -> Any:
        uid = active_ctx.get("_uuid")
        contexts = local_ctx["@context"] if isinstance(local_ctx, dict) and isinstance(local_ctx.get("@context"), list) else local_ctx
        if uid is None or contexts is None or contexts == []:
            return super()._process_context(active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles)
        resolved = tuple(options["contextResolver"].resolve(active_ctx, local_ctx, options.get("base", "")))
        key = (uid, resolved, override_protected, propagate, validate_scoped, options.get("base"), options.get("processingMode"))
        hit = _processed.get(key)
        if hit is None:
            hit = super()._process_context(active_ctx, local_ctx, options, override_protected, propagate, validate_scoped, cycles)
            if "_uuid" not in hit:
                hit["_uuid"] = str(uuid.uuid4())
            _processed[key] = hit
        return hit


def _options() -> dict[str, Any]:
    return processing_options() | {"base": "", "processingMode": "json-ld-1.1"}


def expand_checked(document: dict[str, Any]) -> list[Any]:
    """pyld's expansion of a document that passed :func:`safemode.precheck`, checked in safe mode (see
    :mod:`.safemode`); raises :class:`safemode.Malformed` naming the JSON path."""
    try:
        expanded = _Processor(on_property_dropped=_refuse_dropped).expand(document, _options())
    except UndefinedTerm as exc:
        term = exc.term or ""
        raise Malformed(safemode.path_of(document, term), f"{term!r} is not defined by the credential's contexts") from None
    except ContextNotBundled as exc:
        raise Malformed('$["@context"]', f"the JSON-LD context {exc.url} is not one this platform knows") from None
    except (JsonLdError, TypeError, ValueError, KeyError, RecursionError) as exc:
        code = getattr(exc, "code", None) or type(exc).__name__
        raise Malformed("$", f"the document is not valid JSON-LD ({code})") from None
    safemode.check_expanded(document, expanded)
    try:
        compacted = _Processor().compact(expanded, {"@context": document["@context"]}, _options())
    except (JsonLdError, TypeError, ValueError, KeyError, RecursionError) as exc:  # pragma: no cover - expanded above
        code = getattr(exc, "code", None) or type(exc).__name__
        raise Malformed("$", f"the document is not valid JSON-LD ({code})") from None
    where = safemode.first_difference(document, compacted)
    if where is not None:
        raise Malformed(where, "JSON-LD does not read this as the JSON shows it (a property under another name or IRI, "
                               "a value read as something else, or dropped), so it would not be signed as shown")
    return expanded  # type: ignore[no-any-return]


def to_rdf(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """pyld's RDF dataset of a document checked by :func:`expand_checked` (nothing is dropped on the way)."""
    expanded = expand_checked(document)
    return _Processor().to_rdf(expanded, _options() | {"produceGeneralizedRdf": False})  # type: ignore[no-any-return]


def _term(component: dict[str, Any]) -> str:
    if component["type"] == "IRI":
        return canon.iri(component["value"])
    if component["type"] == "blank node":
        return component["value"]  # type: ignore[no-any-return]
    datatype = component.get("datatype")
    if datatype == RDF_LANGSTRING:
        return canon.literal(component["value"], language=component.get("language"))
    return canon.literal(component["value"], datatype)


def quads_of(dataset: dict[str, list[dict[str, Any]]]) -> list[canon.Quad]:
    """pyld's dataset as N-Quads terms (:mod:`.canon`'s form)."""
    quads: list[canon.Quad] = []
    for graph_name, triples in dataset.items():
        graph = None if graph_name == "@default" else (graph_name if graph_name.startswith("_:") else canon.iri(graph_name))
        for t in triples:
            quads.append((_term(t["subject"]), _term(t["predicate"]), _term(t["object"]), graph))
    return quads


def canonize_full(document: dict[str, Any]) -> str:
    """RDFC-1.0 of a document, every JSON-LD step done afresh in safe mode (the reference for :mod:`.shapes`)."""
    safemode.precheck(document)
    try:
        return canon.canonicalize(quads_of(to_rdf(document)))
    except canon.InvalidIri as exc:  # pragma: no cover - check_expanded refuses them first
        raise Malformed(safemode.path_of(document, str(exc.args[0]) if exc.args else ""), "not a valid absolute IRI") from None
    except canon.CanonicalizationLimit:
        raise Malformed("$", "the document's blank nodes cannot be told apart within the canonicalisation's limits") from None


@cache
def shape_canonicalizer() -> ShapeCanonicalizer:
    return ShapeCanonicalizer(to_rdf, bundled())


def canonize(document: dict[str, Any]) -> str:
    """RDF Dataset Canonicalization (RDFC-1.0) of a JSON-LD document, as canonical N-Quads, in safe mode.

    Documents of a shape seen before are filled into that shape's template (:mod:`.shapes`); the output is the
    same as :func:`canonize_full`'s. Raises :class:`safemode.Malformed`, naming the JSON path, for anything JSON-LD
    would not sign as the JSON shows it."""
    safemode.precheck(document)
    try:
        return shape_canonicalizer().canonize(document)
    except NotTemplatable:
        return canonize_full(document)
