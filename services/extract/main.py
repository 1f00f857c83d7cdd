"""Builds the extract service (``quoteflow serve extract``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.cli_support import UserError
from services.extract.adapters import AdapterState, register_adapter_updates
from services.extract.engine import ExtractionEngine
from services.extract.handlers import register
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings
from shared.embedded import EmbeddedServerError
from shared.embedded_llm import AdapterFile, EmbeddedLlm, start_embedded_llm
from shared.service import ServiceRuntime, build_runtime
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
ADAPTER_GGUF = "adapter.gguf"


def embedded_adapters(adapters_dir: Path) -> list[AdapterFile]:
    """The promoted adapter, for the embedded server, when the trainer left it in GGUF form (``<path>/adapter.gguf``).

    llama.cpp loads LoRA adapters as GGUF only; a PEFT (safetensors) adapter is not offered,
    and extract then refuses it like any adapter the server lacks, with the base model answering.
    """
    from services.trainer.registry import AdapterRegistry, RegistryError

    try:
        promoted = AdapterRegistry(adapters_dir).promoted()
    except RegistryError as exc:
        logger.error("embedded LLM: no adapter offered: %s", exc)
        return []
    if promoted is None:
        return []
    gguf = Path(promoted.path) / ADAPTER_GGUF
    if not gguf.is_file():
        logger.info("embedded LLM: promoted adapter %s has no %s; serving the base model", promoted.adapter_id, gguf)
        return []
    return [AdapterFile(promoted.adapter_id, gguf)]


def start_embedded_server(settings: ExtractSettings) -> EmbeddedLlm:
    """The embedded llama-cpp-python server, with the promoted GGUF adapter if there is one."""
    from services.trainer.settings import TrainerSettings

    adapters = embedded_adapters(TrainerSettings().adapters_dir)
    try:
        llm = start_embedded_llm(settings.data_dir, adapters=adapters, context_tokens=settings.llm_context_tokens)
    except EmbeddedServerError as exc:
        raise UserError(str(exc)) from exc
    logger.info(
        "embedded LLM server on %s (model %s, aliases %s) ready in %.1f s",
        llm.url,
        llm.model_path.name,
        [llm.base_alias, *(a.alias for a in llm.adapters)],
        llm.started_in_s,
    )
    return llm


def build_engine(
    settings: ExtractSettings, *, store: Store | None = None, adapters: AdapterState | None = None
) -> ExtractionEngine:
    """The configured engine (rules, llm, or hybrid: rules completed by the llm).

    The LLM engine uses QUOTEFLOW_LLM_URL, or without one starts the embedded llama-cpp-python server
    (stopped by the engine's ``close``, and with this process in any case); without a store it has only
    the seed few-shot examples and uses QUOTEFLOW_LLM_ADAPTER_ID as the adapter."""
    if settings.engine == "rules":
        return RulesEngine()
    embedded = not settings.llm_url
    if embedded and settings.llm_flavour != "llamacpp":
        raise UserError(MISSING_LLM_URL.format(flavour=settings.llm_flavour))
    if settings.llm_flavour != "llamacpp":  # huggingface_hub carries these requests; llamacpp's go over httpx
        from huggingface_hub import constants as hub_constants

        if hub_constants.HF_HUB_OFFLINE:
            raise UserError(HUB_OFFLINE_BLOCKS_LLM)
    from services.extract.llm.client import build_backend
    from services.extract.llm.engine import LlmEngine
    from services.extract.llm.fewshot import FewShotSelector

    server = start_embedded_server(settings) if embedded else None
    try:
        backend = build_backend(
            server.url if server else settings.llm_url or "",
            settings.llm_flavour,
            api=settings.llm_api,
            timeout_s=settings.llm_timeout_s,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            context_tokens=settings.llm_context_tokens,
            base_alias=server.base_alias if server else None,
            on_close=server.stop if server else None,
        )
    except ValueError as exc:
        if server:
            server.stop()
        raise UserError(str(exc)) from exc
    llm = LlmEngine(
        backend,
        settings,
        rules=RulesEngine(),
        adapters=adapters
        or AdapterState(store=store, configured_id=settings.llm_adapter_id, refresh_s=settings.llm_adapter_refresh_s),
        fewshot=FewShotSelector(store=store),
    )
    if settings.engine == "hybrid":
        from services.extract.hybrid import HybridEngine

        return HybridEngine(RulesEngine(), llm)
    return llm


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
        adapters = AdapterState(
            store=runtime.store, configured_id=settings.llm_adapter_id, refresh_s=settings.llm_adapter_refresh_s
        )
        engine = build_engine(settings, store=runtime.store, adapters=adapters)
        if settings.engine != "rules":
            register_adapter_updates(runtime, settings, adapters)
            llm: Any = getattr(engine, "llm", engine)  # the hybrid engine holds the llm engine
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
