"""Property tests of canon.py against pyoxigraph's RDFC-1.0 (run in process: these datasets are small, no poison):
on random datasets the fast path, wherever it applies, and the general path always give pyoxigraph's canonical form.

Two things where pyoxigraph and rdf-canonize (which canon.py follows) differ are kept out of the data: characters
U+E000–U+FFFF (pyoxigraph sorts by code point, rdf-canonize by UTF-16 code unit, which differ only when such a
character meets an astral one; astral characters are in) and upper-case language tags (pyoxigraph lower-cases them;
JSON-LD processors already have). test_canon_rdf_canonize.py covers both against rdf-canonize itself."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from services.credentials.proofs import canon
from tests.credentials.canon_support import pyoxigraph_rdfc10

XSD = "http://www.w3.org/2001/XMLSchema#"
P = [f"<http://example.org/p{i}>" for i in range(4)]

#: any character but surrogates and U+E000–U+FFFF; control characters, quotes and backslashes often
_chars = st.one_of(
    st.characters(max_codepoint=0xDFFF, exclude_categories=("Cs",)),
    st.characters(min_codepoint=0x10000),
    st.sampled_from(['"', "\\", "\x00", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\x85", "\u2028", "ư", "\u0301", "🌃"]),
)
_texts = st.text(_chars, max_size=6)
_iris = st.builds(lambda path: canon.iri("http://example.org/" + path),
                  st.text(st.sampled_from(list("abz09-._~") + ["ư", "Đ", "é", "🌃", "\U00020bb7"]), max_size=4))
_literals = st.one_of(
    st.builds(canon.literal, _texts),
    st.builds(lambda v, dt: canon.literal(v, dt), _texts, st.sampled_from([XSD + "string", XSD + "date", "http://example.org/dt"])),
    st.builds(lambda v, lang: canon.literal(v, language=lang), _texts, st.sampled_from(["vi", "en", "en-us", "zh-hant-tw"])),
)


@st.composite
def datasets(draw: st.DrawFn, max_blank_nodes: int, few_values: bool = False) -> list[canon.Quad]:
    blanks = [f"_:b{i}" for i in range(draw(st.integers(0, max_blank_nodes)))]
    iris = draw(st.lists(_iris, min_size=1, max_size=3))
    nodes = st.sampled_from(blanks + iris)
    graphs = st.one_of(st.none(), st.none(), st.sampled_from(iris + blanks[:1]))
    # few distinct values: blank nodes alike, sharing first-degree hashes
    literals = st.sampled_from(draw(st.lists(_literals, min_size=1, max_size=2))) if few_values else _literals
    predicates = st.sampled_from(P[:2] if few_values else P)
    quads = draw(st.lists(st.tuples(nodes, predicates, st.one_of(literals, nodes), graphs), min_size=1, max_size=16))
    if few_values and blanks and draw(st.booleans()):
        # a twin of _:b0: the same quads with _:t in its place (and so the same first-degree hash)
        quads += [tuple("_:t" if term == "_:b0" else term for term in quad) for quad in quads if "_:b0" in quad]
    return list(dict.fromkeys(quads))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(max_blank_nodes=8))
def test_fast_path_is_rdfc10(quads: list[canon.Quad]) -> None:
    fast = canon._fast_path(quads)
    event("fast path" if fast is not None else "general path")
    assume(fast is not None)
    assert fast == pyoxigraph_rdfc10(quads)
    assert canon.canonicalize(quads) == fast


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(datasets(max_blank_nodes=5), datasets(max_blank_nodes=5, few_values=True)))
def test_general_path_is_rdfc10(quads: list[canon.Quad]) -> None:
    event("shared first-degree hashes" if canon._fast_path(quads) is None else "distinct first-degree hashes")
    assert canon._full(quads, math.inf) == pyoxigraph_rdfc10(quads)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["_:x", "_:y", "_:z"]), st.sampled_from(P[:2]),
                          st.sampled_from(["_:x", "_:y", "_:z", canon.literal("a")]), st.none()), min_size=1, max_size=9))
def test_general_path_on_symmetric_structures(quads: list[canon.Quad]) -> None:
    """Few predicates and three blank nodes: mostly shared hashes, cycles and permutations to choose among."""
    quads = list(dict.fromkeys(quads))
    assert canon._full(quads, math.inf) == pyoxigraph_rdfc10(quads)
