"""Trainer handler: consumes quoteflow.facts.corrected into the corrections dataset."""

from __future__ import annotations

import logging

from faststream.kafka.annotations import KafkaMessage

from services.trainer.corrections import CorrectionStore
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.broker import subscriber_options
from shared.consumer import MessageGuard, parse_event
from shared.events import AdapterEvent, FactsCorrected
from shared.service import ServiceRuntime

logger = logging.getLogger(__name__)


def register(runtime: ServiceRuntime, settings: TrainerSettings) -> None:
    """Subscribe the trainer to corrections; adapters are published on models.adapters."""
    broker = runtime.broker
    corrections = CorrectionStore(settings.dataset_dir, runtime.store)
    guard = MessageGuard(broker, settings, topics.FACTS_CORRECTED)
    broker.publisher(
        topics.MODELS_ADAPTERS,
        title="models.adapters",
        description="Trained LoRA adapters, their evaluation and whether they are promoted.",
        schema=AdapterEvent,
    )

    @broker.subscriber(
        topics.FACTS_CORRECTED,
        title="facts.corrected",
        description="Corrected key facts for a thread, from people or downstream systems.",
        **subscriber_options(settings, group_id="quoteflow-trainer"),
    )
    async def on_correction(body: bytes, msg: KafkaMessage) -> None:
        async def process() -> None:
            correction = parse_event(FactsCorrected, body)
            thread = await corrections.thread_for(correction)
            stored = await corrections.add(correction, thread)
            logger.info(
                "correction for %s %s (thread %s)",
                correction.thread_id,
                "stored" if stored else "already stored",
                "known" if thread else "unknown",
            )

        await guard.run(msg, process)
