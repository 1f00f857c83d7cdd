"""Extract's public engine API: what the trainer may use to evaluate the engines offline (and nothing else).

Everything else in ``services/extract`` is the service's own; tests/test_boundaries.py enforces it.
"""

from __future__ import annotations

from services.extract.engine import Extraction, ExtractionEngine
from services.extract.llm.client import schema_grammar
from services.extract.main import AdapterChoice, adapter_choice, build_engine
from services.extract.rules import RulesEngine
from services.extract.settings import ExtractSettings

__all__ = [
    "AdapterChoice",
    "ExtractSettings",
    "Extraction",
    "ExtractionEngine",
    "RulesEngine",
    "adapter_choice",
    "build_engine",
    "schema_grammar",
]
