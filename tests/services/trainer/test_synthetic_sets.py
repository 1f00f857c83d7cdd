"""Synthetic threads (`quoteflow synth` layout) become a run's training and held-out data."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.scheduler import _synthetic_sets
from services.trainer.settings import TrainerSettings
from services.trainer.training.data import CorrectionRecord, build_training_data
from tests.services.trainer.corpus import make_correction


def test_synthetic_threads_feed_every_dataset_and_the_heldout_split(tmp_path: Path) -> None:
    from services.trainer.synth.writer import write_dataset

    write_dataset(12, seed=3, out_dir=tmp_path / "threads", progress=False, workers=1)
    settings = TrainerSettings().model_copy(
        update={"synthetic_threads_dir": tmp_path / "threads", "trainer_cache_dir": tmp_path / "cache"}
    )
    sets = _synthetic_sets(settings, seed=3)
    assert sets is not None and "extraction.test" in sets
    thread, correction = make_correction(1)
    data = build_training_data(
        training_sets=sets, corrections=[CorrectionRecord(correction, thread)], heldout_percent=0, seed=3
    )
    counts = data.counts()
    assert all(counts[name] > 0 for name in ("domain", "pit", "extraction")), counts
    assert data.heldout and all(case.case_id.startswith("synthetic:extraction.test") for case in data.heldout)
    # Threads are rendered the way the LLM engine shows them to a served adapter.
    synthetic = [e for e in data.train["extraction"] if e.source.startswith("synthetic") and e.messages]
    assert synthetic and all("<thread>\n\n--- Message 1 of " in e.messages[0]["content"] for e in synthetic)
    assert any(e.source == "correction" for e in data.train["extraction"])


def test_a_missing_synthetic_folder_is_a_clear_error(tmp_path: Path) -> None:
    settings = TrainerSettings().model_copy(update={"synthetic_threads_dir": tmp_path / "absent"})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _synthetic_sets(settings, seed=1)
