"""The RDFC-1.0 canonicaliser (services/credentials/proofs/canon.py): canonical terms, the fast path, and the limits
of the general path — the work limit rdf-canonize applies, the time limit enforced by killing its process, and the
bound on how many such processes run at once. The W3C test suite, the comparison with rdf-canonize and the property
tests are in test_canon_rdfc10.py, test_canon_rdf_canonize.py and test_canon_properties.py."""

from __future__ import annotations

import threading
import time

import pytest

from services.credentials.proofs import canon
from services.credentials.proofs.canon import CanonicalizationLimit, InvalidIri, InvalidLiteral, iri, literal

P = "<http://example.org/p>"
XSD = "http://www.w3.org/2001/XMLSchema#"


def clique(n: int, label: str = "e") -> list[canon.Quad]:
    """``n`` blank nodes, each linked to every other: all share one first-degree hash (the W3C "poison" graph)."""
    return [(f"_:{label}{i}", P, f"_:{label}{j}", None) for i in range(n) for j in range(n) if i != j]


#: two blank nodes with the same properties: one first-degree hash, little work
TWINS = [("_:x", P, "<http://example.org/a>", None), ("_:y", P, "<http://example.org/a>", None)]
TWINS_CANONICAL = "_:c14n0 <http://example.org/p> <http://example.org/a> .\n_:c14n1 <http://example.org/p> <http://example.org/a> .\n"


# --- terms -------------------------------------------------------------------------------------------------------


def test_literal_escapes_as_rdf_canonize() -> None:
    assert literal('a"b\\c') == '"a\\"b\\\\c"'
    assert literal("\b\t\n\f\r") == '"\\b\\t\\n\\f\\r"'
    # every other C0 control and DEL as \uXXXX, upper-case hex
    assert literal("\x00\x01\x0b\x0e\x1f\x7f") == '"\\u0000\\u0001\\u000B\\u000E\\u001F\\u007F"'
    # C1 controls, line and paragraph separators, non-characters and astral characters are written raw
    raw = "\x80\x85\x9f\u2028\u2029\ufeff\ufffe\uffff\U0001f303 Nguyễn Thị Ánh \u00a0'"
    assert literal(raw) == f'"{raw}"'
    assert literal("") == '""'


def test_literal_suffixes() -> None:
    assert literal("x", XSD + "string") == '"x"'
    assert literal("x", None) == '"x"'
    assert literal("2026-07-01", XSD + "date") == f'"2026-07-01"^^<{XSD}date>'
    assert literal("xin chào", language="vi") == '"xin chào"@vi'
    assert literal("x", canon.RDF_LANGSTRING, "en-US") == '"x"@en-US'  # the tag as given, as rdf-canonize keeps it
    assert literal("x", language="zh-Hant-TW") == '"x"@zh-Hant-TW'


@pytest.mark.parametrize("args", [
    ("\ud800",), ("a\udfffb",),  # lone surrogates (JSON may carry them as \ud800): not encodable in UTF-8
    ("x", canon.RDF_LANGSTRING),  # rdf:langString without a language
    ("x", XSD + "string", "en"),  # a language with another datatype
    ("x", None, ""), ("x", None, "en_US"), ("x", None, "en-"), ("x", None, "-en"), ("x", None, 'en"> <x'),
    ("x", None, "vi-\u0301"),
])
def test_literal_refuses_what_rdf_cannot_hold(args: tuple) -> None:
    with pytest.raises(InvalidLiteral):
        literal(*args)


@pytest.mark.parametrize("datatype", ["not an iri", "http://example.org/a b", "relative/path", "http://example.org/>"])
def test_literal_refuses_a_datatype_that_is_not_an_iri(datatype: str) -> None:
    with pytest.raises(InvalidIri) as caught:
        literal("x", datatype)
    assert caught.value.args[0] == caught.value.value == datatype


def test_iri_accepts_absolute_iris_raw() -> None:
    for value in ("http://example.org/a?b=c#d", "urn:uuid:1f4c3d1e-0000-4000-8000-000000000000", "did:web:127.0.0.1%3A8000:x",
                  "https://vet.gov.vn/trường/Đặng-Thị-Ánh", "http://[::1]:8000/", "tag:x@y.vn,2026:🌃", "mailto:a@b.vn"):
        assert iri(value) == f"<{value}>"


@pytest.mark.parametrize("value", [
    "", "relative", "/path", "//host/path", "#frag", "http://example.org/a b", "http://example.org/<x>",
    'http://example.org/"', "http://example.org/{x}", "http://example.org/a|b", "http://example.org/^",
    "http://example.org/`", "http://example.org/a\\b", "http://example.org/\x00", "http://example.org/\n",
    "http://example.org/\x7f", "http://example.org/\x85", "http://example.org/\ue000",
    "http://example.org/\ufffe", "http://example.org/\ud800", "http://example.org/%zz", "http://exa mple.org/",
    "1http://example.org/", "http://example.org/> <http://evil.org/",
])
def test_iri_refuses_what_is_not_an_absolute_iri(value: str) -> None:
    with pytest.raises(InvalidIri) as caught:
        iri(value)
    assert caught.value.value == caught.value.args[0] == value  # the caller finds the JSON path by the value
    assert isinstance(caught.value, ValueError)


# --- canonical output --------------------------------------------------------------------------------------------


def test_ground_dataset_sorted_and_deduplicated() -> None:
    quads = [("<http://example.org/b>", P, literal("2"), None), ("<http://example.org/a>", P, literal("1"), "<http://example.org/g>"),
             ("<http://example.org/b>", P, literal("2"), None)]
    assert canon.canonicalize(quads) == (
        '<http://example.org/a> <http://example.org/p> "1" <http://example.org/g> .\n'
        '<http://example.org/b> <http://example.org/p> "2" .\n'
    )
    assert canon.canonicalize([]) == ""


def test_output_is_sorted_by_utf16_code_unit_as_rdf_canonize() -> None:
    """RDFC-1.0 says code point order; rdf-canonize (JavaScript's sort) orders UTF-16 code units, which puts an astral
    character (surrogate U+D83C…) before U+E000–U+FFFF. We follow rdf-canonize: that is what verifies."""
    s = "<http://example.org/s>"
    quads = [(s, P, literal("\uff21"), None), (s, P, literal("\U0001f303"), None), (s, P, literal("a"), None)]
    assert canon.canonicalize(quads).splitlines() == [f'{s} {P} "a" .', f'{s} {P} "\U0001f303" .', f'{s} {P} "\uff21" .']
    # the same order decides blank node labels (first-degree hashes sort each node's lines)
    two = [("_:x", P, literal("\uff21"), None), ("_:x", P, literal("\U0001f303"), None), ("_:y", P, literal("\U0001f303"), None)]
    fast = canon.canonicalize(two)
    assert fast == canon._full(list(two), 1)


def test_fast_and_general_paths_agree_on_a_credential_like_dataset() -> None:
    subject = "<urn:uuid:6f1c0c9e-8a53-4f5e-9a49-3c1b7f0e2a11>"
    quads = [(subject, P, "_:b0", None), ("_:b0", P, literal("Đặng Thị Ngọc Ánh"), None),
             ("_:b0", "<http://example.org/q>", "_:b1", None), ("_:b1", P, literal("2026", XSD + "gYear"), None),
             (subject, "<http://example.org/proof>", "_:b2", None), ("_:b3", P, literal("x"), "_:b2"),
             ("_:b3", P, "_:b3", "_:b2")]  # a self-loop and a blank node graph name
    fast = canon._fast_path(quads)
    assert fast is not None and fast == canon._full(quads, 1) == canon.canonicalize(reversed(quads))
    assert "_:b" not in fast and fast.count("\n") == len(quads)


def test_canonical_sha256() -> None:
    import hashlib

    quads = [("_:x", P, literal("a"), None)]
    assert canon.canonical_sha256(quads) == hashlib.sha256(canon.canonicalize(quads).encode()).digest()


# --- the general path and its limits -----------------------------------------------------------------------------


def test_shared_hashes_take_the_general_path() -> None:
    assert canon._fast_path(TWINS) is None
    assert canon.canonicalize(TWINS) == TWINS_CANONICAL
    # two nodes pointing at each other: rdf-canonize's default work limit already refuses them (4 runs for 2 nodes)
    cycle = clique(2)
    with pytest.raises(CanonicalizationLimit):
        canon.canonicalize(cycle)
    assert canon.canonicalize(cycle, max_work_factor=2) == (
        "_:c14n0 <http://example.org/p> _:c14n1 .\n_:c14n1 <http://example.org/p> _:c14n0 .\n")


def test_work_limit_as_rdf_canonize() -> None:
    """rdf-canonize's default (vc.js keeps it) allows as many Hash N-Degree Quads runs as there are blank nodes with
    shared hashes: a clique needs far more, and is refused without using up the time limit."""
    started = time.monotonic()
    with pytest.raises(CanonicalizationLimit, match="Hash N-Degree"):
        canon.canonicalize(clique(6))
    assert time.monotonic() - started < canon.TIME_LIMIT


def test_time_limit_kills_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canon, "TIME_LIMIT", 0.5)
    started = time.monotonic()
    with pytest.raises(CanonicalizationLimit, match="longer than"):
        canon.canonicalize(clique(10), max_work_factor=float("inf"))
    assert time.monotonic() - started < 5
    # the killed process is replaced: the next dataset that needs the general path is served
    assert canon.canonicalize(TWINS) == TWINS_CANONICAL


def test_a_process_killed_from_outside_is_replaced() -> None:
    canon.canonicalize(TWINS)
    assert canon._idle
    for worker in list(canon._idle):
        worker.process.kill()
        worker.process.wait()
    assert canon.canonicalize(TWINS) == TWINS_CANONICAL


def test_at_most_max_processes_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canon, "TIME_LIMIT", 0.5)
    running = 0
    peak = 0
    lock = threading.Condition()
    real_run = canon._Worker.run

    def run(self: canon._Worker, *args: object) -> tuple[str, str]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            lock.notify_all()
            # hold until the bound is reached (workers start at different speeds on a loaded machine), with a deadline:
            # a limiter that let only one through would leave peak at 1, one that let more through would exceed it
            lock.wait_for(lambda: running >= canon.MAX_PROCESSES, timeout=20)
        try:
            return real_run(self, *args)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(canon._Worker, "run", run)
    errors: list[BaseException] = []

    def poison() -> None:
        try:
            canon.canonicalize(clique(10), max_work_factor=float("inf"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=poison) for _ in range(canon.MAX_PROCESSES + 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(errors) == len(threads) and all(isinstance(e, CanonicalizationLimit) for e in errors), errors
    assert peak == canon.MAX_PROCESSES


def test_callers_beyond_the_bound_wait_then_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canon, "WAIT_LIMIT", 0.2)
    held = 0
    try:
        while canon._slots.acquire(blocking=False):
            held += 1
        assert held == canon.MAX_PROCESSES
        started = time.monotonic()
        with pytest.raises(CanonicalizationLimit, match="free"):
            canon.canonicalize(TWINS)
        assert time.monotonic() - started >= 0.2
        # the fast path never waits for a process
        assert canon.canonicalize([("_:x", P, literal("a"), None)]) == '_:c14n0 <http://example.org/p> "a" .\n'
    finally:
        for _ in range(held):
            canon._slots.release()
