"""RDF Dataset Canonicalization (RDFC-1.0, https://www.w3.org/TR/rdf-canon/) exactly as the verifiers in the field
compute it: Digital Bazaar's rdf-canonize, under vc.js and the ``eddsa-rdfc-2022`` cryptosuite.

Terms are N-Quads strings built with :func:`iri` and :func:`literal` (or ``_:label`` for a blank node); a quad is
``(subject, predicate, object, graph)`` with ``graph=None`` for the default graph. :func:`canonicalize` returns the
canonical N-Quads document.

Where rdf-canonize departs from the letter of RDFC-1.0 we follow rdf-canonize, since a proof that it does not
reproduce does not verify:

* **order.** The specification sorts N-Quads lines (the output, and each blank node's first-degree hash input) in
  Unicode code point order; rdf-canonize 5 sorts JavaScript strings, i.e. by UTF-16 code unit (its issue #52, open).
  The two differ only when a character outside the BMP (an emoji such as U+1F303) meets a character U+E000–U+FFFF
  (private use, CJK compatibility, presentation and full-width forms) at the same position: UTF-16 puts the astral
  character first (its surrogate U+D83C < U+E000). We sort by UTF-16 code unit (``tests/credentials/
  test_canon_rdf_canonize.py`` checks our output against rdf-canonize's byte for byte).
* **work limit.** rdf-canonize refuses datasets that need more runs of Hash N-Degree Quads than there are blank nodes
  with shared first-degree hashes (``maxWorkFactor=1``, its default, which vc.js keeps: even two blank nodes pointing
  at each other are refused); so do we, counting the runs as it does, with :class:`CanonicalizationLimit`
  (``MAX_WORK_FACTOR``; a third of the W3C suite's datasets need a factor of 2 or 3).

Two paths. The fast one labels blank nodes by their first-degree hashes when these are all distinct — every genuine
credential, whose blank nodes are distinct nested objects. The general one (Hash N-Degree Quads, exponential in the
worst case: the W3C "poison" clique) runs in a separate process with a time limit (``TIME_LIMIT``), killed on
expiry; at most ``MAX_PROCESSES`` such runs at a time, later callers waiting at most ``WAIT_LIMIT``. pyoxigraph's own
RDFC-1.0 is not used for it: it sorts by code point and has no work limit (it is the reference in the tests).

Canonical literal escaping (RDFC-1.0 §4.3 / rdf-canonize): ``\\b \\t \\n \\f \\r \\" \\\\`` as ECHAR, every other
character U+0000–U+001F and U+007F as ``\\uXXXX`` (upper-case hex), everything else raw (U+0085 and U+2028
included). IRIs are written raw: :func:`iri` accepts only absolute IRIs (RFC 3987) that IRIREF can hold unescaped.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import math
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import pyoxigraph

__all__ = [
    "InvalidIri", "InvalidLiteral", "CanonicalizationLimit", "Quad", "iri", "literal", "canonicalize",
    "canonical_sha256", "XSD_STRING", "RDF_LANGSTRING",
]

T = TypeVar("T")
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

#: seconds one run of the general path may take before its process is killed
TIME_LIMIT = 2.0
#: general-path processes at a time (each holds a CPU while it works)
MAX_PROCESSES = 2
#: seconds a caller waits for a free general-path process before giving up
WAIT_LIMIT = 10.0
#: seconds a new general-path process may take to start (not counted in ``TIME_LIMIT``)
START_LIMIT = 60.0
#: runs of Hash N-Degree Quads allowed: (blank nodes sharing a first-degree hash) ** MAX_WORK_FACTOR, as rdf-canonize
MAX_WORK_FACTOR: float = 1

Quad = tuple[str, str, str, str | None]


class InvalidIri(ValueError):
    """Not an absolute IRI (RFC 3987) that N-Quads can write raw; ``args[0]`` and ``value`` are the value."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class InvalidLiteral(ValueError):
    """A literal that RDF cannot hold: a lone surrogate in its text, a malformed language tag, or a language with a
    datatype other than rdf:langString (a datatype that is not an IRI raises :class:`InvalidIri`)."""


class GeneralPathNeeded(Exception):
    """The dataset needs the general path, and this context may not block on it (see :data:`general_path_allowed`)."""


#: False where blocking is not allowed (the event loop): :func:`canonicalize` then raises :class:`GeneralPathNeeded`
#: for a dataset the fast path cannot label, and the caller runs it again in a thread (:func:`run_blocking`)
general_path_allowed: ContextVar[bool] = ContextVar("general_path_allowed", default=True)


class CanonicalizationLimit(Exception):
    """The dataset needs more work than canonicalisation is allowed (or no process was free to do it in time)."""


# --- terms -------------------------------------------------------------------------------------------------------

_ESCAPES = {i: f"\\u{i:04X}" for i in (*range(0x20), 0x7F)} | {
    0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\",
}
_NEEDS_ESCAPE = re.compile('[\x00-\x1f\x7f"\\\\\ud800-\udfff]')
_SURROGATE = re.compile("[\ud800-\udfff]")
#: characters IRIREF cannot hold raw (RFC 3987 forbids them too; checked first, cheaply)
_IRIREF_FORBIDDEN = re.compile('[\x00-\x20<>"{}|^`\\\\\ud800-\udfff]')
_LANGTAG = re.compile(r"[a-zA-Z]+(?:-[a-zA-Z0-9]+)*")


def iri(value: str) -> str:
    """``<value>``; raises :class:`InvalidIri` unless ``value`` is a valid absolute IRI (RFC 3987)."""
    if not isinstance(value, str) or _IRIREF_FORBIDDEN.search(value):
        raise InvalidIri(value)
    try:
        pyoxigraph.NamedNode(value)
    except (ValueError, TypeError):
        raise InvalidIri(value) from None
    return "<" + value + ">"


def literal(value: str, datatype: str | None = None, language: str | None = None) -> str:
    """A literal in canonical N-Quads: ``"…"``, ``"…"@lang`` or ``"…"^^<datatype>`` (xsd:string is not written,
    rdf:langString is written as its language tag). The language tag's case is kept, as rdf-canonize keeps it
    (JSON-LD processors lower-case tags before this point)."""
    if _NEEDS_ESCAPE.search(value):
        if _SURROGATE.search(value):
            raise InvalidLiteral("a literal cannot hold a lone surrogate code point")
        value = value.translate(_ESCAPES)
    if language is not None:
        if datatype is not None and datatype != RDF_LANGSTRING:
            raise InvalidLiteral(f"a literal with a language has datatype rdf:langString, not {datatype!r}")
        if not _LANGTAG.fullmatch(language):
            raise InvalidLiteral(f"malformed language tag {language!r}")
        return '"' + value + '"@' + language
    if datatype is None or datatype == XSD_STRING:
        return '"' + value + '"'
    if datatype == RDF_LANGSTRING:
        raise InvalidLiteral("an rdf:langString literal needs a language")
    return '"' + value + '"^^' + iri(datatype)


# --- ordering ----------------------------------------------------------------------------------------------------

#: characters whose UTF-16 order differs from their code point order: astral ones sort before U+E000–U+FFFF
_ORDER_SENSITIVE = re.compile("[\ue000-\U0010ffff]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_HIGH_BMP = re.compile("[\ue000-\uffff]")


def _utf16(line: str) -> bytes:
    return line.encode("utf-16-be")


def _sort_key(terms: Iterable[str]) -> Callable[[str], Any] | None:
    """The sort key that orders lines made of ``terms`` by UTF-16 code unit, as rdf-canonize does; ``None`` (plain
    ``str`` order, the same order) unless the terms hold both a character outside the BMP and one in U+E000–U+FFFF,
    the only pairs that the two orders compare differently."""
    astral = high = False
    for term in terms:
        if term.isascii() or not _ORDER_SENSITIVE.search(term):
            continue
        astral = astral or _ASTRAL.search(term) is not None
        high = high or _HIGH_BMP.search(term) is not None
        if astral and high:
            return _utf16
    return None


# --- canonicalisation --------------------------------------------------------------------------------------------


def _line(s: str, p: str, o: str, g: str | None) -> str:
    return f"{s} {p} {o} {g} .\n" if g is not None else f"{s} {p} {o} .\n"


def _blank_node_quads(quads: list[Quad]) -> dict[str, list[Quad]]:
    """Blank node → the quads it occurs in (each quad once), in order of first occurrence."""
    mentions: dict[str, list[Quad]] = {}
    for quad in quads:
        s, _, o, g = quad
        if s[0] == "_":
            mentions.setdefault(s, []).append(quad)
        if o[0] == "_" and o != s:
            mentions.setdefault(o, []).append(quad)
        if g is not None and g[0] == "_" and g != s and g != o:
            mentions.setdefault(g, []).append(quad)
    return mentions


def _first_degree_hash(blank: str, quads: list[Quad], key: Callable[[str], Any] | None) -> str:
    """Hash First Degree Quads (RDFC-1.0 §4.6): the blank node itself as ``_:a``, any other as ``_:z``."""
    lines = []
    for s, p, o, g in quads:
        lines.append(_line(
            ("_:a" if s == blank else "_:z") if s[0] == "_" else s,
            p,
            ("_:a" if o == blank else "_:z") if o[0] == "_" else o,
            (("_:a" if g == blank else "_:z") if g[0] == "_" else g) if g is not None else None,
        ))
    lines.sort(key=key)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def _serialise(quads: list[Quad], labels: dict[str, str], key: Callable[[str], Any] | None) -> str:
    out = [
        _line(labels.get(s, s), p, labels.get(o, o), labels.get(g, g) if g is not None else None) for s, p, o, g in quads
    ]
    out.sort(key=key)
    return "".join(out)


def canonicalize(quads: Iterable[Quad], *, max_work_factor: float | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of ``quads`` (sorted lines, each ending in ``\\n``, duplicates removed).

    Raises :class:`CanonicalizationLimit` when the dataset needs more work than allowed: more runs of Hash N-Degree
    Quads than ``max_work_factor`` (default ``MAX_WORK_FACTOR``) allows, or more than ``TIME_LIMIT`` seconds.
    The general path blocks (up to ``WAIT_LIMIT`` + ``TIME_LIMIT``): call it from a thread, not the event loop."""
    unique = list(dict.fromkeys(quads))
    out = _fast_path(unique)
    if out is None:
        if not general_path_allowed.get():
            raise GeneralPathNeeded
        out = _general_path(unique, MAX_WORK_FACTOR if max_work_factor is None else max_work_factor)
    return out


async def on_the_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on the event loop when it stays on the fast path; in a thread when it needs the general path
    (which blocks on a worker process for up to ``WAIT_LIMIT`` + ``TIME_LIMIT``)."""
    token = general_path_allowed.set(False)
    try:
        return fn(*args)
    except GeneralPathNeeded:
        pass
    finally:
        general_path_allowed.reset(token)
    return await asyncio.to_thread(_allowed, fn, *args)


def _allowed(fn: Callable[..., T], *args: Any) -> T:
    general_path_allowed.set(True)  # this thread's copy of the caller's context
    return fn(*args)


def _fast_path(quads: list[Quad]) -> str | None:
    """Canonical N-Quads of ``quads`` (without duplicates) when every blank node has a distinct first-degree hash —
    then each is labelled in the order of its hash, as the full algorithm would (its steps 5.4); ``None`` otherwise."""
    key = _sort_key(term for quad in quads for term in quad if term is not None)
    mentions = _blank_node_quads(quads)
    by_hash: dict[str, str] = {}
    for blank, its in mentions.items():
        digest = _first_degree_hash(blank, its, key)
        if digest in by_hash:
            return None
        by_hash[digest] = blank
    labels = {blank: f"_:c14n{i}" for i, (_, blank) in enumerate(sorted(by_hash.items()))}
    return _serialise(quads, labels, key)


def canonical_sha256(quads: Iterable[Quad]) -> bytes:
    """SHA-256 of the canonical N-Quads (UTF-8), as ``eddsa-rdfc-2022`` hashes a document."""
    return hashlib.sha256(canonicalize(quads).encode("utf-8")).digest()


# --- the general path: RDFC-1.0 §4.4, as rdf-canonize runs it ------------------------------------------------------


class _WorkExceeded(Exception):
    pass


class _Issuer:
    """Identifier Issuer (RDFC-1.0 §4.5): blank node → ``prefix + counter``, in order of issue."""

    __slots__ = ("prefix", "issued")

    def __init__(self, prefix: str, issued: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.issued: dict[str, str] = {} if issued is None else issued

    def issue(self, blank: str) -> str:
        label = self.issued.get(blank)
        if label is None:
            label = self.issued[blank] = f"{self.prefix}{len(self.issued)}"
        return label

    def copy(self) -> _Issuer:
        return _Issuer(self.prefix, dict(self.issued))


def _permutations(items: list[str]) -> Iterator[list[str]]:
    """Every permutation of ``items``, in rdf-canonize's order (its ``Permuter``: Steinhaus–Johnson–Trotter from the
    sorted list). The order decides which permutations the chosen-path test prunes, hence the work counted."""
    current = sorted(items, key=_utf16)
    rank = {item: _utf16(item) for item in current}
    left = dict.fromkeys(current, True)
    n = len(current)
    while True:
        yield list(current)
        k = None
        pos = 0
        for i, element in enumerate(current):
            if (k is None or rank[element] > rank[k]) and (
                (left[element] and i > 0 and rank[element] > rank[current[i - 1]])
                or (not left[element] and i < n - 1 and rank[element] > rank[current[i + 1]])
            ):
                k, pos = element, i
        if k is None:
            return
        swap = pos - 1 if left[k] else pos + 1
        current[pos], current[swap] = current[swap], k
        for element in current:
            if rank[element] > rank[k]:
                left[element] = not left[element]


class _Rdfc10:
    def __init__(self, quads: list[Quad], key: Callable[[str], Any] | None, max_work_factor: float) -> None:
        self.quads = quads
        self.key = key
        self.max_work_factor = max_work_factor
        self.mentions = _blank_node_quads(quads)
        self.first_degree: dict[str, str] = {}
        self.canonical = _Issuer("_:c14n")
        self.remaining: float = 0

    def run(self) -> str:
        by_hash: dict[str, list[str]] = {}
        for blank, its in self.mentions.items():
            digest = self.first_degree[blank] = _first_degree_hash(blank, its, self.key)
            by_hash.setdefault(digest, []).append(blank)
        shared: list[list[str]] = []
        for digest in sorted(by_hash):
            blanks = by_hash[digest]
            if len(blanks) > 1:
                shared.append(blanks)
            else:
                self.canonical.issue(blanks[0])
        count = sum(len(blanks) for blanks in shared)
        # as rdf-canonize: count ** factor, 0 for a factor of 0 and no limit for an infinite one
        self.remaining = math.inf if self.max_work_factor == math.inf else float(count) ** self.max_work_factor
        if self.max_work_factor == 0:
            self.remaining = 0
        for blanks in shared:
            results = []
            for blank in blanks:
                if blank in self.canonical.issued:
                    continue
                temporary = _Issuer("_:b")
                temporary.issue(blank)
                results.append(self.hash_n_degree(blank, temporary))
            results.sort(key=lambda result: result[0])  # stable, as JavaScript's sort
            for _, issuer in results:
                for blank in issuer.issued:
                    self.canonical.issue(blank)
        return _serialise(self.quads, self.canonical.issued, self.key)

    def hash_related(self, related: str, quad: Quad, issuer: _Issuer, position: str) -> str:
        """Hash Related Blank Node (§4.7)."""
        label = self.canonical.issued.get(related) or issuer.issued.get(related) or self.first_degree[related]
        text = position + (quad[1] if position != "g" else "") + label
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def hash_n_degree(self, blank: str, issuer: _Issuer) -> tuple[str, _Issuer]:
        """Hash N-Degree Quads (§4.8)."""
        if self.remaining <= 0:
            raise _WorkExceeded
        self.remaining -= 1
        related_by_hash: dict[str, list[str]] = {}
        for quad in self.mentions[blank]:
            s, _, o, g = quad
            for component, position in ((s, "s"), (o, "o"), (g, "g")):
                if component is not None and component[0] == "_" and component != blank:
                    related_by_hash.setdefault(self.hash_related(component, quad, issuer, position), []).append(
                        component)
        data = hashlib.sha256()
        for related_hash in sorted(related_by_hash):
            data.update(related_hash.encode("ascii"))
            chosen_path = ""
            chosen_issuer: _Issuer | None = None
            for permutation in _permutations(related_by_hash[related_hash]):
                issuer_copy = issuer.copy()
                path = ""
                recursion: list[str] = []
                pruned = False
                for related in permutation:
                    label = self.canonical.issued.get(related)
                    if label is None:
                        if related not in issuer_copy.issued:
                            recursion.append(related)
                        label = issuer_copy.issue(related)
                    path += label
                    if chosen_path and path > chosen_path:
                        pruned = True
                        break
                if pruned:
                    continue
                for related in recursion:
                    result_hash, result_issuer = self.hash_n_degree(related, issuer_copy)
                    path += issuer_copy.issue(related) + "<" + result_hash + ">"
                    issuer_copy = result_issuer
                    if chosen_path and path > chosen_path:
                        pruned = True
                        break
                if pruned:
                    continue
                if not chosen_path or path < chosen_path:
                    chosen_path, chosen_issuer = path, issuer_copy
            data.update(chosen_path.encode("utf-8"))
            assert chosen_issuer is not None
            issuer = chosen_issuer
        return data.hexdigest(), issuer


def _full(quads: list[Quad], max_work_factor: float) -> str:
    """The whole of RDFC-1.0 in this process (no time limit): for the worker process, and for tests."""
    key = _sort_key(term for quad in quads for term in quad if term is not None)
    try:
        return _Rdfc10(quads, key, max_work_factor).run()
    except _WorkExceeded:
        raise CanonicalizationLimit(
            f"the dataset needs more runs of Hash N-Degree Quads than allowed (work factor {max_work_factor})") from None


# --- worker processes --------------------------------------------------------------------------------------------
#
# A worker is a fresh interpreter (``python -c``), not a multiprocessing child: forking a process that runs threads
# (the event loop's executor, the signing thread) is unsafe, and multiprocessing's spawn re-runs the parent's main
# script, which need not be guarded. It talks over a socket pair with multiprocessing's framed pickles, serves one
# dataset at a time, and stays for the next unless it ran out of time, when the caller kills it.

_ROOT = str(Path(__file__).resolve().parents[3])
_WORKER = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from services.credentials.proofs.canon import _serve; _serve(int(sys.argv[2]))"
)


def _serve(fd: int) -> None:
    """A worker's loop: canonicalise each dataset received until the caller hangs up."""
    conn = Connection(fd)

    def out_of_time(signum: int, frame: Any) -> None:
        raise _OutOfTime

    # its own deadline too, in case the caller died and cannot kill it; Ctrl-C is the caller's to handle
    signal.signal(signal.SIGALRM, out_of_time)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(("ready", None))
    while True:
        try:
            quads, max_work_factor, time_limit = conn.recv()
        except (EOFError, OSError):
            return
        try:
            signal.setitimer(signal.ITIMER_REAL, 2 * time_limit + 1)
            try:
                answer = ("ok", _full(quads, max_work_factor))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except (CanonicalizationLimit, _OutOfTime) as exc:
            answer = ("limit", str(exc) or "out of time")
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who raises it
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except OSError:
            return


class _OutOfTime(Exception):
    pass


class _Worker:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER, _ROOT, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        try:
            if not self.conn.poll(START_LIMIT):
                raise CanonicalizationLimit("the canonicalisation process did not start in time")
            self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise CanonicalizationLimit("the canonicalisation process did not start") from None
        except BaseException:
            self.kill()
            raise

    def run(self, quads: list[Quad], max_work_factor: float, time_limit: float) -> tuple[str, str]:
        self.conn.send((quads, max_work_factor, time_limit))
        if not self.conn.poll(time_limit):
            raise TimeoutError
        return self.conn.recv()  # type: ignore[no-any-return]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.conn.close()


_slots = threading.BoundedSemaphore(MAX_PROCESSES)  # MAX_PROCESSES is read once, here
_idle: list[_Worker] = []
_idle_lock = threading.Lock()


@atexit.register
def _shutdown() -> None:
    """Idle workers exit when their socket closes; wait for them (briefly) so that none outlives the service."""
    with _idle_lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.conn.close()
        try:
            worker.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def _general_path(quads: list[Quad], max_work_factor: float) -> str:
    if not _slots.acquire(timeout=WAIT_LIMIT):
        raise CanonicalizationLimit("no canonicalisation process was free in time")
    try:
        worker = None
        with _idle_lock:
            while _idle and worker is None:
                worker = _idle.pop()
                if worker.process.poll() is not None:  # it died while idle (killed from outside)
                    worker.kill()
                    worker = None
        if worker is None:
            worker = _Worker()
        try:
            status, text = worker.run(quads, max_work_factor, TIME_LIMIT)
        except TimeoutError:
            worker.kill()
            raise CanonicalizationLimit(f"canonicalisation took longer than {TIME_LIMIT} s") from None
        except (EOFError, OSError):
            worker.kill()  # it died (killed from outside, out of memory): the next call starts another
            raise CanonicalizationLimit("the canonicalisation process died") from None
        except BaseException:
            worker.kill()  # interrupted mid-exchange: its socket may still hold a stale answer
            raise
        with _idle_lock:
            _idle.append(worker)
    finally:
        _slots.release()
    if status == "ok":
        return text
    if status == "limit":
        raise CanonicalizationLimit(text)
    raise RuntimeError(f"canonicalisation failed: {text}")
