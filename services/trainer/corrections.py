"""The corrections dataset: every corrected thread, deduplicated, as JSONL with a manifest.

A correction is only useful with its thread, so a correction for a thread ingest never saw is refused
(it goes to the DLQ). Every accepted correction is also written at once to the few-shot store the LLM
engine reads for in-context learning, so it helps before any training run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.trainer.training.data import CorrectionRecord
from shared.consumer import PermanentError
from shared.events import FactsCorrected, FewShotEntry, NormalizedThread
from shared.keys import fewshot_key, thread_key
from shared.store import Store

__all__ = ["CorrectionStore", "fewshot_key", "fewshot_value", "thread_key"]


def fewshot_value(correction: FactsCorrected, thread: NormalizedThread) -> str:
    """The few-shot entry extract's LLM engine reads: thread, corrected facts, summary and tags."""
    entry = FewShotEntry(thread=thread, facts=correction.facts, summary=correction.summary, tags=correction.tags)
    return entry.model_dump_json()


class CorrectionStore:
    """Append-only JSONL per tenant, deduplicated by (thread, facts hash) in the store, with manifest.json."""

    def __init__(self, root: Path, store: Store) -> None:
        self.root = root
        self.store = store

    def _file(self, tenant: str) -> Path:
        """One file per tenant, named by the validated id as it is (sanitising merged tenants)."""
        from shared.tenants import check_tenant

        return self.root / f"corrections-{check_tenant(tenant)}.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    async def thread_for(self, correction: FactsCorrected) -> NormalizedThread:
        """The normalized thread the correction belongs to; unknown or unreadable: PermanentError (DLQ)."""
        raw = await self.store.get(thread_key(correction.tenant, correction.thread_id))
        if raw is None:
            raise PermanentError(
                f"correction for unknown thread {correction.thread_id!r} (tenant {correction.tenant!r}): "
                "ingest has no such thread"
            )
        try:
            return NormalizedThread.model_validate_json(raw)
        except ValidationError as exc:
            raise PermanentError(f"stored thread {correction.thread_id!r} is not a valid NormalizedThread") from exc

    async def accept(self, correction: FactsCorrected) -> bool:
        """Look the thread up, update the few-shot store, store the correction; False if stored before."""
        thread = await self.thread_for(correction)
        await self.store.hset(fewshot_key(correction.tenant), correction.thread_id, fewshot_value(correction, thread))
        return await self.add(correction, thread)

    async def add(self, correction: FactsCorrected, thread: NormalizedThread) -> bool:
        """Store one correction with its thread; False when the same correction was stored before."""
        key = f"correction:{correction.tenant}:{correction.thread_id}:{correction.facts.content_hash()}"
        if await self.store.exists(key):
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "thread_id": correction.thread_id,
            "tenant": correction.tenant,
            "correction": correction.model_dump(mode="json"),
            "thread": thread.model_dump(mode="json"),
            "stored_at": datetime.now(UTC).isoformat(),
        }
        with self._file(correction.tenant).open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._update_manifest(correction.tenant)
        await self.store.set(key, "1")
        return True

    def _update_manifest(self, tenant: str) -> None:
        manifest = self.manifest()
        path = self._file(tenant)
        with path.open(encoding="utf-8") as handle:
            count = sum(1 for line in handle if line.strip())
        manifest["files"][path.name] = {"tenant": tenant, "records": count}
        manifest["total_records"] = sum(entry["records"] for entry in manifest["files"].values())
        manifest["updated_at"] = datetime.now(UTC).isoformat()
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        tmp.replace(self.manifest_path)

    def manifest(self) -> dict[str, Any]:
        """The manifest: records per file and in total."""
        if not self.manifest_path.exists():
            return {"files": {}, "total_records": 0}
        data: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        data.setdefault("files", {})
        data.setdefault("total_records", sum(entry["records"] for entry in data["files"].values()))
        return data

    def total(self) -> int:
        """Corrections stored so far (all tenants): the scheduler counts new ones against it."""
        return int(self.manifest()["total_records"])

    def load(self) -> list[CorrectionRecord]:
        """The latest correction of every thread (a later correction of a thread replaces an earlier one)."""
        latest: dict[tuple[str, str], CorrectionRecord] = {}
        for path in sorted(self.root.glob("corrections-*.jsonl")):
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        raw = json.loads(line)
                        record = CorrectionRecord(
                            correction=FactsCorrected.model_validate(raw["correction"]),
                            thread=NormalizedThread.model_validate(raw["thread"]),
                        )
                    except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
                        raise ValueError(f"{path}:{number}: not a correction record ({exc})") from exc
                    key = (record.correction.tenant, record.correction.thread_id)
                    current = latest.get(key)
                    if current is None or record.correction.corrected_at >= current.correction.corrected_at:
                        latest[key] = record
        return list(latest.values())
