"""A PEFT LoRA adapter as a GGUF LoRA for llama.cpp, and the check that llama.cpp answers like PEFT.

The embedded LLM (llama-cpp-python) loads adapters as GGUF only: ``<adapter folder>/adapter.gguf``
beside TGI's ``adapter_config.json`` + ``adapter_model.safetensors``. The file is what llama.cpp's
``convert_lora_to_gguf.py`` writes, written here with the ``gguf`` package:

- metadata ``general.architecture`` (the base model's, e.g. ``gemma3``), ``general.type = adapter``,
  ``adapter.type = lora``, ``adapter.lora.alpha`` (llama.cpp scales by alpha / r, like PEFT);
- per adapted weight, ``<gguf weight name>.lora_a`` and ``.lora_b``, e.g. PEFT's
  ``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`` → ``blk.3.attn_q.weight.lora_a``.
  The arrays keep PEFT's shapes (A: r × in, B: out × r); GGUF lists dimensions innermost first, so
  llama.cpp sees A as [in, r] and B as [r, out], which it checks against the base weight [in, out].

Gemma's attention and MLP projections go into GGUF unpermuted (only Llama-style q/k are permuted), so
only the Gemma family is mapped; another architecture is refused rather than converted wrongly.

After writing, :func:`check_gguf_lora` compares llama.cpp (base GGUF + adapter) with transformers + PEFT on
the same tokens: PEFT's greedy answer is fed to both, and at every position llama.cpp must pick PEFT's next
token, unless PEFT itself barely preferred it (a near tie). llama.cpp multiplies Q4_K weights with 8-bit
activations where transformers uses the dequantized weights in fp32, so logits differ by ~0.5 on average (up
to ~2.4 on the chosen token, measured on a trained Gemma 3 270M adapter): exact greedy equality fails on the
first near tie (seen at a lead of 0.29), while a wrongly converted file (a wrong alpha, swapped A/B) disagrees
at most positions by wide margins.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ADAPTER_GGUF = "adapter.gguf"
PEFT_PREFIX = "base_model.model."
LORA_SUFFIXES = {"lora_A.weight": "lora_a", "lora_B.weight": "lora_b"}
# transformers model_type → the gguf package's architecture (unpermuted projections only).
# The projections a LoRA may adapt (llama.cpp's names): attention q/k/v/output and the gated MLP.
PROJECTIONS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
GGUF_ARCHITECTURES = {"gemma3_text": "GEMMA3", "gemma3": "GEMMA3", "gemma2": "GEMMA2", "gemma": "GEMMA"}


class GgufExportError(RuntimeError):
    """The adapter cannot be written as GGUF, or llama.cpp does not answer like PEFT with it."""


def gguf_architecture(model_type: str) -> Any:
    """The ``gguf.MODEL_ARCH`` of a transformers model type."""
    import gguf

    name = GGUF_ARCHITECTURES.get(model_type)
    if name is None:
        raise GgufExportError(
            f"no GGUF LoRA mapping for model type {model_type!r} (known: {sorted(GGUF_ARCHITECTURES)})"
        )
    return getattr(gguf.MODEL_ARCH, name)


def gguf_lora_name(peft_name: str, arch: Any, n_blocks: int) -> str:
    """PEFT's saved tensor name → llama.cpp's.

    ``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`` → ``blk.3.attn_q.weight.lora_a``.
    """
    import gguf

    matched = [(suffix, lora) for suffix, lora in LORA_SUFFIXES.items() if peft_name.endswith(f".{suffix}")]
    if not matched:
        raise GgufExportError(f"{peft_name}: not a LoRA A/B weight")
    suffix, lora = matched[0]
    module = peft_name[: -len(suffix) - 1]
    module = module.removeprefix(PEFT_PREFIX).replace("model.language_model.", "model.")
    mapped = gguf.get_tensor_name_map(arch, n_blocks).get_name(module)
    if mapped is None or mapped.rsplit(".", 1)[-1] not in PROJECTIONS:
        raise GgufExportError(f"{peft_name}: no GGUF tensor for {module} among the projections {PROJECTIONS}")
    return f"{mapped}.weight.{lora}"


@dataclass(frozen=True)
class GgufExport:
    """What was written: the file, its size and how long it took."""

    path: Path
    bytes: int
    tensors: int
    seconds: float


def export_gguf_lora(adapter_dir: Path, model_type: str, n_blocks: int, out: Path | None = None) -> GgufExport:
    """Write ``adapter_dir/adapter.gguf`` from the PEFT files in ``adapter_dir`` (fp32 tensors)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    started = time.perf_counter()
    config: dict[str, Any] = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("peft_type") != "LORA":
        raise GgufExportError(f"{adapter_dir}: peft_type {config.get('peft_type')!r}, only LORA converts")
    if config.get("use_rslora") or config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise GgufExportError(f"{adapter_dir}: rsLoRA, DoRA and per-module ranks have no GGUF LoRA form")
    arch = gguf_architecture(model_type)
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    named = {gguf_lora_name(name, arch, n_blocks): array for name, array in tensors.items()}
    for name in [n for n in named if n.endswith(".lora_a")]:
        a, b = named[name], named.get(name[: -len("lora_a")] + "lora_b")
        if b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise GgufExportError(f"{name}: LoRA A {a.shape} and B {None if b is None else b.shape} do not pair")
    out = out or adapter_dir / ADAPTER_GGUF
    partial = out.with_name(f".{out.name}.partial")
    writer = gguf.GGUFWriter(str(partial), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for name in sorted(named):
        writer.add_tensor(name, np.ascontiguousarray(named[name], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out)
    return GgufExport(out, out.stat().st_size, len(named), time.perf_counter() - started)


# --------------------------------------------------------------------------- the equality check


@dataclass
class GgufCheck:
    """llama.cpp (base GGUF + adapter.gguf) against transformers + PEFT, greedy, on the same prompt tokens."""

    passed: bool
    samples: int
    max_new_tokens: int
    seconds: float = 0.0
    compared_tokens: list[int] = field(default_factory=list)  # per prompt: PEFT's answer length (≤ max_new_tokens)
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # greedy answers that part, and where
    positions: int = 0  # next-token choices compared on PEFT's answers (teacher-forced), the end included
    agreement: float = 0.0  # share of them where llama.cpp picks PEFT's token
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # prompt, position, PEFT's lead there
    tie_margin: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def end_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Tokens that end a model turn: <end_of_turn> and <eos>."""
    candidates = [tokenizer.convert_tokens_to_ids(token) for token in ("<end_of_turn>", str(tokenizer.eos_token))]
    return sorted({i for i in candidates if isinstance(i, int) and i != tokenizer.unk_token_id})


def peft_greedy(model: Any, prompt_ids: Sequence[int], max_new_tokens: int, end_ids: Sequence[int]) -> list[int]:
    """transformers + PEFT greedy continuation (without the end token)."""
    import torch

    model.eval()
    inputs = torch.tensor([list(prompt_ids)], dtype=torch.long, device=model.device)
    with torch.no_grad():
        output = model.generate(
            input_ids=inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=list(end_ids),
            pad_token_id=end_ids[0],
        )
    tokens = [int(t) for t in output[0, inputs.shape[1] :]]
    return _until_end(tokens, end_ids)


def llama_greedy(
    llm: Any, prompt_ids: Sequence[int], max_new_tokens: int, end_ids: Sequence[int], *, grammar: Any = None
) -> list[int]:
    """llama.cpp greedy continuation (temperature 0, no penalties), stopped like :func:`peft_greedy`; under
    ``grammar`` (a ``LlamaGrammar``) when given."""
    tokens: list[int] = []
    for token in llm.generate(list(prompt_ids), temp=0.0, top_k=1, repeat_penalty=1.0, reset=True, grammar=grammar):
        if int(token) in end_ids:
            break
        tokens.append(int(token))
        if len(tokens) >= max_new_tokens:
            break
    return tokens


def _until_end(tokens: list[int], end_ids: Sequence[int]) -> list[int]:
    for index, token in enumerate(tokens):
        if token in end_ids:
            return tokens[:index]
    return tokens


def check_gguf_lora(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    base_gguf: Path,
    adapter_gguf: Path,
    prompts: Sequence[str],
    max_new_tokens: int,
    *,
    threads: int,
    tie_margin: float = 1.0,
    min_agreement: float = 0.9,
) -> GgufCheck:
    """llama.cpp with the adapter must choose PEFT's next token along PEFT's greedy answers (near ties aside).

    Passed when at least ``min_agreement`` of the positions agree and PEFT led by less than ``tie_margin``
    logits wherever they do not. The free-running greedy answers are compared too, for the report.
    """
    import llama_cpp

    if not prompts:
        raise ValueError("no prompts to compare llama.cpp and PEFT on: an unchecked GGUF is not kept")
    started = time.perf_counter()
    encoded = [list(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts]
    end_ids = end_token_ids(tokenizer)
    context = max(len(ids) for ids in encoded) + max_new_tokens + 8
    with native_stderr() as log:
        try:
            llm = llama_cpp.Llama(
                model_path=str(base_gguf),
                lora_path=str(adapter_gguf),
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=0,
                seed=0,
                verbose=False,
            )
        except (RuntimeError, ValueError) as exc:
            raise RuntimeError(f"{exc}: {tail_of(log)}") from exc
        try:
            got = [llama_greedy(llm, ids, max_new_tokens, end_ids) for ids in encoded]
            # After llama.cpp's own answers: a file it refuses fails in seconds, before transformers generates.
            expected = [peft_greedy(model, ids, max_new_tokens, end_ids) for ids in encoded]
            choices = [
                _next_token_choices(model, llm, ids, answer, llama_cpp)
                for ids, answer in zip(encoded, expected, strict=True)
            ]
        finally:
            llm.close()
    mismatches = [
        _mismatch(model, tokenizer, index, encoded[index], a, b)
        for index, (a, b) in enumerate(zip(expected, got, strict=True))
        if a != b
    ]
    positions = sum(len(per_prompt) for per_prompt in choices)
    disagreements = [
        {"prompt": index, "position": position, "peft_lead": round(lead, 4)}
        for index, per_prompt in enumerate(choices)
        for position, (same, lead) in enumerate(per_prompt)
        if not same
    ]
    agreement = 1 - len(disagreements) / positions if positions else 0.0
    near_ties = all(d["peft_lead"] < tie_margin for d in disagreements)
    return GgufCheck(
        passed=positions > 0 and agreement >= min_agreement and near_ties,
        samples=len(encoded),
        max_new_tokens=max_new_tokens,
        seconds=round(time.perf_counter() - started, 3),
        compared_tokens=[len(tokens) for tokens in expected],
        mismatches=mismatches,
        positions=positions,
        agreement=round(agreement, 4),
        disagreements=disagreements,
        tie_margin=tie_margin,
    )


def _next_token_choices(
    model: Any, llm: Any, prompt: list[int], answer: list[int], llama_cpp: Any
) -> list[tuple[bool, float]]:
    """Per position of PEFT's answer (and the one after it): whether llama.cpp picks PEFT's next token, and by
    how many logits PEFT preferred its token over llama.cpp's choice (0 where they agree)."""
    import numpy as np
    import torch

    with torch.no_grad():
        ids = torch.tensor([prompt + answer], dtype=torch.long, device=model.device)
        peft_logits = model(input_ids=ids, logits_to_keep=len(answer) + 1).logits[0].float().cpu().numpy()
    vocab = int(llm.n_vocab())
    llm.reset()
    llm.eval(prompt)
    choices: list[tuple[bool, float]] = []
    for position in range(len(answer) + 1):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))
        theirs, ours = int(logits.argmax()), int(peft_logits[position].argmax())
        choices.append((theirs == ours, float(peft_logits[position][ours] - peft_logits[position][theirs])))
        if position < len(answer):
            llm.eval([answer[position]])
    return choices


@contextlib.contextmanager
def native_stderr() -> Iterator[Path]:
    """llama.cpp logs from C to file descriptor 2 even when not verbose: into a temporary file instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.NamedTemporaryFile(prefix="quoteflow-llama-", suffix=".log") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield Path(log.name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tail_of(log: Path, chars: int = 2000) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:].strip()
    except OSError:
        return ""


def _mismatch(
    model: Any, tokenizer: PreTrainedTokenizerBase, index: int, prompt: list[int], peft: list[int], llama: list[int]
) -> dict[str, Any]:
    """Where the answers part, and by how much PEFT preferred its token there (a near tie, or a broken file)."""
    import torch

    at = next((i for i, (x, y) in enumerate(zip(peft, llama, strict=False)) if x != y), min(len(peft), len(llama)))
    detail: dict[str, Any] = {
        "prompt": index,
        "first_difference": at,
        "peft": tokenizer.decode(peft),
        "llama_cpp": tokenizer.decode(llama),
    }
    if at < len(peft) and at < len(llama):
        with torch.no_grad():
            ids = torch.tensor([prompt + peft[:at]], dtype=torch.long, device=model.device)
            logits = model(input_ids=ids).logits[0, -1].float()
        detail["peft_logit_margin"] = round(float(logits[peft[at]] - logits[llama[at]]), 4)
    return detail
