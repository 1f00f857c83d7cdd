"""One extraction per burst: of several versions of one thread in a fetched batch, only the newest is extracted.

Ingest publishes a new :class:`~shared.events.NormalizedThread` version for every message a
thread gains, so a burst of replies (or a backlog after downtime) puts several versions of
one thread in one batch. Each version is the whole thread so far, and quote keeps only the
newest facts of a thread (older ones are *stale*, no revision), so extracting the older
versions is wasted work: with the LLM engine tens of seconds each on a CPU.

:func:`plan_batch` decides, before anything runs, what each record of a batch becomes:

- *superseded*: a newer version of the same thread (same tenant and ``thread_id``) comes later
  in the same partition of this batch. It is counted and committed without an event.
  "Newer" is quote's order (``services/quote/numbering.py``): ``started_at`` first when both
  versions have one (a thread whose ingest state expired starts again at version 1), then
  ``version``; of equal ones the later record wins. Only records that will be processed can
  supersede: one that fails to parse, or whose headers the guard refuses, goes to the DLQ as
  before and supersedes nothing.
- *extracted*: every other record that parses; its parsed thread is kept, so it is not parsed twice.
- *handed back*: the LLM engine's time budget allows ``max_extractions`` extractions per batch
  (:meth:`ExtractSettings.records_per_batch`, within ``max.poll.interval.ms``); the tail of a
  partition from the first extraction past it is fetched again in the next batch, unprocessed.
  So the subscriber can fetch a full ``consumer_batch_max`` batch (and see the whole burst)
  while doing no more slow work per batch than before. Superseded records and dead letters
  cost nothing and do not count. The partitions take turns at the budget (``first_partition``
  rotates), so a busy partition cannot starve the others.

Both engines skip superseded versions: it is correct for both (quote would drop their facts as
stale or unchanged), and the rules engine saves its milliseconds too. Records are always
handled in partition order, so a superseded record's offset is committed only with, or before,
the newer version's: a crash in between redelivers the newer one, never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.consumer import Delivery, PermanentError, parse_event
from shared.events import NormalizedThread

logger = logging.getLogger(__name__)

Position = tuple[str, int, int]
"""Topic, partition, offset of a record."""


def position(record: Any) -> Position:
    return (str(record.topic), int(record.partition), int(record.offset))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def older(thread: NormalizedThread, other: NormalizedThread) -> bool:
    """``thread`` is strictly older than ``other`` (same order as quote's FactsOrder, without extraction times)."""
    if thread.started_at is not None and other.started_at is not None:
        mine, theirs = _aware(thread.started_at), _aware(other.started_at)
        if mine != theirs:
            return mine < theirs
    return thread.version < other.version


@dataclass
class BatchPlan:
    """What to do with each record of one fetched batch."""

    now: list[Any] = field(default_factory=list)
    """Records to handle in this batch, in batch order."""
    handed_back: list[Any] = field(default_factory=list)
    """Records to fetch again in a later batch (past the extraction budget)."""
    threads: dict[Position, NormalizedThread] = field(default_factory=dict)
    """Parsed threads of the records to extract."""
    superseded: dict[Position, Position] = field(default_factory=dict)
    """Superseded record → the record of the version that supersedes it."""

    @property
    def extractions(self) -> int:
        """Records of :attr:`now` that will be extracted."""
        return sum(1 for record in self.now if position(record) in self.threads)


def _parsed(record: Any) -> NormalizedThread | None:
    """The record's thread, or None when the guard will dead-letter it (unreadable header, invalid body)."""
    delivery = Delivery(record)
    try:
        if delivery.unreadable_header() is not None:
            return None
        thread: NormalizedThread = parse_event(NormalizedThread, delivery.body)
    except PermanentError:
        return None
    except Exception:  # a bug: the guard meets it again in process and retries, then dead-letters
        logger.debug("cannot plan record %s", position(record), exc_info=True)
        return None
    return thread


def plan_batch(records: Sequence[Any], *, max_extractions: int, first_partition: int = 0) -> BatchPlan:
    """Sort one batch's records into superseded, extracted and handed back (see the module docstring)."""
    by_partition: dict[tuple[str, int], list[Any]] = {}
    for record in records:
        by_partition.setdefault((str(record.topic), int(record.partition)), []).append(record)
    plan = BatchPlan()
    for part in by_partition.values():
        newest: dict[tuple[str, str], tuple[Any, NormalizedThread]] = {}
        for record in part:
            thread = _parsed(record)
            if thread is None:
                continue
            key = (thread.tenant, thread.thread_id)
            best = newest.get(key)
            if best is not None and older(thread, best[1]):
                plan.superseded[position(record)] = position(best[0])
                continue
            if best is not None:
                plan.superseded[position(best[0])] = position(record)
                del plan.threads[position(best[0])]
            newest[key] = (record, thread)
            plan.threads[position(record)] = thread
    # A record superseded by one that was itself superseded later: point it at the newest.
    for old, newer in plan.superseded.items():
        while newer in plan.superseded:
            newer = plan.superseded[newer]
        plan.superseded[old] = newer

    parts = list(by_partition.values())
    if parts:
        start = first_partition % len(parts)
        parts = parts[start:] + parts[:start]
    kept: set[Position] = set()
    budget = max(1, max_extractions)
    for part in parts:
        for index, record in enumerate(part):
            if position(record) in plan.threads:
                if budget == 0:
                    plan.handed_back.extend(part[index:])
                    break
                budget -= 1
            kept.add(position(record))
    for record in plan.handed_back:
        plan.threads.pop(position(record), None)
        plan.superseded.pop(position(record), None)
    plan.now = [record for record in records if position(record) in kept]
    return plan
