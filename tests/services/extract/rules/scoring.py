"""Key-fact F1 of SPEC.md §4 for the rules tests: field by field over flattened facts, items aligned by product."""

from __future__ import annotations

from typing import Any

from services.extract.rules.items import product_tokens, same_product
from shared.events import ITEM_FIELDS, PARTY_FIELDS, SCALAR_FIELDS

SCALARS = SCALAR_FIELDS


def _norm(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 4)
    if isinstance(value, str):
        return " ".join(value.lower().split()) or None
    return value


def _equal(field: str, predicted: Any, truth: Any) -> bool:
    if field.endswith(".product") and isinstance(predicted, str) and isinstance(truth, str):
        return same_product(product_tokens(predicted), product_tokens(truth))
    return bool(_norm(predicted) == _norm(truth))


def flatten(facts: dict[str, Any], truth_items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Flat {path: value}; with truth_items, predicted items are re-ordered to align with the truth by product."""
    flat: dict[str, Any] = {}
    for role in ("buyer", "supplier"):
        party = facts.get(role) or {}
        for key in PARTY_FIELDS:
            flat[f"{role}.{key}"] = party.get(key)
    for key in SCALARS:
        flat[key] = facts.get(key)
    items = list(facts.get("items") or [])
    if truth_items is not None:
        aligned: list[dict[str, Any] | None] = []
        remaining = list(items)
        for truth in truth_items:
            match = next(
                (
                    p
                    for p in remaining
                    if p.get("product") and truth.get("product") and _equal(".product", p["product"], truth["product"])
                ),
                None,
            )
            if match is None and len(truth_items) == 1 and remaining:
                match = remaining[0]
            if match is not None:
                remaining.remove(match)
            aligned.append(match)
        items = [*aligned, *remaining]
    for index, item in enumerate(items):
        for key in ITEM_FIELDS:
            flat[f"items.{index}.{key}"] = (item or {}).get(key)
    return flat


def counts(predicted: dict[str, Any], truth: dict[str, Any]) -> tuple[int, int, int]:
    """(TP, FP, FN) of one thread."""
    truth_flat = flatten(truth)
    predicted_flat = flatten(predicted, truth.get("items") or [])
    tp = fp = fn = 0
    for field in sorted(set(truth_flat) | set(predicted_flat)):
        p, t = predicted_flat.get(field), truth_flat.get(field)
        if p is None and t is None:
            continue
        if p is not None and t is not None and _equal(field, p, t):
            tp += 1
        elif p is not None:
            fp += 1
        else:
            fn += 1
    return tp, fp, fn


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp or fp or fn else 1.0


def mismatches(predicted: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """Human-readable differences, for assertion messages."""
    truth_flat = flatten(truth)
    predicted_flat = flatten(predicted, truth.get("items") or [])
    out = []
    for field in sorted(set(truth_flat) | set(predicted_flat)):
        p, t = predicted_flat.get(field), truth_flat.get(field)
        if (p is None and t is None) or (p is not None and t is not None and _equal(field, p, t)):
            continue
        out.append(f"{field}: predicted {p!r}, expected {t!r}")
    return out
