"""Trainer handler: consumes quoteflow.facts.corrected into the corrections dataset and the few-shot store."""

from __future__ import annotations

import logging

from faststream.kafka.annotations import KafkaMessage

from services.trainer.corrections import CorrectionStore
from services.trainer.registry import AdapterAnnouncer, Publish
from services.trainer.settings import TrainerSettings
from shared import topics
from shared.broker import subscriber_options
from shared.consumer import Delivery, MessageGuard, parse_event, publish_event
from shared.events import AdapterEvent, FactsCorrected
from shared.service import ServiceRuntime

logger = logging.getLogger(__name__)

TRAINER_GROUP = "quoteflow-trainer"


def register(runtime: ServiceRuntime, settings: TrainerSettings) -> AdapterAnnouncer:
    """Subscribe the trainer to corrections; returns the announcer that publishes on models.adapters."""
    broker = runtime.broker
    corrections = CorrectionStore(settings.dataset_dir, runtime.store)
    guard = MessageGuard(broker, settings, topics.FACTS_CORRECTED, runtime.telemetry.tracer, group_id=TRAINER_GROUP)
    publisher = broker.publisher(
        topics.MODELS_ADAPTERS,
        title="models.adapters",
        description="Trained LoRA adapters, their evaluation and whether they are promoted.",
        schema=AdapterEvent,
    )

    async def publish(event: AdapterEvent) -> None:
        await publish_event(publisher, event, key=event.adapter_id)

    @broker.subscriber(
        topics.FACTS_CORRECTED,
        title="facts.corrected",
        description="Corrected key facts for a thread, from people or downstream systems.",
        **subscriber_options(settings, group_id=TRAINER_GROUP),
    )
    async def on_corrections(bodies: list[bytes], msg: KafkaMessage) -> None:
        await guard.run_batch(msg, process)

    async def process(delivery: Delivery) -> None:
        correction = parse_event(FactsCorrected, delivery.body)
        stored = await corrections.accept(correction)
        logger.info(
            "correction for %s/%s %s",
            correction.tenant,
            correction.thread_id,
            "stored" if stored else "already stored",
        )

    publish_fn: Publish = publish
    return AdapterAnnouncer(runtime.store, publish_fn)
