"""The corrections dataset: every corrected thread, deduplicated, as JSONL with a manifest.

Each record holds the corrected facts and, when ingest still has it, the
normalized thread, so that it can become a training pair later.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.events import FactsCorrected, NormalizedThread
from shared.store import Store


class CorrectionStore:
    """Append-only JSONL per tenant, deduplicated by (thread, facts hash) in the store."""

    def __init__(self, root: Path, store: Store) -> None:
        self.root = root
        self.store = store

    def _file(self, tenant: str) -> Path:
        return self.root / f"corrections-{tenant}.jsonl"

    async def thread_for(self, correction: FactsCorrected) -> NormalizedThread | None:
        raw = await self.store.get(f"thread:{correction.tenant}:{correction.thread_id}")
        return NormalizedThread.model_validate_json(raw) if raw else None

    async def add(self, correction: FactsCorrected, thread: NormalizedThread | None) -> bool:
        """Store one correction; False when the same correction was stored before."""
        key = f"correction:{correction.tenant}:{correction.thread_id}:{correction.facts.content_hash()}"
        if await self.store.exists(key):
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "thread_id": correction.thread_id,
            "tenant": correction.tenant,
            "facts": correction.facts.model_dump(mode="json"),
            "summary": correction.summary,
            "tags": correction.tags,
            "corrected_at": correction.corrected_at.isoformat(),
            "thread": thread.model_dump(mode="json") if thread else None,
        }
        with self._file(correction.tenant).open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        await self._update_manifest(correction.tenant)
        await self.store.set(key, "1")
        await self.store.incr(f"corrections:new:{correction.tenant}")
        return True

    async def _update_manifest(self, tenant: str) -> None:
        manifest_path = self.root / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"files": {}}
        path = self._file(tenant)
        with path.open(encoding="utf-8") as handle:
            count = sum(1 for _ in handle)
        manifest["files"][path.name] = {"tenant": tenant, "records": count}
        manifest["updated_at"] = datetime.now(UTC).isoformat()
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        tmp.replace(manifest_path)
