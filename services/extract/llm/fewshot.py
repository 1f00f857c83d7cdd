"""Few-shot examples from the correction store, chosen by similarity to the thread.

The trainer writes corrected threads to the Redis hash ``fewshot:{tenant}`` (shared/keys.py, entries
:class:`shared.events.FewShotEntry`). The
examples most like the current thread (character 3-gram TF-IDF cosine: works for
Korean without a tokenizer and needs no model download) teach the base model the
answer format and what "not stated → null" looks like.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from pydantic import ValidationError

from services.extract.llm.seed_examples import seed_examples
from shared.events import FewShotEntry, NormalizedThread
from shared.keys import fewshot_key
from shared.llm_format.answers import LlmAnswer
from shared.llm_format.prompts import FewShotExample
from shared.store import Store

logger = logging.getLogger(__name__)

NGRAM = 3
MAX_CHARS = 4000


def thread_text(thread: NormalizedThread) -> str:
    return " ".join([thread.subject, *(m.text for m in thread.messages)])[:MAX_CHARS]


def char_ngrams(text: str, n: int = NGRAM) -> Counter[str]:
    folded = " ".join(text.casefold().split())
    return Counter(folded[i : i + n] for i in range(max(0, len(folded) - n + 1)))


def parse_example(raw: bytes) -> FewShotExample | None:
    """One hash value; ``None`` (and a log line) for anything malformed, so one bad entry spoils nothing."""
    try:
        entry = FewShotEntry.model_validate_json(raw)
    except ValidationError as exc:
        logger.warning("skipping malformed few-shot example: %s", str(exc)[:200])
        return None
    return FewShotExample(
        thread=entry.thread, answer=LlmAnswer(facts=entry.facts, summary=entry.summary, tags=entry.tags)
    )


@dataclass
class _Index:
    examples: list[FewShotExample]
    vectors: list[dict[str, float]]
    idf: dict[str, float]
    loaded_at: float


def _tfidf(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    vector = {gram: (1 + math.log(count)) * idf.get(gram, 0.0) for gram, count in counts.items()}
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {gram: v / norm for gram, v in vector.items()}


def build_index(examples: list[FewShotExample], loaded_at: float = 0.0) -> _Index:
    grams = [char_ngrams(thread_text(e.thread)) for e in examples]
    document_frequency: Counter[str] = Counter()
    for counts in grams:
        document_frequency.update(counts.keys())
    total = len(examples)
    idf = {gram: math.log((1 + total) / (1 + df)) + 1 for gram, df in document_frequency.items()}
    return _Index(examples, [_tfidf(g, idf) for g in grams], idf, loaded_at)


def most_similar(index: _Index, thread: NormalizedThread, k: int) -> list[FewShotExample]:
    """The ``k`` examples closest to ``thread`` (never the thread itself)."""
    if k <= 0 or not index.examples:
        return []
    query = _tfidf(char_ngrams(thread_text(thread)), index.idf)
    scored = []
    for example, vector in zip(index.examples, index.vectors, strict=True):
        if example.thread.thread_id == thread.thread_id:
            continue
        similarity = sum(weight * vector.get(gram, 0.0) for gram, weight in query.items())
        scored.append((similarity, example))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [FewShotExample(e.thread, e.answer, similarity=s) for s, e in scored[:k]]


@dataclass
class FewShotSelector:
    """Reads ``fewshot:{tenant}`` (cached for ``ttl_s``) and picks the nearest examples.

    While a tenant has fewer corrected examples than asked for, the shipped seed examples
    (:mod:`services.extract.llm.seed_examples`) fill the rest: the base model needs some.
    """

    store: Store | None
    ttl_s: float = 60.0
    seeds: tuple[FewShotExample, ...] = field(default_factory=seed_examples)
    _indexes: dict[str, _Index] = field(default_factory=dict)
    _seed_index: _Index | None = None

    async def select(self, thread: NormalizedThread, k: int) -> list[FewShotExample]:
        if k <= 0:
            return []
        chosen = await self._corrected(thread, k)
        if len(chosen) < k and self.seeds:
            if self._seed_index is None:
                self._seed_index = build_index(list(self.seeds))
            chosen += most_similar(self._seed_index, thread, k - len(chosen))
        return chosen

    async def _corrected(self, thread: NormalizedThread, k: int) -> list[FewShotExample]:
        if self.store is None:
            return []
        index = self._indexes.get(thread.tenant)
        now = time.monotonic()
        if index is None or now - index.loaded_at > self.ttl_s:
            raw = await self.store.hgetall(fewshot_key(thread.tenant))
            examples = [e for e in (parse_example(v) for _, v in sorted(raw.items())) if e is not None]
            index = build_index(examples, loaded_at=now)
            self._indexes[thread.tenant] = index
        return most_similar(index, thread, k)
