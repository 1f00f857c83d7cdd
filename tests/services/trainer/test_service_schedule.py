"""A scheduled run on the real broker and Redis: enough corrections arrive, the service trains the tiny
Gemma 2 by itself (in a child process), records the adapter and announces it on quoteflow.models.adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.trainer.corrections import thread_key
from services.trainer.main import build_service
from services.trainer.registry import AdapterRegistry
from services.trainer.training.recipe import RECIPES_DIR
from shared import topics
from shared.settings import Settings
from tests.services.trainer.corpus import make_correction
from tests.services.trainer.test_service import _adapter_events, _publish, _records, _settings

pytestmark = [pytest.mark.integration, pytest.mark.train]


async def test_enough_corrections_start_a_scheduled_run_that_announces_its_adapter(
    stack: Settings, tmp_path: Path
) -> None:
    pytest.importorskip("peft")
    settings = _settings(
        stack,
        tmp_path,
        schedule_enabled=True,
        schedule_check_s=0.5,
        min_new_corrections=8,
        min_interval_hours=0,
        recipe=RECIPES_DIR / "tiny-cpu.yaml",
        redis_url=stack.redis_url,
    )
    runtime = build_service(settings)
    await runtime.start()
    try:
        corrections = []
        for index in range(40, 48):
            thread, correction = make_correction(index, tenant="sched")
            await runtime.store.set(thread_key("sched", thread.thread_id), thread.model_dump_json())
            corrections.append((thread.thread_id.encode(), correction.model_dump_json().encode()))
        await _publish(stack, topics.FACTS_CORRECTED, corrections)

        def trained(records: list[object]) -> bool:
            return any(e.recipe for e in _adapter_events(records))

        events = [e for e in _adapter_events(await _records(stack, topics.MODELS_ADAPTERS, trained)) if e.recipe]
        assert len(events) == 1, "the scheduled run did not announce an adapter"
        event = events[0]
        assert (Path(event.path) / "adapter_model.safetensors").exists()
        assert event.dataset_size > 0 and "key_fact_f1" in event.baseline_metrics
        assert AdapterRegistry(settings.adapters_dir).list()[-1].adapter_id == event.adapter_id
        last = json.loads((await runtime.store.get("trainer:run:last")) or b"{}")
        assert last["adapter_id"] == event.adapter_id and last["corrections_total"] == 8
    finally:
        await runtime.stop()
