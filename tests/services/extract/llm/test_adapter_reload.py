"""Which adapter extract serves: the switch protocol of AdapterState, the registry's say, and ``--adapter``.

No model here: the switch below stands in for the embedded server's (which starts a server
per adapter; see test_adapter_reload_real.py for the real one). Registry, store and CLI are real.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.cli_support import UserError
from services.extract.adapters import AdapterState
from services.extract.embedded_server import AdapterRefused, registry_adapter
from services.extract.main import adapter_choice, build_engine
from services.extract.settings import ExtractSettings
from services.trainer.registry import AdapterRegistry
from shared.events import AdapterEvent
from shared.keys import PROMOTED_ADAPTER_KEY
from shared.store import MemoryStore
from tests.conftest import EXAMPLES, REPO


def event(
    adapter_id: str, *, promoted: bool = True, path: str = "/adapters/x", previous: str | None = None
) -> AdapterEvent:
    return AdapterEvent(
        adapter_id=adapter_id,
        base_model="gemma-3-270m",
        path=path,
        promoted=promoted,
        previous_adapter_id=previous,
        reason="" if promoted else "key-fact F1 dropped",
    )


@dataclass
class GatedSwitch:
    """Prepares an adapter once the test opens ``gate``; ids in ``broken`` fail. Records what it was asked."""

    state: AdapterState | None = None
    broken: set[str] = field(default_factory=set)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    asked: list[str | None] = field(default_factory=list)
    commits: list[tuple[str | None, str | None]] = field(default_factory=list)  # (new, state's adapter at commit)
    discarded: list[str | None] = field(default_factory=list)

    async def prepare(self, adapter_id: str | None) -> Prepared | None:
        self.asked.append(adapter_id)
        await self.gate.wait()
        return None if adapter_id in self.broken else Prepared(self, adapter_id)


@dataclass
class Prepared:
    switch: GatedSwitch
    adapter_id: str | None

    def commit(self) -> None:
        assert self.switch.state is not None
        self.switch.commits.append((self.adapter_id, self.switch.state.adapter_id))

    async def discard(self) -> None:
        self.switch.discarded.append(self.adapter_id)


def switched_state(store: MemoryStore, served: str | None) -> tuple[AdapterState, GatedSwitch]:
    switch = GatedSwitch()
    state = AdapterState(store=store, configured_id=served, refresh_s=0.0, switch=switch)
    switch.state = state
    return state, switch


async def test_the_adapter_in_service_changes_only_once_the_server_has_the_new_one() -> None:
    store = MemoryStore()
    state, switch = switched_state(store, "v1")
    await store.set(PROMOTED_ADAPTER_KEY, event("v2").model_dump_json())
    assert await state.current() == "v1"  # the switch runs in the background; v1 keeps answering
    await asyncio.sleep(0)
    assert state.switching and state.wanted_id == "v2" and switch.asked == ["v2"]
    assert await state.current() == "v1" and switch.asked == ["v2"]  # one switch at a time
    switch.gate.set()
    assert await state.settled() == "v2"
    assert switch.commits == [("v2", "v1")]  # the server was swapped first, then the engine told
    assert (state.source, state.event and state.event.adapter_id) == ("store", "v2")


async def test_a_failed_switch_keeps_the_adapter_in_service_and_is_retried_on_the_next_read() -> None:
    store = MemoryStore()
    state, switch = switched_state(store, "v1")
    switch.broken.add("v2")
    switch.gate.set()
    await store.set(PROMOTED_ADAPTER_KEY, event("v2").model_dump_json())
    await state.current()
    assert await state.settled() == "v1" and state.wanted_id == "v2" and switch.commits == []
    await state.current()  # the next store read asks again (the real switch skips a file that failed)
    await state.settled()
    assert switch.asked == ["v2", "v2"] and state.adapter_id == "v1"


async def test_a_rollback_during_a_switch_discards_the_prepared_server() -> None:
    state, switch = switched_state(MemoryStore(), "v1")
    state.store = None  # events only
    assert state.apply(event("v2", previous="v1"))
    await asyncio.sleep(0)  # the switch to v2 is under way
    assert state.apply(event("v1", previous="v2"))  # rolled back before v2 was ready
    switch.gate.set()
    assert await state.settled() == "v1"
    assert switch.asked == ["v2"] and switch.discarded == ["v2"] and switch.commits == []


async def test_a_withdrawn_adapter_goes_back_to_the_previous_one_through_the_switch() -> None:
    state, switch = switched_state(MemoryStore(), "v2")
    switch.gate.set()
    assert state.apply(event("v2", promoted=False, previous=None))
    assert await state.settled() is None and switch.commits == [(None, "v2")]


async def test_a_pinned_adapter_ignores_the_store_and_events() -> None:
    store = MemoryStore()
    await store.set(PROMOTED_ADAPTER_KEY, event("v2").model_dump_json())
    state = AdapterState(store=store, configured_id=None, pinned=True, refresh_s=0.0)
    assert await state.current() is None
    assert not state.apply(event("v3"))
    assert await state.current() is None and state.wanted_id is None


# --------------------------------------------------------------------------- the registry's say


def registry_with(tmp_path: Path) -> Path:
    """v1 promoted then rolled back from v2; v3 rejected by the gate; v4 promoted, PEFT only."""
    adapters = tmp_path / "adapters"
    registry = AdapterRegistry(adapters)
    for name, promoted, gguf in (("v1", True, True), ("v2", True, True), ("v3", False, True), ("v4", True, False)):
        folder = adapters / name
        folder.mkdir(parents=True)
        if gguf:
            (folder / "adapter.gguf").write_bytes(b"GGUF")
        registry.record(event(name, promoted=promoted, path=str(folder)))
    state = registry.load()
    state.promotions = ["v1", "v4"]  # v2 was rolled back
    registry.save(state)
    return adapters


def test_only_a_gated_promoted_gguf_adapter_is_served(tmp_path: Path) -> None:
    adapters = registry_with(tmp_path)
    assert registry_adapter(adapters, "v1").path == adapters / "v1" / "adapter.gguf"
    for adapter_id, reason in (
        ("v9", "not in the registry"),
        ("v3", "did not pass the evaluation gate"),
        ("v2", "rolled back"),
        ("v4", "GGUF LoRA adapters only"),
    ):
        with pytest.raises(AdapterRefused, match=reason):
            registry_adapter(adapters, adapter_id)
    # An explicit choice (the CLI) may take any adapter the registry has in GGUF form.
    assert registry_adapter(adapters, "v3", promoted_only=False).alias == "v3"


def test_adapter_choice_pins_none_or_a_registered_adapter(tmp_path: Path) -> None:
    adapters = registry_with(tmp_path)
    assert adapter_choice(ExtractSettings(), adapters).pinned is False
    assert adapter_choice(ExtractSettings(llm_adapter="None"), adapters) == adapter_choice(
        ExtractSettings(llm_adapter="none"), adapters
    )
    base = adapter_choice(ExtractSettings(llm_adapter="none"), adapters)
    assert (base.pinned, base.adapter_id) == (True, None)
    assert adapter_choice(ExtractSettings(llm_adapter="v3"), adapters).adapter_id == "v3"  # CLI: for comparison
    with pytest.raises(UserError, match="did not pass the evaluation gate"):
        adapter_choice(ExtractSettings(llm_adapter="v3"), adapters, serving=True)
    with pytest.raises(UserError, match=r"'v9' is not in the registry .* \(it has: v1, v2, v3, v4\)"):
        adapter_choice(ExtractSettings(llm_adapter="v9"), adapters)


def test_build_engine_pins_the_adapter_or_the_base_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapters = registry_with(tmp_path)
    monkeypatch.setenv("QUOTEFLOW_ADAPTERS_DIR", str(adapters))
    tgi: dict[str, Any] = {"engine": "llm", "llm_url": "http://127.0.0.1:9"}
    engine = build_engine(ExtractSettings(**tgi))
    assert engine.adapters.adapter_id == "v4" and not engine.adapters.pinned  # type: ignore[attr-defined]
    base = build_engine(ExtractSettings(**tgi, llm_adapter="none"))
    assert base.adapters.adapter_id is None and base.adapters.pinned  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="not in the registry"):
        build_engine(ExtractSettings(**tgi, llm_adapter="v9"))
    # The embedded server is not even started for an adapter it could not load.
    with pytest.raises(UserError, match="GGUF LoRA adapters only"):
        build_engine(ExtractSettings(engine="llm", data_dir=tmp_path / "data", llm_adapter="v4"))
    assert not (tmp_path / "data").exists()


def _quoteflow(args: list[str], tmp_path: Path, adapters: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEFLOW_")}
    env |= {"QUOTEFLOW_ADAPTERS_DIR": str(adapters), "PYTHONPATH": str(REPO), "QUOTEFLOW_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["extract", "--engine", "llm", "--adapter", "v9", str(EXAMPLES / "single-inquiry.eml")],
            "error: adapter 'v9' is not in the registry",
        ),
        (["extract", "--adapter", "none", str(EXAMPLES / "single-inquiry.eml")], "add --engine llm"),
        (["eval", str(EXAMPLES), "--engine", "llm", "--adapter", "v9"], "error: adapter 'v9' is not in the registry"),
        (["eval", str(EXAMPLES), "--engine", "rules", "--adapter", "none"], "add llm to --engine"),
    ],
)
def test_cli_refuses_an_unknown_adapter_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = _quoteflow(args, tmp_path, registry_with(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert message in " ".join(result.stderr.split()), result.stderr
