"""What an upload is made of once parsed, whatever its format: :class:`Item` rows in, one :class:`Outcome` each out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: a OneRoster sourcedId and what it names: (file, sourcedId, natural key) (:mod:`services.records.sync.repository`)
SourcedId = tuple[str, str, dict[str, str]]
#: the entity of an item that only carries sourcedIds to remember (OneRoster classes, line items): it gives no
#: records row and counts as no row of the job (its outcome is ``remembered``)
SOURCED_IDS = "sourcedIds"
#: what became of a row: what it did (:data:`~services.records.workspace.service.RowResult`), ``rejected`` (its
#: errors say why), or ``remembered`` (an item of sourcedIds only, :data:`SOURCED_IDS`: no row of the upload)
Result = Literal["created", "updated", "unchanged", "deleted", "pending", "rejected", "remembered"]
#: rows validated between two yields to the event loop, so a chunk's write in flight is not held up by the next
#: chunk's validation for long
YIELD_EVERY = 100


@dataclass
class Item:
    """One row of an upload. ``seq`` orders the job (resume point); ``row`` and ``source`` are what the school
    sees in errors (line number and file, or index and record type). ``op``: ``upsert``; ``delete``; or, for a
    grade, ``merge``: an upsert whose components are merged with the stored grade's (a delta carries only what
    changed). ``ids``: the OneRoster sourcedIds the row came from, remembered in its transaction unless it is
    rejected."""

    seq: int
    row: int
    source: str
    entity: str
    data: dict[str, Any] | None
    op: str = "upsert"
    errors: list[tuple[str, str]] = field(default_factory=list)
    ids: list[SourcedId] | None = None


@dataclass
class Outcome:
    item: Item
    result: Result
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: a grade row waiting for a set-based write (result ``pending`` until then): its
    #: :class:`~services.records.grades.repository.PendingGrade`
    pending: Any = None
