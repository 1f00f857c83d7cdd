"""Base model and tokenizer: a real Gemma from a folder, the packaged Gemma 3 270M, or the tiny random one.

The packaged Gemma 3 270M (``builtin:gemma3-270m``) is the embedded LLM's GGUF, read once into a Hugging Face
copy under the data dir (:mod:`services.trainer.training.packaged`).

The tiny model is a real ``Gemma2ForCausalLM`` (randomly initialised from a small ``Gemma2Config``) with a
byte-level BPE tokenizer trained offline on the run's own text, carrying Gemma's special tokens and chat
template. It is saved like any checkpoint, so every later step (PEFT, saving, TGI format) is the real one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.trainer.training.chat import BOS, EOS, GEMMA2_CHAT_TEMPLATE, PAD, SPECIAL_TOKENS, UNK
from services.trainer.training.recipe import PACKAGED_BASE_MODEL, TINY_BASE_MODEL, Recipe

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class TinyModelShape:
    """Dimensions of the tiny Gemma 2: small enough to train a few steps per stage in seconds on 2 cores."""

    vocab_size: int = 2048
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    head_dim: int = 32
    max_position_embeddings: int = 1024
    sliding_window: int = 256
    # Wider than Gemma's 0.02: with a 64-wide model, 0.02 gives near-uniform logits that LoRA can barely move.
    initializer_range: float = 0.2


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer (no unknown characters, Korean included) with Gemma's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator((t for t in texts if t), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (BOS, EOS, PAD, UNK)],
        model_max_length=TinyModelShape.max_position_embeddings,
    )
    tokenizer.chat_template = GEMMA2_CHAT_TEMPLATE
    return tokenizer


def build_tiny_base_model(out_dir: Path, texts: Iterable[str], shape: TinyModelShape | None = None) -> Path:
    """Write a tiny random Gemma2ForCausalLM and its tokenizer to out_dir, loadable with from_pretrained."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    shape = shape or TinyModelShape()
    tokenizer = train_tokenizer(texts, shape.vocab_size)
    config = Gemma2Config(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=shape.max_position_embeddings,
        sliding_window=shape.sliding_window,
        initializer_range=shape.initializer_range,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(["<eos>", "<end_of_turn>"]),
    )
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def resolve_base_model(recipe: Recipe, cache_dir: Path, texts: Iterable[str], data_dir: Path | None = None) -> str:
    """The base model path to train on; the builtin tiny model is built (once per corpus) under cache_dir,
    the packaged Gemma 3 270M converted (once) under ``data_dir/models``."""
    if recipe.model_name_or_path == PACKAGED_BASE_MODEL:
        from services.trainer.training.packaged import ensure_hf_copy

        if data_dir is None:
            raise ValueError(f"{PACKAGED_BASE_MODEL} needs the data dir (QUOTEFLOW_DATA_DIR) it is assembled in")
        return str(ensure_hf_copy(data_dir).resolve())
    if recipe.model_name_or_path != TINY_BASE_MODEL:
        path = Path(recipe.model_name_or_path).expanduser()
        if path.exists():
            if not (path / "config.json").exists():
                raise FileNotFoundError(f"base model folder {path} has no config.json")
            return str(path.resolve())
        return recipe.model_name_or_path
    corpus = list(texts)
    digest = hashlib.sha256("\n\x00".join(corpus).encode()).hexdigest()[:12]
    target = cache_dir / f"tiny-gemma2-{digest}"
    if not (target / "config.json").exists():
        build_tiny_base_model(target, corpus)
    return str(target.resolve())


def load_base(model_path: str, recipe: Recipe) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a folder or a Hugging Face hub id."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype: Any = "auto" if recipe.torch_dtype == "auto" else getattr(torch, recipe.torch_dtype)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=dtype, attn_implementation=recipe.attn_implementation
    )
    return model, tokenizer


def base_model_fingerprint(model_path: str) -> str:
    """Identifies a base model by path and config, to tell whether an adapter was trained on the same one."""
    config = Path(model_path) / "config.json"
    content = config.read_text() if config.exists() else model_path
    return hashlib.sha256(json.dumps([model_path, content]).encode()).hexdigest()[:16]
