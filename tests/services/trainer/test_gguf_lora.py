"""PEFT LoRA → GGUF LoRA: llama.cpp's tensor names, shapes and metadata, read back with the gguf package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")
pytest.importorskip("safetensors")

from services.trainer.training.gguf_lora import (  # noqa: E402 - after the importorskips
    ADAPTER_GGUF,
    GgufExportError,
    export_gguf_lora,
    gguf_architecture,
    gguf_lora_name,
)

GEMMA3 = gguf.MODEL_ARCH.GEMMA3
# Gemma 3 270M: hidden 640, 4 query heads and 1 KV head of 256, MLP 2048 (HF weight shape: out × in).
SHAPES = {
    "self_attn.q_proj": (1024, 640),
    "self_attn.k_proj": (256, 640),
    "self_attn.v_proj": (256, 640),
    "self_attn.o_proj": (640, 1024),
    "mlp.gate_proj": (2048, 640),
    "mlp.down_proj": (640, 2048),
}


@pytest.mark.parametrize(
    ("peft_name", "expected"),
    [
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "blk.0.attn_q.weight.lora_a"),
        ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "blk.0.attn_q.weight.lora_b"),
        ("base_model.model.model.layers.7.self_attn.k_proj.lora_A.weight", "blk.7.attn_k.weight.lora_a"),
        ("base_model.model.model.layers.17.self_attn.v_proj.lora_B.weight", "blk.17.attn_v.weight.lora_b"),
        ("base_model.model.model.layers.3.self_attn.o_proj.lora_A.weight", "blk.3.attn_output.weight.lora_a"),
        ("base_model.model.model.layers.3.mlp.gate_proj.lora_A.weight", "blk.3.ffn_gate.weight.lora_a"),
        ("base_model.model.model.layers.3.mlp.up_proj.lora_B.weight", "blk.3.ffn_up.weight.lora_b"),
        ("base_model.model.model.layers.3.mlp.down_proj.lora_B.weight", "blk.3.ffn_down.weight.lora_b"),
        # the multimodal Gemma 3 nests the text layers under language_model
        ("base_model.model.model.language_model.layers.2.self_attn.q_proj.lora_A.weight", "blk.2.attn_q.weight.lora_a"),
    ],
)
def test_peft_names_map_to_llama_cpp_names(peft_name: str, expected: str) -> None:
    assert gguf_lora_name(peft_name, GEMMA3, 18) == expected


def test_names_that_are_not_lora_weights_or_have_no_gguf_tensor_are_refused() -> None:
    with pytest.raises(GgufExportError, match="not a LoRA"):
        gguf_lora_name("base_model.model.model.layers.0.self_attn.q_proj.weight", GEMMA3, 18)
    with pytest.raises(GgufExportError, match="no GGUF tensor"):
        gguf_lora_name("base_model.model.model.layers.0.self_attn.q_norm.lora_A.weight", GEMMA3, 18)
    with pytest.raises(GgufExportError, match="no GGUF tensor"):  # past the last block
        gguf_lora_name("base_model.model.model.layers.18.self_attn.q_proj.lora_A.weight", GEMMA3, 18)


def test_only_gemma_architectures_are_mapped() -> None:
    assert gguf_architecture("gemma3_text") == GEMMA3
    assert gguf_architecture("gemma2") == gguf.MODEL_ARCH.GEMMA2
    with pytest.raises(GgufExportError, match="llama"):  # Llama's q/k are permuted in GGUF: not converted here
        gguf_architecture("llama")


def _peft_folder(folder: Path, r: int = 4, alpha: int = 8, layers: int = 2, **config: object) -> dict[str, object]:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors = {}
    for layer in range(layers):
        for module, (out_features, in_features) in SHAPES.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            tensors[f"{prefix}.lora_A.weight"] = rng.standard_normal((r, in_features)).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = rng.standard_normal((out_features, r)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    settings = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": ["q_proj"], **config}
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    return tensors


def test_export_writes_an_adapter_gguf_llama_cpp_can_pair_with_the_base_weights(tmp_path: Path) -> None:
    tensors = _peft_folder(tmp_path, r=4, alpha=8, layers=2)
    export = export_gguf_lora(tmp_path, "gemma3_text", 18)
    assert export.path == tmp_path / ADAPTER_GGUF and export.tensors == len(tensors) == 24
    assert export.bytes == export.path.stat().st_size
    assert not list(tmp_path.glob(".*partial*"))

    reader = gguf.GGUFReader(str(export.path))
    fields = reader.fields
    assert fields["general.architecture"].contents() == "gemma3"
    assert fields["general.type"].contents() == "adapter"
    assert fields["adapter.type"].contents() == "lora"
    assert fields["adapter.lora.alpha"].contents() == pytest.approx(8.0)
    read = {t.name: t for t in reader.tensors}
    assert set(read) == {gguf_lora_name(name, GEMMA3, 18) for name in tensors}

    q_a, q_b = read["blk.1.attn_q.weight.lora_a"], read["blk.1.attn_q.weight.lora_b"]
    # GGUF dimensions run innermost first: the base weight blk.N.attn_q.weight is [in 640, out 1024];
    # llama.cpp wants lora_a [in, r] and lora_b [r, out].
    assert list(q_a.shape) == [640, 4] and list(q_b.shape) == [4, 1024]
    o_a, o_b = read["blk.0.attn_output.weight.lora_a"], read["blk.0.attn_output.weight.lora_b"]
    assert list(o_a.shape) == [1024, 4] and list(o_b.shape) == [4, 640]
    for tensor in (q_a, q_b, o_a, o_b):
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32
    source = tensors["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"]
    np.testing.assert_array_equal(np.asarray(q_a.data).reshape(source.shape), source)
    source_b = tensors["base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight"]
    np.testing.assert_array_equal(np.asarray(o_b.data).reshape(source_b.shape), source_b)


@pytest.mark.parametrize(
    ("config", "message"),
    [({"peft_type": "IA3"}, "only LORA"), ({"use_dora": True}, "DoRA"), ({"rank_pattern": {"q_proj": 2}}, "ranks")],
)
def test_adapters_without_a_gguf_lora_form_are_refused(tmp_path: Path, config: dict[str, object], message: str) -> None:
    _peft_folder(tmp_path, layers=1, **config)
    with pytest.raises(GgufExportError, match=message):
        export_gguf_lora(tmp_path, "gemma3_text", 18)
    assert not (tmp_path / ADAPTER_GGUF).exists()
