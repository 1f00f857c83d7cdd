"""Recipes in YAML, apart from the code, with command-line overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.training.recipe import (
    DEFAULT_RECIPE,
    GEMMA2_TARGET_MODULES,
    PACKAGED_BASE_MODEL,
    RECIPES_DIR,
    TINY_BASE_MODEL,
    RecipeError,
    load_recipe,
)


def test_shipped_recipes_load_with_the_three_stages_in_order() -> None:
    for path in (DEFAULT_RECIPE, RECIPES_DIR / "tiny-cpu.yaml"):
        recipe = load_recipe(path)
        assert [stage.name for stage in recipe.stages] == ["domain_adaptation", "pre_instruction_tuning", "task_tuning"]
        assert recipe.stages[0].kind == "text" and recipe.stages[1].kind == "chat"
        assert set(recipe.stages[2].datasets) == {"extraction", "summary_tags"}
        assert recipe.lora_target_modules == GEMMA2_TARGET_MODULES
    assert load_recipe(RECIPES_DIR / "tiny-cpu.yaml").model_name_or_path == TINY_BASE_MODEL


def test_the_cpu_recipe_for_the_packaged_gemma3_is_the_gpu_recipe_sized_down() -> None:
    cpu, gpu = load_recipe(RECIPES_DIR / "gemma3-270m-cpu.yaml"), load_recipe(DEFAULT_RECIPE)
    assert cpu.model_name_or_path == PACKAGED_BASE_MODEL and cpu.torch_dtype == "float32"
    assert cpu.lora_r == 8 and cpu.lora_target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert cpu.answer_only_logits and gpu.answer_only_logits
    # the same stages on the same data, loss on text / on the model's turns
    assert [(s.name, s.kind, s.datasets) for s in cpu.stages] == [(s.name, s.kind, s.datasets) for s in gpu.stages]
    # short sequences on the CPU: chat examples that do not fit are skipped, never cut mid-answer
    assert cpu.overlong == "skip" and max(cpu.stage_value(s, "max_seq_length") for s in cpu.stages) <= 1280
    assert all(
        cpu.stage_value(s, "max_steps") for s in cpu.stages if "domain" in s.datasets or "extraction" in s.datasets
    )
    assert gpu.overlong == "truncate" and gpu.max_seq_length == 2048 and gpu.torch_dtype == "bfloat16"
    assert cpu.cpu_threads is None  # as many threads as cores


def test_overrides_and_base_model_replace_recipe_values() -> None:
    recipe = load_recipe(
        DEFAULT_RECIPE,
        overrides=["lora_r=8", "stages.0.max_steps=5", "lora_target_modules=[q_proj, v_proj]", "eval.batch_size=2"],
        base_model="/models/gemma-2-2b-it",
    )
    assert recipe.lora_r == 8
    assert recipe.stages[0].max_steps == 5
    assert recipe.lora_target_modules == ["q_proj", "v_proj"]
    assert recipe.eval.batch_size == 2
    assert recipe.model_name_or_path == "/models/gemma-2-2b-it"


def test_the_recipe_max_steps_caps_stages_with_budgets_of_their_own() -> None:
    recipe = load_recipe(RECIPES_DIR / "gemma3-270m-cpu.yaml")
    assert [recipe.stage_max_steps(s) for s in recipe.stages] == [15, None, 60]
    capped = load_recipe(RECIPES_DIR / "gemma3-270m-cpu.yaml", overrides=["max_steps=2"])
    assert [capped.stage_max_steps(s) for s in capped.stages] == [2, 2, 2]
    loose = load_recipe(RECIPES_DIR / "gemma3-270m-cpu.yaml", overrides=["max_steps=40"])
    assert [loose.stage_max_steps(s) for s in loose.stages] == [15, 40, 40]


def test_stage_values_fall_back_to_the_recipe() -> None:
    recipe = load_recipe(DEFAULT_RECIPE)
    domain, pit = recipe.stages[0], recipe.stages[1]
    assert recipe.stage_value(domain, "learning_rate") == pytest.approx(1e-4)
    assert recipe.stage_value(pit, "learning_rate") == pytest.approx(recipe.learning_rate)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["lora_r"], "not key=value"),
        (["lora_r=0"], "lora_r"),
        (["stages.7.max_steps=1"], "no list index"),
        (["unknown_key=1"], "unknown_key"),
        (["stages.0.kind=audio"], "stages.0.kind"),
    ],
)
def test_bad_overrides_are_named_in_the_error(overrides: list[str], message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        load_recipe(DEFAULT_RECIPE, overrides=overrides)


def test_missing_or_malformed_recipe_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [unclosed")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42")
    with pytest.raises(RecipeError, match="mapping"):
        load_recipe(scalar)
