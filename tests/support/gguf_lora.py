"""A GGUF LoRA adapter for a GGUF base model, written with the ``gguf`` package (a test fixture, not the exporter).

llama.cpp's loader (``src/llama-adapter.cpp`` of the llama.cpp that llama-cpp-python 0.3.36 vendors) wants:

- ``general.type = "adapter"``, ``general.architecture`` equal to the base model's,
  ``adapter.type = "lora"`` and ``adapter.lora.alpha`` (f32; the update is scaled by alpha / rank);
- for each adapted weight ``W`` of the base model, tensors ``W.lora_a`` and ``W.lora_b``: in ggml
  order (``ne``) ``lora_a`` is ``[n_in, rank]`` and ``lora_b`` ``[rank, n_out]`` where ``W`` is
  ``[n_in, n_out]``; numpy (and ``GGUFWriter.add_tensor``) takes shapes reversed, so the arrays are
  ``(rank, n_in)`` and ``(n_out, rank)``. A pair whose shapes do not match ``W`` is refused with
  "has incorrect shape (hint: maybe wrong base model?)".

The base model's tensor shapes are read from its own file, so this works for any GGUF model;
the tests use the packaged Gemma 3 270M.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TARGETS = ("blk.0.attn_q.weight", "blk.0.attn_v.weight")


# Sizes of GGUF's scalar value types (gguf.GGUFValueType: UINT8=0 ... FLOAT64=12; 8 is STRING, 9 ARRAY).
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


@lru_cache(maxsize=4)
def _base_shapes(base_model: Path) -> tuple[str, dict[str, tuple[int, int]]]:
    """The base model's architecture and its 2-D tensors' ggml shapes ``(n_in, n_out)``.

    Read from the GGUF header directly, skipping values it does not need: ``gguf.GGUFReader``
    parses every field into numpy views, Gemma's 262k-token vocabulary included (20 s on a busy
    machine, against a fraction of a second here).
    """
    with base_model.open("rb") as f:

        def read(fmt: str) -> Any:
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def string() -> bytes:
            return f.read(read("Q"))

        def skip(kind: int) -> None:
            if kind == _STRING:
                f.seek(read("Q"), 1)
            elif kind == _ARRAY:
                item, count = read("I"), read("Q")
                if item in _SCALAR_SIZES:
                    f.seek(_SCALAR_SIZES[item] * count, 1)
                else:
                    for _ in range(count):
                        skip(item)
            else:
                f.seek(_SCALAR_SIZES[kind], 1)

        if f.read(4) != b"GGUF":
            raise ValueError(f"{base_model} is not a GGUF file")
        read("I")  # version
        n_tensors, n_kv = read("Q"), read("Q")
        arch = ""
        for _ in range(n_kv):
            key, kind = string(), read("I")
            if key == b"general.architecture" and kind == _STRING:
                arch = string().decode("utf-8")
            else:
                skip(kind)
        shapes = {}
        for _ in range(n_tensors):
            name = string().decode("utf-8")
            dims = [read("Q") for _ in range(read("I"))]
            read("I")  # ggml type
            read("Q")  # data offset
            if len(dims) == 2:
                shapes[name] = (int(dims[0]), int(dims[1]))
    return arch, shapes


def write_lora_gguf(
    base_model: Path,
    out: Path,
    *,
    targets: Sequence[str] = DEFAULT_TARGETS,
    rank: int = 4,
    alpha: float = 8.0,
    std: float = 0.05,
    seed: int = 0,
    wrong_shape: bool = False,
) -> Path:
    """Write a LoRA adapter for ``base_model`` to ``out``: random ``lora_a``/``lora_b`` (f32) for each target.

    ``std`` sets the size of the update (a few hundredths change the logits without wrecking
    the model); ``wrong_shape`` writes ``lora_a`` one column too wide, an adapter llama.cpp refuses.
    """
    import gguf

    arch, shapes = _base_shapes(base_model)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name in targets:
        if name not in shapes:
            raise KeyError(f"{base_model.name} has no 2-D tensor {name!r}")
        n_in, n_out = shapes[name]
        lora_a = rng.standard_normal((rank, n_in + (1 if wrong_shape else 0))).astype(np.float32) * std
        lora_b = rng.standard_normal((n_out, rank)).astype(np.float32) * std
        writer.add_tensor(f"{name}.lora_a", lora_a)
        writer.add_tensor(f"{name}.lora_b", lora_b)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
