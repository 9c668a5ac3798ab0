"""Searches repeated within a few seconds are answered from memory: popular queries ("kỹ năng giao tiếp") and the
pages after a first one. What is kept is the ranking — a page's object ids and scores, whether more follow, the
total and the facets — never the objects: a page's objects are read again on every answer, through the caller's
visibility filter, so an object withdrawn or hidden since is never shown.

A copy belongs to one search (words, filters, order, cursor, page size) *and* one visibility — anonymous, signed
in, the institutions the caller belongs to and those it works for — so nobody is ever answered with counts or
rankings made for a caller who may see more. It lives ``search_cache_seconds``; a change to a learning object or
its tags committed by this process drops every copy at once (:func:`watch`) and none is made for a couple of
seconds after (search reads a replica when there is one, which may lag), and another replica's change is seen
within those seconds (view and download counts, updated by Core statements, likewise).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

MAX_KEPT = 4096
#: how long after an invalidation no ranking is kept (a read replica's lag)
SETTLE_SECONDS = 2.0
_INFO = "search_cache"
_DIRTY = "search_cache_dirty"


class SearchCache:
    def __init__(self, seconds: float, *, max_kept: int = MAX_KEPT, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.max_kept = max_kept
        self.clock = clock
        self._kept: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        #: bumped by every invalidation: a ranking computed while one happened is not kept
        self.generation = 0
        #: nor one computed in the SETTLE_SECONDS after it: search reads a replica when there is one, which may not
        #: show the commit yet, and a copy would outlive the replica's lag by its whole lifetime
        self._keep_after = float("-inf")

    def get(self, key: Hashable) -> Any | None:
        found = self._kept.get(key)
        if found is None:
            return None
        if self.clock() >= found[0]:
            del self._kept[key]
            return None
        self._kept.move_to_end(key)
        return found[1]

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        if self.seconds <= 0 or generation != self.generation or self.clock() < self._keep_after:
            return
        self._kept[key] = (self.clock() + self.seconds, value)
        self._kept.move_to_end(key)
        while len(self._kept) > self.max_kept:
            self._kept.popitem(last=False)

    def invalidate(self) -> None:
        self.generation += 1
        self._keep_after = self.clock() + SETTLE_SECONDS
        self._kept.clear()


def watch(sessionmaker: Any, cache: SearchCache) -> None:
    """Sessions of ``sessionmaker`` (the learning service's) drop ``cache`` when they commit a change to a
    learning object or its tags."""
    sessionmaker.configure(info={_INFO: cache})
    _listen_once()


_listening = False


def _listen_once() -> None:
    global _listening
    if _listening:
        return
    _listening = True
    from services.learning.models import LearningObject, LearningObjectTag

    watched = (LearningObject, LearningObjectTag)

    @event.listens_for(Session, "after_flush")
    def _flushed(session: Session, _context: Any) -> None:
        if _INFO in session.info and not session.info.get(_DIRTY):
            if any(isinstance(o, watched) for o in (*session.new, *session.dirty, *session.deleted)):
                session.info[_DIRTY] = True
                session.info[_INFO].invalidate()  # also now: a search running meanwhile keeps nothing

    @event.listens_for(Session, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop(_DIRTY, False):
            session.info[_INFO].invalidate()

    @event.listens_for(Session, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_DIRTY, None)
