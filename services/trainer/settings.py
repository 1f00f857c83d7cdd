"""Trainer options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import Settings


class TrainerSettings(Settings):
    """Where corrections are kept and when fine-tunes run."""

    service_name: str = "trainer"
    dataset_dir: Path = Field(default=Path(".quoteflow/dataset"), description="Corrections store (JSONL + manifest).")
    adapters_dir: Path = Field(default=Path(".quoteflow/adapters"), description="Folder TGI loads adapters from.")
    min_new_corrections: int = Field(default=50, ge=1, description="Corrections needed before a scheduled run.")
    min_interval_hours: float = Field(default=24.0, ge=0, description="Least time between scheduled runs.")
