"""Helpers for the canonicaliser's tests: N-Quads parsed by pyoxigraph into ``canon``'s term strings, and
pyoxigraph's own RDFC-1.0 as a reference."""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox

from services.credentials.proofs import canon


def term(value: ox.NamedNode | ox.BlankNode | ox.Literal | ox.DefaultGraph) -> str | None:
    """``canon``'s N-Quads string for a pyoxigraph term (``None`` for the default graph)."""
    if isinstance(value, ox.DefaultGraph):
        return None
    if isinstance(value, ox.NamedNode):
        return canon.iri(value.value)
    if isinstance(value, ox.BlankNode):
        return "_:" + value.value
    return canon.literal(value.value, value.datatype.value, value.language)


def parse(nquads: str | Path) -> list[canon.Quad]:
    """The quads of an N-Quads document (text, or a file), in document order, duplicates kept."""
    quads = (ox.parse(path=nquads, format=ox.RdfFormat.N_QUADS) if isinstance(nquads, Path)
             else ox.parse(nquads, format=ox.RdfFormat.N_QUADS))
    return [(term(q.subject), term(q.predicate), term(q.object), term(q.graph_name)) for q in quads]  # type: ignore[misc]


def pyoxigraph_rdfc10(quads: list[canon.Quad]) -> str:
    """pyoxigraph's RDFC-1.0 of ``quads``, written with ``canon``'s terms and sorted by code point (in process, no
    limit: only for datasets that are not poison)."""
    dataset = ox.Dataset(ox.parse("".join(
        f"{s} {p} {o} {g} .\n" if g is not None else f"{s} {p} {o} .\n" for s, p, o, g in quads
    ), format=ox.RdfFormat.N_QUADS))
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    lines = {
        " ".join(t for t in (term(q.subject), term(q.predicate), term(q.object), term(q.graph_name)) if t is not None) + " .\n"
        for q in dataset
    }
    return "".join(sorted(lines))
