"""Tags: the documented taxonomy (taxonomy.yaml, Korean and English) plus a few keywords.

Keywords come from kiwipiepy nouns for Korean (loaded lazily once, on the subject and
product names only so the per-thread cost stays small) and from the product names for
English; when kiwipiepy cannot load, a regex noun fallback is used.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from services.extract.rules.vocabulary import KEYWORD_STOP_WORDS
from shared.events import NormalizedThread

if TYPE_CHECKING:
    from services.extract.rules.resolve import Resolved
    from services.extract.rules.state import ThreadState
    from services.extract.rules.text import MessageView

logger = logging.getLogger(__name__)
TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
MAX_KEYWORDS = 3


@dataclass(frozen=True)
class TagRule:
    """One taxonomy entry."""

    ko: str
    en: str
    when: str | None
    patterns: re.Pattern[str] | None


@cache
def taxonomy() -> tuple[TagRule, ...]:
    """The taxonomy file, compiled once."""
    raw: dict[str, list[dict[str, Any]]] = yaml.safe_load(TAXONOMY_PATH.read_text(encoding="utf-8"))
    rules = []
    for group in ("general", "industry"):
        for entry in raw.get(group, []):
            patterns = entry.get("patterns")
            compiled = re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
            rules.append(TagRule(ko=str(entry["ko"]), en=str(entry["en"]), when=entry.get("when"), patterns=compiled))
    return tuple(rules)


KIWI_OPTIONS: dict[str, Any] = {"load_multi_dict": False, "num_workers": 0}
"""How Kiwi is built: without the multi-word dictionary (WikiData multi-word proper nouns,
about 190 MB of RSS; keywords come from subjects and product names, where it changed no
tag on 300 synthetic threads, see bench/results/README.md) and without worker threads
(``tokenize`` of one string runs in the calling thread anyway)."""


class _Kiwi:
    """kiwipiepy loaded once per process on first Korean text, shared by all its threads; None when unavailable.

    The model is large (bench/results/README.md: memory), so nothing loads it before a
    Korean keyword source is seen: English-only traffic never pays for it.
    """

    _lock = threading.Lock()
    _instance: Any = None
    _failed = False

    @classmethod
    def get(cls) -> Any:
        if cls._instance is None and not cls._failed:
            with cls._lock:
                if cls._instance is None and not cls._failed:
                    try:
                        from kiwipiepy import Kiwi

                        with warnings.catch_warnings():
                            # num_workers=0 warns that its meaning changed in 0.21 (now: no pool threads).
                            warnings.simplefilter("ignore", DeprecationWarning)
                            cls._instance = Kiwi(**KIWI_OPTIONS)
                    except Exception as error:  # missing wheel or model files: fall back to regex nouns
                        logger.warning("kiwipiepy unavailable, keyword fallback in use: %s", error)
                        cls._failed = True
        return cls._instance


def korean_nouns(text: str) -> list[str]:
    """Nouns of a short Korean text (kiwipiepy NNG/NNP/SL, else Hangul words without particles)."""
    kiwi = _Kiwi.get()
    if kiwi is not None:
        return [t.form for t in kiwi.tokenize(text) if t.tag in ("NNG", "NNP", "SL") and len(t.form) > 1]
    words = re.findall(r"[가-힣A-Za-z]{2,}", text)
    return [re.sub(r"(?:을|를|이|가|은|는|의|에|와|과|도|로|으로)$", "", w) for w in words]


def _conditions(thread: NormalizedThread, views: list[MessageView], state: ThreadState, resolved: Resolved) -> set[str]:
    facts = resolved.facts
    found = set()
    if facts.items or facts.currency:
        found.add("has_terms")
    buyer_offers = any(s.role != "supplier" for it in state.items for s in it.price.statements + it.discount.statements)
    price_changes = any(len({s.value for s in it.price.statements if s.role == "supplier"}) > 1 for it in state.items)
    if buyer_offers or price_changes or state.decisions:
        found.add("negotiated")
    if facts.delivery_lead_time_days or facts.delivery_date or facts.shipping_method or facts.incoterm:
        found.add("logistics")
    if facts.quote_requested:
        found.add("quote")
    if any(i.discount_percent for i in facts.items):
        found.add("discount")
    if facts.payment_terms or facts.warranty_months:
        found.add("contract")
    if thread.language in ("ko", "mixed") or any((v.sender_email or "").endswith(".kr") for v in views):
        found.add("korea")
    return found


def tag_thread(thread: NormalizedThread, views: list[MessageView], state: ThreadState, resolved: Resolved) -> list[str]:
    """Taxonomy tags in the thread's language, then up to three keywords."""
    korean = thread.language == "ko" or (thread.language == "mixed" and any(v.language == "ko" for v in views))
    text = "\n".join([thread.subject] + [v.body for v in views])
    conditions = _conditions(thread, views, state, resolved)
    tags: list[str] = []
    for rule in taxonomy():
        hit = (rule.when is not None and rule.when in conditions) or (
            rule.patterns is not None and rule.patterns.search(text)
        )
        if hit:
            tags.append(rule.ko if korean else rule.en)
    keyword_source = " ".join([thread.subject] + [i.product for i in resolved.facts.items if i.product])
    if re.search(r"[가-힣]", keyword_source):
        candidates = korean_nouns(keyword_source)
    else:
        candidates = re.findall(r"[A-Za-z][A-Za-z0-9\-]{2,}", keyword_source)
    keywords: list[str] = []
    seen = {t.lower() for t in tags}
    for word in candidates:
        lowered = word.lower()
        if lowered in KEYWORD_STOP_WORDS or lowered in seen:
            continue
        seen.add(lowered)
        keywords.append(word if re.search(r"[가-힣]|[A-Z]{2}|\d", word) else lowered)
        if len(keywords) >= MAX_KEYWORDS:
            break
    return tags + keywords
