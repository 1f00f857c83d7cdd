"""Key-fact F1 exactly as SPEC.md §4 (the talk's definitions), field by field over flattened facts.

For every field of every thread one outcome is counted:

* TP: the prediction equals the truth (both non-empty);
* TN: both are empty;
* FP: the prediction is non-empty and differs from the truth (a value where the truth is empty counts here);
* FN: the prediction is empty while the truth has a value.

F1 = 2TP / (2TP + FP + FN). When that denominator is 0 (nothing to find and nothing invented, only TNs)
F1 is reported as 1.0, so a field nobody ever states does not drag an average down.

"Empty" is ``None``, a blank string or an empty list. ``False`` is a value (``quote_requested=false`` is a
statement). Facts are flattened to dotted names: ``buyer.name``, ``currency``, ``items.unit_price`` … Line items
are aligned by product (normalized name, then the most similar name) before their fields are compared; a
predicted item without a partner yields FPs, a true item without a partner FNs. Per-field figures add up over
all items, so ``items.unit_price`` is one row whatever the number of lines.

Equality: numbers within a relative tolerance of 1e-6 (float noise only), strings after Unicode NFKC, case
folding, whitespace collapsing and dropping trailing punctuation. No other leniency: the talk's rule is
"exact matching".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

from shared.events import ITEM_FIELDS, PARTY_FIELDS, SCALAR_FIELDS, KeyFacts, LineItem, Party

Outcome = Literal["tp", "tn", "fp", "fn"]

FIELD_NAMES: tuple[str, ...] = (
    *(f"buyer.{f}" for f in PARTY_FIELDS),
    *(f"supplier.{f}" for f in PARTY_FIELDS),
    *(f"items.{f}" for f in ITEM_FIELDS),
    *SCALAR_FIELDS,
)
"""Every flattened field, in report order."""

PRODUCT_MATCH_THRESHOLD = 0.6
"""Least name similarity (0–1) for two differently written products to be aligned as the same line."""


@dataclass
class FieldCounts:
    """TP/TN/FP/FN of one field (or of all fields together)."""

    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def merge(self, other: FieldCounts) -> None:
        self.tp += other.tp
        self.tn += other.tn
        self.fp += other.fp
        self.fn += other.fn

    @property
    def support(self) -> int:
        """How many comparisons were counted."""
        return self.tp + self.tn + self.fp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 1.0

    @property
    def accuracy(self) -> float:
        """(TP + TN) / all: how often the field was exactly right, empty or not."""
        return (self.tp + self.tn) / self.support if self.support else 1.0

    def to_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp,
            "tn": self.tn,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
            "accuracy": round(self.accuracy, 6),
        }


@dataclass
class F1Report:
    """Per-field counts and F1, the micro-averaged overall F1, and how many threads were fully right."""

    per_field: dict[str, FieldCounts] = field(default_factory=lambda: {name: FieldCounts() for name in FIELD_NAMES})
    threads: int = 0
    exact_threads: int = 0

    @property
    def overall(self) -> FieldCounts:
        total = FieldCounts()
        for counts in self.per_field.values():
            total.merge(counts)
        return total

    @property
    def f1(self) -> float:
        """Overall (micro) key-fact F1: the talk's headline number (0.72 for its fine-tuned Gemma-2-2B)."""
        return self.overall.f1

    @property
    def macro_f1(self) -> float:
        """Mean of the per-field F1 over fields that had a value on either side at least once."""
        scores = [c.f1 for c in self.per_field.values() if c.tp + c.fp + c.fn]
        return sum(scores) / len(scores) if scores else 1.0

    def field_f1(self) -> dict[str, float]:
        return {name: counts.f1 for name, counts in self.per_field.items()}

    def merge(self, other: F1Report) -> None:
        for name, counts in other.per_field.items():
            self.per_field.setdefault(name, FieldCounts()).merge(counts)
        self.threads += other.threads
        self.exact_threads += other.exact_threads

    def to_dict(self) -> dict[str, Any]:
        return {
            "f1": round(self.f1, 6),
            "macro_f1": round(self.macro_f1, 6),
            "overall": self.overall.to_dict(),
            "threads": self.threads,
            "exact_threads": self.exact_threads,
            "per_field": {name: counts.to_dict() for name, counts in self.per_field.items()},
        }


# --------------------------------------------------------------------------- comparison


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


_TRAILING_PUNCTUATION = re.compile(r"[\s.,;:!?。、]+$")


def normalize_text(value: str) -> str:
    """NFKC, case-folded, single spaces, no trailing punctuation: formatting is not a different fact."""
    text = unicodedata.normalize("NFKC", value).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return _TRAILING_PUNCTUATION.sub("", text)


def values_equal(predicted: object, truth: object) -> bool:
    """Exact match up to formatting (numbers within 1e-6 relative, strings normalized)."""
    if isinstance(predicted, bool) or isinstance(truth, bool):
        return isinstance(predicted, bool) and isinstance(truth, bool) and predicted == truth
    if isinstance(predicted, int | float) and isinstance(truth, int | float):
        return math.isclose(float(predicted), float(truth), rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(predicted, str) and isinstance(truth, str):
        return normalize_text(predicted) == normalize_text(truth)
    return predicted == truth


def compare(predicted: object, truth: object) -> Outcome:
    """One field, one thread: the talk's TP/TN/FP/FN."""
    predicted_empty, truth_empty = is_empty(predicted), is_empty(truth)
    if predicted_empty and truth_empty:
        return "tn"
    if predicted_empty:
        return "fn"
    if values_equal(predicted, truth):
        return "tp"
    return "fp"


# --------------------------------------------------------------------------- alignment and flattening


def product_key(product: str | None) -> str:
    """Product name for alignment: normalized, without spaces and punctuation."""
    return re.sub(r"[\W_]+", "", normalize_text(product or ""))


def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a in b or b in a:
        return max(0.8, SequenceMatcher(None, a, b).ratio())
    return SequenceMatcher(None, a, b).ratio()


def align_items(
    predicted: Sequence[LineItem], truth: Sequence[LineItem]
) -> list[tuple[LineItem | None, LineItem | None]]:
    """Pairs (predicted, true) by product: exact names first, then greedily by name similarity.

    Unpaired lines come back with ``None`` on the other side. With one line on each side they are paired
    whatever their names (the product field then decides TP or FP), because a single-line thread has only
    one line to talk about.
    """
    if len(predicted) == 1 and len(truth) == 1:
        return [(predicted[0], truth[0])]
    pairs: list[tuple[LineItem | None, LineItem | None]] = []
    free_predicted = list(range(len(predicted)))
    free_truth = list(range(len(truth)))
    for t in list(free_truth):
        key = product_key(truth[t].product)
        match = next((p for p in free_predicted if key and product_key(predicted[p].product) == key), None)
        if match is not None:
            pairs.append((predicted[match], truth[t]))
            free_predicted.remove(match)
            free_truth.remove(t)
    candidates = sorted(
        (
            (_similarity(product_key(predicted[p].product), product_key(truth[t].product)), p, t)
            for p in free_predicted
            for t in free_truth
        ),
        reverse=True,
    )
    for score, p, t in candidates:
        if score < PRODUCT_MATCH_THRESHOLD:
            break
        if p in free_predicted and t in free_truth:
            pairs.append((predicted[p], truth[t]))
            free_predicted.remove(p)
            free_truth.remove(t)
    pairs.extend((predicted[p], None) for p in free_predicted)
    pairs.extend((None, truth[t]) for t in free_truth)
    return pairs


def _party_value(party: Party | None, name: str) -> object:
    return getattr(party, name) if party is not None else None


def _item_value(item: LineItem | None, name: str) -> object:
    return getattr(item, name) if item is not None else None


def score_thread(predicted: KeyFacts, truth: KeyFacts) -> dict[str, list[Outcome]]:
    """Outcomes of one thread per flattened field (items fields get one outcome per aligned line)."""
    outcomes: dict[str, list[Outcome]] = {name: [] for name in FIELD_NAMES}
    for side in ("buyer", "supplier"):
        for name in PARTY_FIELDS:
            outcomes[f"{side}.{name}"].append(
                compare(_party_value(getattr(predicted, side), name), _party_value(getattr(truth, side), name))
            )
    for predicted_item, true_item in align_items(predicted.items, truth.items):
        for name in ITEM_FIELDS:
            outcomes[f"items.{name}"].append(compare(_item_value(predicted_item, name), _item_value(true_item, name)))
    for name in SCALAR_FIELDS:
        outcomes[name].append(compare(getattr(predicted, name), getattr(truth, name)))
    return outcomes


def key_fact_f1(pairs: Iterable[tuple[KeyFacts, KeyFacts]]) -> F1Report:
    """Score (predicted, expected) pairs: per-field TP/TN/FP/FN, per-field F1 and the overall micro F1."""
    report = F1Report()
    for predicted, truth in pairs:
        outcomes = score_thread(predicted, truth)
        for name, results in outcomes.items():
            for outcome in results:
                report.per_field[name].add(outcome)
        report.threads += 1
        if all(outcome in ("tp", "tn") for results in outcomes.values() for outcome in results):
            report.exact_threads += 1
    return report
