"""Trainer options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import Settings


class TrainerSettings(Settings):
    """Where corrections and adapters are kept, when fine-tunes run and what promotes an adapter."""

    service_name: str = "trainer"
    dataset_dir: Path = Field(default=Path(".quoteflow/dataset"), description="Corrections store (JSONL + manifest).")
    trainer_cache_dir: Path = Field(
        default=Path(".quoteflow/trainer"), description="Built base models, training sets and run scratch space."
    )
    synthetic_threads_dir: Path | None = Field(
        default=None,
        description="Synthetic threads (`quoteflow synth --out DIR` layout) turned into training sets for each run.",
    )
    recipe: Path | None = Field(default=None, description="Training recipe YAML; unset: the Gemma 2 2B recipe.")
    base_model: str | None = Field(default=None, description="Base model path, overriding the recipe's.")
    min_new_corrections: int = Field(default=50, ge=1, description="Corrections needed before a scheduled run.")
    min_interval_hours: float = Field(default=24.0, ge=0, description="Least time between scheduled runs.")
    schedule_enabled: bool = Field(default=True, description="Check the schedule while the service runs.")
    schedule_check_s: float = Field(default=300.0, gt=0, description="Seconds between schedule checks.")
    crash_retry_minutes: float = Field(
        default=30.0, ge=0, description="A run that crashed or failed is retried after this many minutes."
    )
    train_in_subprocess: bool = Field(
        default=True, description="Scheduled runs train in a child process, apart from the consumer."
    )
    lock_ttl_s: int = Field(
        default=900, ge=10, description="Run lock expiry; a live run refreshes it, a dead one frees it after this."
    )
    promotion_margin: float = Field(
        default=0.0, ge=0, le=1, description="Largest key-fact F1 drop still promoted (0: F1 must not drop)."
    )
