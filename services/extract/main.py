"""Builds the extract service (``quoteflow serve extract``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.extract.adapters import AdapterState, register_adapter_updates
from services.extract.embedded_server import (
    ADAPTER_GGUF,
    AdapterRefused,
    EmbeddedAdapterSwitch,
    EmbeddedBackend,
    registry_adapter,
)
from services.extract.engine import ExtractionEngine
from services.extract.handlers import register
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from shared.embedded import EmbeddedServerError
from shared.embedded_llm import AdapterFile, AdapterLoadError, EmbeddedLlm, start_embedded_llm
from shared.errors import UserError
from shared.events import AdapterEvent
from shared.service import ServiceRuntime, build_runtime, module_app
from shared.store import Store
from shared.telemetry import Telemetry

logger = logging.getLogger(__name__)

HUB_OFFLINE_BLOCKS_LLM = (
    "HF_HUB_OFFLINE=1 makes huggingface_hub refuse every request, including those to your own inference "
    "server: unset it for the extract service (extract never contacts the Hugging Face Hub)"
)

MISSING_LLM_URL = (
    "the llm engine with QUOTEFLOW_LLM_FLAVOUR={flavour} needs an inference server: set QUOTEFLOW_LLM_URL "
    "(e.g. http://localhost:8080 for TGI, http://localhost:8000 for vLLM), leave QUOTEFLOW_LLM_FLAVOUR unset "
    "(or llamacpp) for the embedded CPU model, or use --engine rules"
)
BASE_MODEL_CHOICE = "none"


@dataclass(frozen=True)
class AdapterChoice:
    """``--adapter`` / QUOTEFLOW_LLM_ADAPTER: not pinned (follow promotions), the base model, or one adapter."""

    pinned: bool = False
    adapter_id: str | None = None
    entry: AdapterEvent | None = None


def adapter_choice(settings: ExtractSettings, adapters_dir: Path, *, serving: bool = False) -> AdapterChoice:
    """The pinned adapter, checked against the registry (:class:`UserError` when it does not list it).

    ``serving`` (the extract service): the adapter must also have passed the evaluation gate. The
    CLI and eval may pin any adapter the registry has, for comparisons.
    """
    from shared.registry import AdapterRegistry, RegistryError

    value = (settings.llm_adapter or "").strip()
    if not value:
        return AdapterChoice()
    if value.lower() == BASE_MODEL_CHOICE:
        return AdapterChoice(pinned=True)
    registry = AdapterRegistry(adapters_dir)
    try:
        state = registry.load()
    except RegistryError as exc:
        raise UserError(f"adapter {value!r}: {exc}") from exc
    entry = state.adapters.get(value)
    if entry is None:
        known = ", ".join(sorted(state.adapters)) or "no adapters"
        raise UserError(
            f"adapter {value!r} is not in the registry {registry.path} (it has: {known}); "
            f"`quoteflow adapters list` shows them, `none` asks the base model"
        )
    if serving and not entry.promoted:
        reason = entry.reason or "rejected"
        raise UserError(f"adapter {value!r} did not pass the evaluation gate ({reason}): the service does not serve it")
    if not entry.promoted:
        logger.warning("adapter %s did not pass the evaluation gate (%s); asked as chosen", value, entry.reason)
    return AdapterChoice(pinned=True, adapter_id=value, entry=entry)


def embedded_adapters(adapters_dir: Path) -> list[AdapterFile]:
    """The promoted adapter, for the embedded server, when the trainer left it in GGUF form (``<path>/adapter.gguf``).

    llama.cpp loads LoRA adapters as GGUF only; a PEFT (safetensors) adapter is not offered,
    and extract then refuses it like any adapter the server lacks, with the base model answering.
    """
    from shared.registry import AdapterRegistry, RegistryError

    try:
        promoted = AdapterRegistry(adapters_dir).promoted()
    except RegistryError as exc:
        logger.error("embedded LLM: no adapter offered: %s", exc)
        return []
    if promoted is None:
        return []
    gguf = Path(promoted.path) / ADAPTER_GGUF
    if not gguf.is_file():
        logger.warning("embedded LLM: promoted adapter %s has no %s; serving the base model", promoted.adapter_id, gguf)
        return []
    return [AdapterFile(promoted.adapter_id, gguf)]


def _pinned_files(choice: AdapterChoice, adapters_dir: Path) -> list[AdapterFile]:
    if choice.adapter_id is None:
        return []
    try:
        return [registry_adapter(adapters_dir, choice.adapter_id, promoted_only=False)]
    except AdapterRefused as exc:
        raise UserError(str(exc)) from exc


def start_embedded_server(
    settings: ExtractSettings, adapters: list[AdapterFile] | None = None, *, pinned: bool = False
) -> EmbeddedLlm:
    """The embedded llama-cpp-python server with these GGUF adapters (default: the promoted one, if any).

    An adapter llama.cpp cannot load is an error when it was chosen (``pinned``); the promoted
    one is dropped instead, with an error in the log, and the base model serves.
    """
    if adapters is None:
        adapters = embedded_adapters(settings.adapters_dir)
    try:
        try:
            llm = start_embedded_llm(settings.data_dir, adapters=adapters, context_tokens=settings.llm_context_tokens)
        except AdapterLoadError as exc:
            if pinned:
                raise
            logger.error("embedded LLM: %s; serving the base model", exc)
            llm = start_embedded_llm(settings.data_dir, context_tokens=settings.llm_context_tokens)
    except EmbeddedServerError as exc:
        raise UserError(str(exc)) from exc
    logger.info(
        "embedded LLM server on %s (model %s, aliases %s) ready in %.1f s",
        llm.url,
        llm.model_path.name,
        llm.aliases,
        llm.started_in_s,
    )
    return llm


def build_engine(
    settings: ExtractSettings,
    *,
    store: Store | None = None,
    adapters: AdapterState | None = None,
    serving: bool = False,
    llamacpp_options: Mapping[str, Any] | None = None,
) -> ExtractionEngine:
    """The configured engine: rules, llm, or hybrid (rules completed by the llm).

    The LLM engine uses QUOTEFLOW_LLM_URL, or without one starts the embedded
    llama-cpp-python server (stopped by the engine's ``close``, and with this process in any case).

    The adapter: the pinned one (QUOTEFLOW_LLM_ADAPTER, ``--adapter``; ``none``: the base model);
    else with a store the promoted one (``adapters:promoted``, kept current), and without one
    (the CLI, eval) the registry's promoted one, else QUOTEFLOW_LLM_ADAPTER_ID. On the embedded
    server a change of the promoted adapter starts a server with it and swaps it in
    (:mod:`services.extract.embedded_server`). ``serving``: the extract service (a pinned adapter
    must have passed the gate). ``llamacpp_options``: extra LlamaCppBackend arguments (tests).
    """
    if settings.engine == "rules":
        return RulesEngine()
    embedded = not settings.llm_url
    if embedded and settings.llm_flavour != "llamacpp":
        raise UserError(MISSING_LLM_URL.format(flavour=settings.llm_flavour))
    if settings.llm_flavour != "llamacpp":  # huggingface_hub carries these requests; llamacpp's go over httpx
        from huggingface_hub import constants as hub_constants

        if hub_constants.HF_HUB_OFFLINE:
            raise UserError(HUB_OFFLINE_BLOCKS_LLM)
    from services.extract.llm.client import InferenceBackend, build_backend
    from services.extract.llm.engine import LlmEngine
    from services.extract.llm.fewshot import FewShotSelector

    adapters_dir = settings.adapters_dir
    choice = adapter_choice(settings, adapters_dir, serving=serving)
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    backend: InferenceBackend
    switch: EmbeddedAdapterSwitch | None = None
    if embedded:
        files = _pinned_files(choice, adapters_dir) if choice.pinned else embedded_adapters(adapters_dir)
        server = start_embedded_server(settings, files, pinned=choice.pinned)
        backend = EmbeddedBackend(
            server,
            timeout_s=settings.llm_timeout_s,
            drain_s=settings.llm_total_budget_s,
            api_key=api_key,
            options=llamacpp_options,
        )
        served = server.adapters[0].alias if server.adapters else None
        initial = served or settings.llm_adapter_id
        if not choice.pinned:
            switch = EmbeddedAdapterSwitch(
                backend, data_dir=settings.data_dir, adapters_dir=adapters_dir, context_tokens=server.context_tokens
            )
            for dropped in (f for f in files if f not in server.adapters):  # it did not load at start-up
                switch.remember_failure(dropped)
    else:
        try:
            backend = build_backend(
                settings.llm_url or "",
                settings.llm_flavour,
                api=settings.llm_api,
                timeout_s=settings.llm_timeout_s,
                api_key=api_key,
                context_tokens=settings.llm_context_tokens,
            )
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        initial = settings.llm_adapter_id
        if store is None and initial is None:  # the CLI and eval: what the service would use
            initial = _promoted_id(adapters_dir)
    if adapters is None:
        adapters = AdapterState(
            store=store,
            configured_id=choice.adapter_id if choice.pinned else initial,
            refresh_s=settings.llm_adapter_refresh_s,
            pinned=choice.pinned,
            source="pinned" if choice.pinned else "settings",
        )
    adapters.switch = switch
    engine = LlmEngine(backend, settings, rules=RulesEngine(), adapters=adapters, fewshot=FewShotSelector(store=store))
    if switch is not None:
        switch.refresh_info = lambda: engine.server_info(force=True)
    if settings.engine == "hybrid":
        from services.extract.hybrid import HybridEngine

        return HybridEngine(RulesEngine(), engine)
    return engine


def _promoted_id(adapters_dir: Path) -> str | None:
    from shared.registry import AdapterRegistry, RegistryError

    try:
        promoted = AdapterRegistry(adapters_dir).promoted()
    except RegistryError:
        return None
    return promoted.adapter_id if promoted else None


def _adapter_check(check: Callable[[], Awaitable[str | None]]) -> Callable[[], Awaitable[None]]:
    """Start-up check of the adapter against the server's list (TGI silently serves the base model otherwise).

    A problem is reported, not fatal: the server may still be loading, and every event says which model answered.
    """

    async def run_check() -> None:
        try:
            problem = await check()
        except Exception as exc:
            logger.warning("adapter check skipped: inference server not reachable (%s)", type(exc).__name__)
            return
        if problem:
            logger.warning("adapter check: %s", problem)
        else:
            logger.info("adapter check: the inference server serves the configured adapter")

    return run_check


def build_service(
    settings: ExtractSettings | None = None,
    *,
    store: Store | None = None,
    telemetry: Telemetry | None = None,
    engine: ExtractionEngine | None = None,
) -> ServiceRuntime:
    settings = (settings or ExtractSettings()).model_copy(update={"service_name": "extract"})
    runtime = build_runtime("extract", settings, store=store, telemetry=telemetry)
    if engine is None:
        engine = build_engine(settings, store=runtime.store, serving=True)
        if settings.engine != "rules":
            llm: Any = getattr(engine, "llm", engine)  # the hybrid engine holds the llm engine
            adapters: AdapterState | None = getattr(llm, "adapters", None)
            if adapters is not None:
                if not adapters.pinned:
                    register_adapter_updates(runtime, settings, adapters)
                    runtime.on_start.append(_watching(adapters))
                runtime.on_stop.append(adapters.aclose)
                if isinstance(adapters.switch, EmbeddedAdapterSwitch):
                    adapters.switch.on_outcome = _reload_metrics(runtime)
            backend = getattr(llm, "backend", None)
            if backend is not None:
                from services.extract.llm.metered import MeteredBackend

                llm.backend = MeteredBackend(backend, runtime.metrics, runtime.name, runtime.telemetry.tracer)
            close = getattr(engine, "close", None)
            if close is not None:
                runtime.on_stop.append(close)
            check = getattr(engine, "check_adapter", None)
            if check is not None:
                runtime.on_start.append(_adapter_check(check))
    register(runtime, settings, engine)
    return runtime


def _watching(adapters: AdapterState) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        adapters.watch()

    return start


def _reload_metrics(runtime: ServiceRuntime) -> Callable[[str, float], None]:
    """``quoteflow_adapter_reloads_total{outcome}`` (ok, failed, refused) and the last swap's seconds."""
    from prometheus_client import Counter, Gauge

    reloads = Counter(
        "quoteflow_adapter_reloads",
        "Embedded LLM server swaps for a newly promoted adapter, by outcome (ok, failed, refused).",
        ["service", "outcome"],
        registry=runtime.metrics.registry,
    )
    seconds = Gauge(
        "quoteflow_adapter_reload_seconds",
        "Seconds the last successful swap took, from noticing the promotion to serving it.",
        ["service"],
        registry=runtime.metrics.registry,
    )

    def record(outcome: str, took_s: float) -> None:
        reloads.labels(runtime.name, outcome).inc()
        if outcome == "ok":
            seconds.labels(runtime.name).set(took_s)

    return record


# `app`, a FastStream application built on first access: `faststream run services.extract.main:app`.
__getattr__ = module_app(build_service)
