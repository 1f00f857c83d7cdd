"""`process --out` never writes through a symlink left in an output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.pipeline import ThreadOutcome, write_outcome
from shared.events import FactsExtracted, KeyFacts
from shared.tenants import UnsafeNameError


def test_a_symlinked_facts_file_in_the_output_folder_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "out"
    (out / "quote").mkdir(parents=True)
    (out / "quote" / "facts.json").symlink_to(victim)
    outcome = ThreadOutcome("quote", "t-1", 1, facts=FactsExtracted(thread_id="t-1", language="en", facts=KeyFacts()))
    with pytest.raises(UnsafeNameError, match="outside"):
        write_outcome(outcome, out)
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_the_facts_are_written_into_the_output_folder(tmp_path: Path) -> None:
    outcome = ThreadOutcome("quote", "t-1", 1, facts=FactsExtracted(thread_id="t-1", language="en", facts=KeyFacts()))
    assert write_outcome(outcome, tmp_path) == [tmp_path / "quote" / "facts.json"]
