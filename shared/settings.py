"""The one settings base: every option is an environment variable with prefix QUOTEFLOW_.

Services subclass :class:`Settings` and add their own fields; nothing reads
``os.environ`` directly. Secrets are ``SecretStr`` so they never print, and can
also come from files (``QUOTEFLOW_SECRETS_DIR``, e.g. Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.tenants import TenantId


def _secrets_dir() -> str | None:
    path = os.environ.get("QUOTEFLOW_SECRETS_DIR")
    return path if path and Path(path).is_dir() else None


class Settings(BaseSettings):
    """Options common to every service."""

    model_config = SettingsConfigDict(
        env_prefix="QUOTEFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        secrets_dir=_secrets_dir(),
    )

    service_name: str = Field(default="quoteflow", description="Service name in traces, logs and client ids.")
    tenant: TenantId = Field(
        default="default",
        description="Tenant used when an event names none. Every tenant id (here, in events, in the "
        "x-quoteflow-tenant header, in --tenant) is 1-63 of a-z, 0-9, '-', '_', starting with a letter or digit.",
    )

    # Kafka
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port,...). Unset: start the embedded broker.",
    )
    kafka_idempotence: bool | None = Field(
        default=None,
        description="Idempotent producer. Unset: on for a configured broker, off for the embedded one "
        "(Tansu 0.6 answers InitProducerId with an error).",
    )
    kafka_partitions: int = Field(default=3, ge=1, description="Partitions for topics QuoteFlow creates.")
    kafka_replication_factor: int = Field(default=1, ge=1, description="Replication factor for created topics.")
    kafka_create_topics: bool = Field(default=True, description="Create missing topics at start-up.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (secret).")
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle for Kafka TLS.")
    kafka_max_poll_interval_ms: int = Field(
        default=300_000, description="Consumer max.poll.interval.ms; handlers stay far below it."
    )
    consumer_batch_max: int = Field(
        default=100,
        ge=1,
        description="Most records a subscriber fetches and handles as one batch: the partitions in a batch "
        "are handled concurrently (waits on Kafka and Redis overlap), each thread in order; offsets are "
        "committed per record done. Lower it for slow handlers (extract's LLM engine fetches this many, so a "
        "burst of one thread's versions is extracted once, but extracts only as many per batch as its time "
        "budget allows).",
    )
    partition_concurrency: int = Field(
        default=8,
        ge=1,
        description="Records of one partition handled at once, those with the same key (one thread) always in "
        "order: waits on Redis and Kafka acks overlap and their publishes share produce requests. An offset is "
        "committed only once every record before it is done; 1 handles a partition strictly in order.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=50,
        ge=0,
        description="Longest a fetch waits for data; low keeps latency low on brokers that do not wake "
        "long polls early (Tansu).",
    )
    kafka_fetch_min_bytes: int = Field(
        default=1,
        ge=1,
        description="A fetch returns once this much data is waiting (or after kafka_fetch_max_wait_ms). "
        "1 answers at once (lowest latency); larger values gather bigger batches per request at the cost "
        "of up to kafka_fetch_max_wait_ms per hop when traffic is light (bench/results: no clear gain on "
        "the embedded broker).",
    )
    kafka_max_batch_bytes: int = Field(
        default=1024 * 1024,
        ge=16 * 1024,
        description="Producer batch size (Kafka's batch.size): records to one partition share a produce request "
        "up to this many bytes. The client's 16 KiB default holds about one quote document, so each publish "
        "waited for the one before it to be sent (bench/profile_pipeline: quote's CPU per message -18 %).",
    )
    kafka_max_message_bytes: int = Field(
        default=64 * 1024 * 1024, description="Largest record the clients fetch or send (bytes)."
    )

    # Redis
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis:// or rediss:// URL (may carry a password). Unset: start the embedded redis-server.",
    )

    # Reliability
    max_attempts: int = Field(
        default=5, ge=1, description="Attempts for an unexpected error before the message goes to the DLQ."
    )
    commit_interval_ms: int = Field(
        default=200, ge=0, description="Offsets of processed messages are committed this often (0: every message)."
    )
    retry_backoff_s: float = Field(default=0.2, ge=0, description="First retry delay; doubles per attempt.")
    retry_backoff_max_s: float = Field(default=5.0, ge=0, description="Longest retry delay.")

    # Observability
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP endpoint of the OpenTelemetry collector, e.g. http://otel:4318."
    )
    ops_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of /healthz, /readyz, /metrics (0: any free port; unset: off).",
    )
    ops_host: str = Field(default="127.0.0.1", description="Address the ops endpoints bind to (0.0.0.0 in containers).")
    log_level: str = Field(default="INFO", description="Log level.")
    log_json: bool = Field(default=False, description="Structured JSON logs (with trace ids).")

    # Local state
    data_dir: Path = Field(
        default=Path(".quoteflow"), description="Folder for local state (datasets, registry, embedded Redis data)."
    )

    # The adapter registry (shared/registry.py): the trainer writes it, extract reads which adapter to serve.
    adapters_dir: Path = Field(
        default=Path(".quoteflow/adapters"),
        description="Folder TGI loads adapters from (docker-compose mounts it); holds registry.json.",
    )
    bundled_adapter: bool = Field(
        default=True,
        description="An empty registry starts with the adapter shipped in models/adapters/ (Gemma 3 270M, for the "
        "embedded LLM); false for a fresh registry, e.g. beside TGI serving another base model.",
    )

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def producer_idempotence(self) -> bool:
        if self.kafka_idempotence is not None:
            return self.kafka_idempotence
        return not self.embedded_kafka
