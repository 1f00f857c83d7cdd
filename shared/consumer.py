"""At-least-once message handling with a dead-letter topic.

Subscribers take records in batches and hand them to :class:`MessageGuard`, which
runs them one by one (in order within a partition) and sorts failures three ways:

- the message itself is bad (:class:`PermanentError`, pydantic validation, bad
  JSON or encoding): it goes to ``<topic>.dlq`` at once, with the reason in
  headers, and is acknowledged so the partition moves on;
- a dependency is down (:class:`TransientError`, connection errors, timeouts):
  the guard rewinds the partition to the message (seek) and it is tried again
  after a back-off, for as long as it takes: nothing is acknowledged without
  its effect;
- anything else (a bug): retried ``max_attempts`` times, then dead-lettered.

Offsets are committed by :class:`OffsetCommitter`: only offsets of messages whose
effect is done (never merely fetched ones), in the background every
``commit_interval_ms`` rather than one broker round trip per message. A crash or
rebalance can therefore redeliver up to one interval of processed messages, which
every consumer handles idempotently; it can never skip one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import BaseModel, ValidationError

from shared.ops import Metrics
from shared.settings import Settings
from shared.topics import dlq

logger = logging.getLogger(__name__)

DLQ_HEADER_PREFIX = "x-quoteflow-dlq-"

EventT = TypeVar("EventT", bound=BaseModel)


class PermanentError(Exception):
    """The message cannot be processed however often it is tried (bad input)."""


class TransientError(Exception):
    """A dependency failed; the same message should succeed later."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    try:
        import redis.exceptions as redis_errors

        if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | redis_errors.BusyLoadingError):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotEnoughReplicasError

        if isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NotEnoughReplicasError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


def _is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PermanentError | ValidationError | json.JSONDecodeError | UnicodeError)


def error_headers(exc: BaseException, attempt: int, source_topic: str, service: str, record: Any) -> dict[str, str]:
    """Headers that tell an operator why a message is in the DLQ (no body content)."""
    message = str(exc).replace("\n", " ")[:1000] or exc.__class__.__name__
    headers = {
        f"{DLQ_HEADER_PREFIX}error-class": f"{type(exc).__module__}.{type(exc).__qualname__}",
        f"{DLQ_HEADER_PREFIX}error-message": message,
        f"{DLQ_HEADER_PREFIX}attempt": str(attempt),
        f"{DLQ_HEADER_PREFIX}source-topic": source_topic,
        f"{DLQ_HEADER_PREFIX}service": service,
    }
    if record is not None:
        headers[f"{DLQ_HEADER_PREFIX}source-partition"] = str(getattr(record, "partition", ""))
        headers[f"{DLQ_HEADER_PREFIX}source-offset"] = str(getattr(record, "offset", ""))
    return headers


async def publish_dead_letter(
    broker: KafkaBroker,
    *,
    topic: str,
    body: bytes,
    key: bytes | None,
    original_headers: dict[str, Any],
    exc: BaseException,
    attempt: int,
    service: str,
    record: Any = None,
) -> None:
    """Send the original bytes to ``<topic>.dlq`` with the error in headers."""
    headers = {k: v if isinstance(v, str) else bytes(v).decode("utf-8", "replace") for k, v in original_headers.items()}
    headers.update(error_headers(exc, attempt, topic, service, record))
    await broker.publish(body, dlq(topic), key=key, headers=headers)


class OffsetCommitter:
    """Commits the offsets of processed messages, batched in time, never ahead of the work.

    One subscriber may own several consumers (concurrent workers between partitions):
    offsets are kept and committed per consumer, each for the partitions it owns.
    """

    def __init__(self, interval_s: float, max_pending: int = 1000) -> None:
        self.interval_s = interval_s
        self.max_pending = max_pending
        self._pending: dict[Any, dict[TopicPartition, int]] = {}
        self._since_flush = 0
        self._task: asyncio.Task[None] | None = None

    async def processed(self, consumer: Any, record: Any) -> None:
        """Record that ``record``'s effect is done; commit now if many are waiting."""
        if consumer is None or record is None:
            return
        offsets = self._pending.setdefault(consumer, {})
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), int(record.offset) + 1)
        self._since_flush += 1
        if self.interval_s <= 0 or self._since_flush >= self.max_pending:
            await self.flush()
        elif self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.interval_s)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending, self._since_flush = self._pending, {}, 0
        for consumer, offsets in pending.items():
            if not hasattr(consumer, "assignment"):  # faststream's TestKafkaBroker consumer: no offsets to commit
                continue
            assigned = consumer.assignment()
            owned = {tp: offset for tp, offset in offsets.items() if tp in assigned}
            if not owned:
                continue
            try:
                await consumer.commit(owned)
            except (KafkaError, AssertionError) as exc:
                # Typically a rebalance: the new owner re-processes these messages (idempotently).
                logger.warning("offset commit skipped (%s): messages may be redelivered", type(exc).__name__)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await self.flush()


TENANT_HEADER = "x-quoteflow-tenant"
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class Delivery:
    """One Kafka record as a handler sees it: its bytes, headers and place in the partition."""

    record: Any

    @property
    def body(self) -> bytes:
        return bytes(self.record.value or b"")

    @cached_property
    def headers(self) -> dict[str, str]:
        """Header values as text; bytes that are not UTF-8 replaced (see :meth:`unreadable_header`)."""
        return {k: bytes(v or b"").decode("utf-8", "replace") for k, v in (self.record.headers or ())}

    def unreadable_header(self) -> str | None:
        """Why a header cannot be trusted, or None when all are readable: a value that is not UTF-8, or a
        tenant header given twice with different values (:attr:`headers` would silently keep the last;
        either may be the wrong one) or spelt in other case (ignored, the mail would go to QUOTEFLOW_TENANT)."""
        tenants: set[bytes] = set()
        for name, value in self.record.headers or ():
            try:
                bytes(value or b"").decode()
            except UnicodeDecodeError as exc:
                return f"header {name!r} is not valid UTF-8 ({exc.reason} at byte {exc.start})"
            if name == TENANT_HEADER:
                tenants.add(bytes(value or b""))
            elif name.lower() == TENANT_HEADER:
                return f"header {name!r} is not {TENANT_HEADER!r} (header names are case-sensitive)"
        if len(tenants) > 1:
            names = ", ".join(repr(t.decode()) for t in sorted(tenants))
            return f"header {TENANT_HEADER!r} given more than once with different values ({names})"
        return None

    @property
    def tenant(self) -> str | None:
        return self.headers.get(TENANT_HEADER)

    @property
    def timestamp_ms(self) -> int:
        return max(int(getattr(self.record, "timestamp", 0) or 0), 0)


Process = Callable[[Delivery], Awaitable[None]]


def batch_records(message: KafkaMessage) -> list[Any]:
    """The aiokafka records of a fetched batch (one record for a subscriber without ``batch=True``)."""
    raw = message.raw_message
    return list(raw) if isinstance(raw, tuple | list) else [raw]


@dataclass
class MessageGuard:
    """Runs one subscriber's batches record by record, with retries, back-off and dead-lettering.

    A fetched batch is split by partition; partitions are handled concurrently, and within one
    partition up to ``concurrency`` records at once, those with the same key (SPEC §3: one
    thread) strictly in order. Overlapping records is what makes the per-record path cheap: their
    waits on Redis and on Kafka's acks overlap, and their publishes leave in shared produce
    requests instead of one request per record. Each record gets its own ``<topic> process``
    span, a child of the trace in its headers, so one e-mail keeps one trace however it was
    batched. A record that must be retried stops the partition's new work and rewinds it to
    the first record not done; only offsets below it are committed (records after it that were
    done run again, and every handler is idempotent).
    """

    broker: KafkaBroker
    settings: Settings
    topic: str
    tracer: Tracer
    group_id: str = ""
    on_dead_letter: Callable[[str, BaseException], None] | None = None
    _attempts: dict[tuple[int, int], int] = field(default_factory=dict)
    committer: OffsetCommitter = field(kw_only=True)
    """Commits what is done; the service's own, flushed when it stops."""
    metrics: Metrics | None = field(default=None, kw_only=True)
    concurrency: int = field(default=1, kw_only=True)
    """Records of one partition in flight at once (same key: in order); 1 is strictly in order."""

    async def run_batch(self, message: KafkaMessage, process: Process, records: Sequence[Any] | None = None) -> None:
        """Handle every record of a fetched batch (faststream ``batch=True`` subscriber), or only ``records``
        of it (the rest :meth:`hand_back`-ed, or lost to the partition's next fetch)."""
        if records is None:
            records = batch_records(message)
        by_partition: dict[TopicPartition, list[Any]] = {}
        for record in records:
            by_partition.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        consumer = getattr(message, "consumer", None)
        await asyncio.gather(*(self._run_partition(consumer, tp, part, process) for tp, part in by_partition.items()))

    async def _run_partition(self, consumer: Any, tp: TopicPartition, records: list[Any], process: Process) -> None:
        if self.concurrency > 1 and len(records) > 1:
            await self._run_overlapped(consumer, tp, records, process)
        else:
            await self._run_in_order(consumer, tp, records, process)

    async def _run_overlapped(self, consumer: Any, tp: TopicPartition, records: list[Any], process: Process) -> None:
        """Up to ``concurrency`` records of the partition at once, each key's records one after another."""
        done = [False] * len(records)
        halted = False  # a record must be retried: start nothing new, rewind to the first record not done
        slots = asyncio.Semaphore(self.concurrency)
        last_of_key: dict[Any, tuple[int, asyncio.Task[None]]] = {}

        async def run(index: int, before: tuple[int, asyncio.Task[None]] | None) -> None:
            nonlocal halted
            try:
                if before is not None:
                    await asyncio.wait([before[1]])
                    if not done[before[0]]:  # its key's earlier record was not done: this one must wait too
                        return
                if halted:
                    return
                if await self._run_one(Delivery(records[index]), process):
                    done[index] = True
                else:
                    halted = True
            finally:
                slots.release()

        tasks: list[asyncio.Task[None]] = []
        try:
            for index, record in enumerate(records):
                await slots.acquire()
                if halted:
                    slots.release()
                    break
                task = asyncio.create_task(run(index, last_of_key.get(record.key)))
                last_of_key[record.key] = (index, task)
                tasks.append(task)
            await asyncio.gather(*tasks)
        except BaseException:
            # Cancelled (shutdown) or a bug in the guard: stop the rest, then hand back everything not done.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            prefix = done.index(False) if False in done else len(done)
            if prefix < len(records):
                self._rewind(consumer, tp, int(records[prefix].offset))
            if prefix:
                await self.committer.processed(consumer, records[prefix - 1])

    async def _run_in_order(self, consumer: Any, tp: TopicPartition, records: list[Any], process: Process) -> None:
        done: Any = None
        try:
            for record in records:
                if not await self._run_one(Delivery(record), process):
                    self._rewind(consumer, tp, int(record.offset))
                    break
                done = record
        except BaseException:
            # Cancelled (shutdown) or a bug in the guard: hand back everything not done.
            self._rewind(consumer, tp, int(done.offset) + 1 if done is not None else int(records[0].offset))
            raise
        finally:
            if done is not None:
                await self.committer.processed(consumer, done)

    def hand_back(self, message: KafkaMessage, records: Sequence[Any]) -> None:
        """Fetch ``records`` (the tail of their partitions in this batch) again in a later batch, unprocessed:
        each partition is rewound to its first record among them. Nothing of theirs is committed."""
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first[tp] = min(first.get(tp, int(record.offset)), int(record.offset))
        consumer = getattr(message, "consumer", None)
        for tp, offset in first.items():
            self._rewind(consumer, tp, offset)

    def _rewind(self, consumer: Any, tp: TopicPartition, offset: int) -> None:
        """Fetch the partition again from ``offset`` (the record to retry)."""
        if consumer is None:
            return
        try:
            consumer.seek(tp, offset)
        except Exception as exc:  # revoked meanwhile: its new owner starts from the committed offset
            logger.warning("cannot rewind %s[%d] to %d (%s)", tp.topic, tp.partition, offset, type(exc).__name__)

    def _span_attributes(self, record: Any) -> dict[str, Any]:
        """OTel messaging attributes of one record (no key, no body: both may carry mail data)."""
        return {
            "messaging.system": "kafka",
            "messaging.operation": "process",
            "messaging.destination.name": record.topic,
            "messaging.kafka.destination.partition": int(record.partition),
            "messaging.kafka.message.offset": int(record.offset),
            "messaging.kafka.consumer.group": self.group_id,
            "messaging.message.body.size": len(record.value or b""),
        }

    async def _run_one(self, delivery: Delivery, process: Process) -> bool:
        """True when the record's effect is done (or it is dead-lettered); False to rewind and retry."""
        record = delivery.record
        position = (int(record.partition), int(record.offset))
        attempt = self._attempts.get(position, 0) + 1
        started = time.perf_counter()
        outcome = "ok"
        with self.tracer.start_as_current_span(
            f"{record.topic} process",
            context=_PROPAGATOR.extract(delivery.headers),
            kind=SpanKind.CONSUMER,
            attributes=self._span_attributes(record),
            record_exception=False,
        ) as span:
            try:
                if (problem := delivery.unreadable_header()) is not None:
                    raise PermanentError(problem)
                await process(delivery)
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__qualname__)
                done = await self._failed(delivery, exc, attempt, position)
                outcome = "dead_letter" if done else "retry"
                return done
            finally:
                if self.metrics is not None:
                    self.metrics.processing.labels(self.metrics.service, self.topic, outcome).observe(
                        time.perf_counter() - started
                    )
        self._attempts.pop(position, None)
        return True

    async def _failed(self, delivery: Delivery, exc: Exception, attempt: int, position: tuple[int, int]) -> bool:
        if _is_permanent(exc) or (not _is_transient(exc) and attempt >= self.settings.max_attempts):
            try:
                await self._dead_letter(delivery, exc, attempt)
            except Exception as dlq_exc:
                # The dead letter is the record's effect: without it, rewind and try again later.
                logger.error("%s: dead-letter publish failed (%s)", self.settings.service_name, dlq_exc)
                await asyncio.sleep(self.settings.retry_backoff_max_s)
                return False
            self._attempts.pop(position, None)
            return True
        self._attempts[position] = attempt
        if self.metrics is not None:
            self.metrics.retries.labels(self.metrics.service, self.topic).inc()
        delay = min(self.settings.retry_backoff_s * 2 ** (attempt - 1), self.settings.retry_backoff_max_s)
        logger.warning(
            "%s: attempt %d failed on %s[%d]@%d (%s), retrying in %.1fs",
            self.settings.service_name,
            attempt,
            self.topic,
            position[0],
            position[1],
            type(exc).__name__,
            delay,
        )
        await asyncio.sleep(delay)
        return False

    async def _dead_letter(self, delivery: Delivery, exc: BaseException, attempt: int) -> None:
        record = delivery.record
        logger.error(
            "%s: dead-lettering %s[%s]@%s after %d attempt(s): %s: %s",
            self.settings.service_name,
            self.topic,
            record.partition,
            record.offset,
            attempt,
            type(exc).__name__,
            str(exc)[:300],
        )
        await publish_dead_letter(
            self.broker,
            topic=self.topic,
            body=delivery.body,
            key=record.key,
            original_headers=delivery.headers,
            exc=exc,
            attempt=attempt,
            service=self.settings.service_name,
            record=record,
        )
        if self.metrics is not None:
            self.metrics.dead_letters.labels(self.metrics.service, self.topic, type(exc).__name__).inc()
        if self.on_dead_letter is not None:
            self.on_dead_letter(self.topic, exc)


async def publish_event(
    publisher: Any, event: BaseModel, *, key: str, tenant: str | None = None, topic: str = ""
) -> None:
    """Publish a versioned event as JSON, keyed (thread or adapter id) so its stream stays in order.

    ``publisher`` is a faststream publisher (topic fixed) or a broker (``topic`` given).
    """
    headers = {"content-type": "application/json"}
    if tenant:
        headers[TENANT_HEADER] = tenant
    await publisher.publish(event.model_dump_json().encode(), topic, key=key.encode(), headers=headers)


def parse_event(model: type[EventT], body: bytes) -> EventT:
    """Validate a JSON payload against a versioned model; any problem is a PermanentError.

    A valid event is parsed by pydantic straight from the bytes (once, in Rust: the per-message path); only a
    payload it refuses is read again step by step, to say what is wrong with it."""
    if not body:
        raise PermanentError("empty message")
    try:
        return model.model_validate_json(body)
    except (ValidationError, RecursionError):
        pass
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PermanentError(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:  # [[[[…: no retry can read it
        raise PermanentError("invalid JSON: nested too deeply") from exc
    if not isinstance(data, dict):
        raise PermanentError(f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", 1)
    expected = model.model_fields["schema_version"].default
    if version != expected:
        raise PermanentError(f"unsupported schema_version {version!r} for {model.__name__} (expected {expected})")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PermanentError(f"invalid {model.__name__}: {exc.error_count()} error(s): {_first_errors(exc)}") from exc


def _first_errors(exc: ValidationError, n: int = 3) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:n])
