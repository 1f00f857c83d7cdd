"""The embedded LLM server's config file and model file (no server started here; see
tests/services/extract/llm/test_llamacpp_real.py for the real one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.embedded import EmbeddedServerError
from shared.embedded_llm import (
    BASE_ALIAS,
    MODEL_FILE,
    AdapterFile,
    ensure_model,
    server_config,
    server_environment,
)


def test_config_has_the_base_alias_first_then_each_adapter_with_its_lora(tmp_path: Path) -> None:
    model, lora = tmp_path / MODEL_FILE, tmp_path / "extract-v3" / "adapter.gguf"
    config = server_config(model, 41234, threads=2, context_tokens=2048, adapters=[AdapterFile("extract-v3", lora)])
    assert (config["host"], config["port"], config["interrupt_requests"]) == ("127.0.0.1", 41234, False)
    base, adapter = config["models"]
    assert base["model_alias"] == BASE_ALIAS and "lora_path" not in base
    assert adapter["model_alias"] == "extract-v3" and adapter["lora_path"] == str(lora)
    for entry in (base, adapter):
        assert entry["model"] == str(model)
        assert (entry["n_threads"], entry["n_threads_batch"], entry["n_ctx"], entry["n_gpu_layers"]) == (2, 2, 2048, 0)


def test_config_is_what_llama_cpp_server_reads(tmp_path: Path) -> None:
    """Validated by the server's own ConfigFileSettings, so a renamed option fails here, not at start-up."""
    settings = pytest.importorskip("llama_cpp.server.settings")
    config = server_config(tmp_path / MODEL_FILE, 8001, threads=2, adapters=[AdapterFile("v1", tmp_path / "v1.gguf")])
    parsed = settings.ConfigFileSettings.model_validate(config)
    assert [m.model_alias for m in parsed.models] == [BASE_ALIAS, "v1"]
    assert parsed.models[1].lora_path == str(tmp_path / "v1.gguf") and parsed.models[0].n_threads == 2


def test_config_refuses_an_adapter_named_like_the_base_model(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="base model"):
        server_config(tmp_path / MODEL_FILE, 1, threads=1, adapters=[AdapterFile(BASE_ALIAS, tmp_path / "a.gguf")])


def test_server_environment_drops_what_overrides_the_config_and_keeps_hubs_offline() -> None:
    env = server_environment({"HOST": "0.0.0.0", "PORT": "80", "CONFIG_FILE": "/x.json", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "HF_HUB_OFFLINE": "1"}


class FakePackage:
    """Chunks on disk and an assembler that concatenates them (the real package also checks sha256)."""

    def __init__(self, folder: Path, sizes: tuple[int, ...] = (3, 5)) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = []
        for index, size in enumerate(sizes):
            path = folder / f"part{index}"
            path.write_bytes(bytes([index + 1]) * size)
            self.paths.append(path)
        self.calls: list[Path] = []
        self.fail = False

    def chunks(self) -> list[Path]:
        return list(self.paths)

    def assemble(self, target: Path) -> None:
        self.calls.append(target)
        with target.open("wb") as out:
            for path in self.paths:
                out.write(path.read_bytes())
                if self.fail:
                    raise ValueError("sha256 mismatch")


def test_model_is_assembled_once_then_reused(tmp_path: Path) -> None:
    package = FakePackage(tmp_path / "chunks")
    models = tmp_path / "data" / "models"
    first = ensure_model(models, chunks=package.chunks, assemble=package.assemble)
    second = ensure_model(models, chunks=package.chunks, assemble=package.assemble)
    assert first == second == models / MODEL_FILE
    assert first.read_bytes() == b"\x01" * 3 + b"\x02" * 5
    assert len(package.calls) == 1
    assert package.calls[0].parent == models and package.calls[0].name != MODEL_FILE  # written aside, then renamed
    assert sorted(p.name for p in models.iterdir()) == [f".{MODEL_FILE}.lock", MODEL_FILE]


def test_a_model_file_of_the_wrong_size_is_assembled_anew(tmp_path: Path) -> None:
    package = FakePackage(tmp_path / "chunks")
    models = tmp_path / "models"
    models.mkdir()
    (models / MODEL_FILE).write_bytes(b"cut")  # e.g. left by a copy that was interrupted
    path = ensure_model(models, chunks=package.chunks, assemble=package.assemble)
    assert path.stat().st_size == 8 and len(package.calls) == 1


def test_a_failed_assembly_leaves_no_model_and_no_partial_file(tmp_path: Path) -> None:
    package = FakePackage(tmp_path / "chunks")
    package.fail = True
    models = tmp_path / "models"
    with pytest.raises(ValueError, match="sha256"):
        ensure_model(models, chunks=package.chunks, assemble=package.assemble)
    assert [p.name for p in models.iterdir()] == [f".{MODEL_FILE}.lock"]


def test_an_assembly_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    package = FakePackage(tmp_path / "chunks")
    models = tmp_path / "models"

    def short(target: Path) -> None:
        target.write_bytes(b"x")

    with pytest.raises(EmbeddedServerError, match="1 bytes"):
        ensure_model(models, chunks=package.chunks, assemble=short)
    assert not (models / MODEL_FILE).exists()
    assert not any(p.name.startswith(f".{MODEL_FILE}.partial-{os.getpid()}") for p in models.iterdir())
