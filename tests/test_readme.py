"""The README opens with the two set-up commands and documents every setting."""

from __future__ import annotations

from services.extract.settings import ExtractSettings
from services.ingest.settings import IngestSettings
from services.quote.settings import QuoteSettings
from services.review.settings import ReviewSettings
from services.trainer.settings import TrainerSettings
from shared.settings import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _documented(field: str) -> bool:
    name = field.upper()
    if f"QUOTEFLOW_{name}" in README:
        return True
    parts = name.split("_")
    for cut in range(1, len(parts)):
        prefix, suffix = "_".join(parts[:cut]), "_".join(parts[cut:])
        if f"QUOTEFLOW_{prefix}_" in README and f"`_{suffix}`" in README:
            return True
    return False


def test_readme_opens_with_make_run_and_make_test() -> None:
    first_block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_settings_tables_are_current() -> None:
    from services.docs import settings_markdown

    assert settings_markdown() in README, "run `make docs` to regenerate the README's settings tables"


def test_every_setting_is_documented() -> None:
    fields = {
        name
        for cls in (Settings, IngestSettings, ExtractSettings, QuoteSettings, TrainerSettings, ReviewSettings)
        for name in cls.model_fields
    }
    missing = sorted(f for f in fields if not _documented(f))
    assert not missing, f"settings missing from README: {missing}"


def test_readme_has_architecture_diagram_and_topics() -> None:
    assert "```mermaid" in README
    for topic in ("quoteflow.emails.raw", "quoteflow.threads.normalized", "quoteflow.facts.extracted"):
        assert topic in README
