"""The whole training path on CPU: a tiny random Gemma 2, three LoRA stages, the gate, registry and CLI.

Real PEFT + transformers training (a few steps per stage); the adapter learns nothing useful, but every
step is the one a GPU run takes with --base-model /models/gemma-2-2b-it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.trainer.corrections import CorrectionStore, thread_key
from services.trainer.registry import AdapterAnnouncer, AdapterRegistry
from services.trainer.scheduler import RunReport, TrainingCoordinator
from services.trainer.settings import TrainerSettings
from services.trainer.training.recipe import RECIPES_DIR, load_recipe
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.store import MemoryStore
from tests.services.trainer.corpus import make_correction

pytestmark = pytest.mark.train
pytest.importorskip("peft")

TINY_RECIPE = RECIPES_DIR / "tiny-cpu.yaml"
CORRECTIONS = 16


class Published(list[AdapterEvent]):
    async def __call__(self, event: AdapterEvent) -> None:
        self.append(event)


@dataclass
class FirstRun:
    settings: TrainerSettings
    store: MemoryStore
    published: Published
    report: RunReport


def _settings(root: Path) -> TrainerSettings:
    return TrainerSettings().model_copy(
        update={
            "dataset_dir": root / "dataset",
            "adapters_dir": root / "adapters",
            "trainer_cache_dir": root / "cache",
        }
    )


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """Corrections arrive, then one scheduled-style run trains, evaluates, records and announces an adapter."""
    settings = _settings(tmp_path_factory.mktemp("trainer"))
    store, published = MemoryStore(), Published()

    async def main() -> RunReport:
        corrections = CorrectionStore(settings.dataset_dir, store)
        for index in range(CORRECTIONS):
            thread, correction = make_correction(index)
            await store.set(thread_key(thread.tenant, thread.thread_id), thread.model_dump_json())
            await corrections.accept(correction)
        coordinator = TrainingCoordinator(settings, store, AdapterAnnouncer(store, published))
        return await coordinator.run(load_recipe(TINY_RECIPE), trigger="test")

    return FirstRun(settings, store, published, asyncio.run(main()))


def test_every_stage_lowers_the_loss(first_run: FirstRun) -> None:
    losses = first_run.report.losses
    assert list(losses) == ["domain_adaptation", "pre_instruction_tuning", "task_tuning"]
    for stage, values in losses.items():
        assert len(values) == 8, stage
        head, tail = sum(values[:2]) / 2, sum(values[-2:]) / 2
        assert tail < head, f"{stage}: loss did not go down: {values}"


def test_adapter_is_saved_in_tgi_format_and_loads_with_peft(first_run: FirstRun) -> None:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    event = first_run.report.event
    folder = Path(event.path)
    assert folder == first_run.settings.adapters_dir.resolve() / event.adapter_id
    assert {"adapter_config.json", "adapter_model.safetensors", "loss.png"} <= {p.name for p in folder.iterdir()}
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and config["lora_alpha"] == 16
    assert set(config["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert config["base_model_name_or_path"] == event.base_model
    assert (folder / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    saved = load_file(str(folder / "adapter_model.safetensors"))
    assert saved and all("lora_" in name for name in saved)
    assert any(name.endswith("lora_B.weight") and tensor.abs().sum() > 0 for name, tensor in saved.items())

    base = AutoModelForCausalLM.from_pretrained(event.base_model)
    model = PeftModel.from_pretrained(base, str(folder))
    loaded = {name: p for name, p in model.named_parameters() if "lora_B" in name}
    assert loaded and all(p.abs().sum() > 0 for p in loaded.values())
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[2, 5, 6]])).logits
    assert logits.shape[-1] == base.config.vocab_size


def test_gate_registry_and_announcement_act_on_the_result(first_run: FirstRun) -> None:
    event = first_run.report.event
    assert event.promoted and "no adapter" not in event.reason and "base model" in event.reason
    assert event.metrics["heldout_examples"] >= 1 and "key_fact_f1" in event.metrics
    assert event.baseline_metrics["heldout_examples"] == event.metrics["heldout_examples"]
    assert event.dataset_size > CORRECTIONS and event.recipe["lora_r"] == 8
    assert event.previous_adapter_id is None
    registry = AdapterRegistry(first_run.settings.adapters_dir)
    assert registry.promoted() == event
    formats = registry.formats(event.adapter_id)
    assert formats["peft"]["path"] == str(Path(event.path) / "adapter_model.safetensors")
    assert formats["gguf"] == {"required": False, "exported": False, "reason": "the base model has no GGUF"}
    assert not (Path(event.path) / "adapter.gguf").exists()  # a tiny random Gemma 2 has no GGUF to serve it
    assert first_run.published == [event]
    stored = asyncio.run(first_run.store.get(PROMOTED_ADAPTER_KEY))
    assert stored is not None and AdapterEvent.model_validate_json(stored) == event


def test_cli_run_that_scores_worse_is_not_promoted_and_rollback_is_one_command(
    first_run: FirstRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.cli import app

    settings = first_run.settings
    registry = AdapterRegistry(settings.adapters_dir)
    better = AdapterEvent(
        adapter_id="qf-better",
        base_model="/models/another-base",
        path=str(settings.adapters_dir / "qf-better"),
        promoted=True,
        metrics={"key_fact_f1": 0.9},
    )
    registry.record(better)
    for name, value in (
        ("DATASET_DIR", settings.dataset_dir),
        ("ADAPTERS_DIR", settings.adapters_dir),
        ("TRAINER_CACHE_DIR", settings.trainer_cache_dir),
    ):
        monkeypatch.setenv(f"QUOTEFLOW_{name}", str(value))
    runner = CliRunner()

    result = runner.invoke(app, ["train", "--recipe", str(TINY_RECIPE), "--max-steps", "2", "--set", "lora_r=4"])
    assert result.exit_code == 0, result.output
    rejected = [
        e for e in registry.list() if e.adapter_id not in (better.adapter_id, first_run.report.event.adapter_id)
    ]
    assert len(rejected) == 1 and not rejected[0].promoted
    assert "dropped" in rejected[0].reason and "recorded metrics" in rejected[0].reason
    assert rejected[0].recipe["lora_r"] == 4 and rejected[0].previous_adapter_id == "qf-better"
    assert registry.promoted().adapter_id == "qf-better"  # type: ignore[union-attr]

    result = runner.invoke(app, ["adapters", "rollback"])
    assert result.exit_code != 0 and "QUOTEFLOW_KAFKA_BOOTSTRAP" in str(result.exception)
    result = runner.invoke(app, ["adapters", "rollback", "--local"])
    assert result.exit_code == 0, result.output
    assert registry.promoted().adapter_id == first_run.report.event.adapter_id  # type: ignore[union-attr]

    result = runner.invoke(app, ["adapters", "list"])
    assert result.exit_code == 0 and "in service" in result.output and "peft" in result.output
