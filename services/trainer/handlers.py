"""Trainer handler: consumes quoteflow.facts.corrected into the corrections dataset and the few-shot store."""

from __future__ import annotations

import logging

from services.trainer.corrections import CorrectionStore
from services.trainer.registry import AdapterAnnouncer, Publish
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.consumer import Delivery, parse_event, publish_event
from shared.events import AdapterEvent, FactsCorrected
from shared.service import ServiceRuntime
from shared.subscribe import Subscription

logger = logging.getLogger(__name__)

TRAINER_GROUP = "quoteflow-trainer"
CORRECTIONS = Subscription(
    topics.FACTS_CORRECTED,
    TRAINER_GROUP,
    title="facts.corrected",
    description="Corrected key facts for a thread, from people or downstream systems.",
)


def register(runtime: ServiceRuntime, settings: TrainerSettings) -> AdapterAnnouncer:
    """Subscribe the trainer to corrections; returns the announcer that publishes on models.adapters."""
    broker = runtime.broker
    corrections = CorrectionStore(settings.dataset_dir, runtime.store)
    publisher = broker.publisher(
        topics.MODELS_ADAPTERS,
        title="models.adapters",
        description="Trained LoRA adapters, their evaluation and whether they are promoted.",
        schema=AdapterEvent,
    )

    async def publish(event: AdapterEvent) -> None:
        await publish_event(publisher, event, key=event.adapter_id)

    async def process(delivery: Delivery) -> None:
        correction = parse_event(FactsCorrected, delivery.body)
        stored = await corrections.accept(correction)
        logger.info(
            "correction for %s/%s %s",
            correction.tenant,
            correction.thread_id,
            "stored" if stored else "already stored",
        )

    runtime.subscribe(CORRECTIONS, process)

    publish_fn: Publish = publish
    return AdapterAnnouncer(runtime.store, publish_fn)
