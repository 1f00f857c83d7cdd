"""Where a set of facts stands in its thread's history, so every consumer orders versions alike.

Quote uses it to refuse stale facts (no revision goes back in time), the review desk to keep the newest
facts of a thread, extract to skip versions a newer one in the same batch supersedes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class FactsOrder:
    """Where a set of facts stands in the thread's history: thread start, thread version, extraction time."""

    thread_version: int
    extracted_at: datetime | None = None
    thread_started_at: datetime | None = None

    def older_than(self, other: FactsOrder) -> bool:
        """Strictly older. Thread starts decide first when both are known (versions count from them);
        extraction times only break ties of the thread version, when both are known."""
        if self.thread_started_at is not None and other.thread_started_at is not None:
            mine, theirs = _aware(self.thread_started_at), _aware(other.thread_started_at)
            if mine != theirs:
                return mine < theirs
        if self.thread_version != other.thread_version:
            return self.thread_version < other.thread_version
        if self.extracted_at is None or other.extracted_at is None:
            return False
        return _aware(self.extracted_at) < _aware(other.extracted_at)


def _aware(moment: datetime) -> datetime:
    """A producer may send a naive timestamp: read it as UTC, so any two extraction times compare."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
