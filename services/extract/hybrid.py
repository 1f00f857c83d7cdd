"""The hybrid engine: the rules engine's facts, completed by grounded LLM values, with every disagreement shown.

The rules engine is precise where it reads a value and silent where the mail is written
in a way it has no rule for; a small LLM reads more but invents. Together:

- a value the rules engine found stays, and is credited to ``rules``;
- a value the rules engine left null is filled from the LLM, but only when grounding kept it
  (the value is stated in the thread, not only in text that addresses the model), credited to ``llm``;
- where both found a value and they differ, the value with the stronger evidence stays (the higher
  confidence, see below), the other is named in a ``disagreement:`` warning, and the thread needs review;
- an LLM party fills a party's gaps only when it is the same person (same e-mail, or no e-mail
  on either side that points at the other party), so the model cannot swap buyer and supplier;
- items: the rules engine's list is the list; aligned LLM items fill their gaps; items only the
  LLM found are used when the rules engine found none, else named in a warning for review;
- the summary and tags come from the LLM when it wrote a summary whose numbers are all stated
  in the thread, else from the rules engine.

If the LLM is unavailable, the result is the rules engine's (its fallback warning says why).

Why the stronger evidence and not a fixed winner: the rules engine is right where it read a value
after a label or in a table (confidence 0.9) and on a sentence several messages agree on, but
weak where it computed or guessed a value (a currency voted from amounts, a price with a
discount it applied itself: about 0.5); the LLM's value, when grounding found it stated in the
thread, is a fair reading of the text but may sit on the wrong field or item
(:data:`LLM_GROUNDED_SCORE`, below a rules sentence reading and above a rules guess), and one
grounding could not place is weaker still (:data:`LLM_UNGROUNDED_SCORE`). A rules value without
a confidence (an engine that does not score) keeps the old rule: the rules value stays. Agreeing
engines keep the rules' confidence: the LLM read the same text, it is no independent witness.
"""

from __future__ import annotations

from typing import Any

from services.extract.engine import Extraction, ExtractionEngine, Source, present, sources_of
from services.extract.llm.grounding import squash
from services.extract.llm.numbers import same_number
from shared.events import ITEM_FIELDS, PARTY_FIELDS, SCALAR_FIELDS, FactConfidence, KeyFacts, NormalizedThread

LLM_GROUNDED_SCORE = 0.65
"""Confidence of an LLM value grounding found stated in the thread (a rules sentence reading is 0.7)."""
LLM_UNGROUNDED_SCORE = 0.45
"""Confidence of an LLM value kept without an evidence span of its own."""


def llm_confidence(llm_result: Extraction, path: str) -> FactConfidence:
    """How sure the LLM's value at ``path`` is: grounded in a span of the thread, or not."""
    grounded = any(e.field == path for e in llm_result.evidence)
    return FactConfidence(
        source="sentence" if grounded else "inferred",
        score=LLM_GROUNDED_SCORE if grounded else LLM_UNGROUNDED_SCORE,
        messages_agreeing=1 if grounded else 0,
        engine="llm",
    )


class HybridEngine:
    """ExtractionEngine that runs the rules engine and the LLM engine on each thread and merges them."""

    name = "hybrid"

    def __init__(self, rules: ExtractionEngine, llm: ExtractionEngine) -> None:
        self.rules = rules
        self.llm = llm

    async def extract(self, thread: NormalizedThread) -> Extraction:
        rules_result = await self.rules.extract(thread)
        llm_result = await self.llm.extract(thread)
        if llm_result.engine != "llm":  # the LLM engine fell back to rules: nothing to merge
            llm_result.value_sources = sources_of(llm_result.facts, "rules")
            return llm_result
        return merge(rules_result, llm_result)

    async def check_adapter(self) -> str | None:
        check = getattr(self.llm, "check_adapter", None)
        return await check() if check is not None else None

    async def close(self) -> None:
        close = getattr(self.llm, "close", None)
        if close is not None:
            await close()


def _same_value(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return bool(left) == bool(right)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return same_number(float(left), float(right))
    return squash(str(left)) == squash(str(right))


def _same_party(rules: dict[str, Any], llm: dict[str, Any], other_rules: dict[str, Any]) -> bool:
    """Whether the LLM's party is the rules engine's party (not the other side under this side's name)."""
    rules_email, llm_email = squash(rules.get("email") or ""), squash(llm.get("email") or "")
    if rules_email and llm_email:
        return rules_email == llm_email
    other_email = squash(other_rules.get("email") or "")
    return not (llm_email and llm_email == other_email)


def _pair_items(rules: list[dict[str, Any]], llm: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(rules index, llm index) pairs: same product name first, then the remaining ones by position."""
    pairs: list[tuple[int, int]] = []
    used_llm: set[int] = set()
    for r_index, item in enumerate(rules):
        name = squash(item.get("product") or "")
        match = next(
            (
                j
                for j, other in enumerate(llm)
                if j not in used_llm and name and squash(other.get("product") or "") == name
            ),
            None,
        )
        if match is not None:
            pairs.append((r_index, match))
            used_llm.add(match)
    paired_rules = {r for r, _ in pairs}
    free_llm = [j for j in range(len(llm)) if j not in used_llm]
    for r_index in range(len(rules)):
        if r_index not in paired_rules and free_llm:
            pairs.append((r_index, free_llm.pop(0)))
    return sorted(pairs)


def merge(rules_result: Extraction, llm_result: Extraction) -> Extraction:
    """The rules facts with their gaps filled by grounded LLM values; see the module docstring."""
    rules = rules_result.facts.model_dump(mode="json")
    llm = llm_result.facts.model_dump(mode="json")
    sources: dict[str, Source] = sources_of(rules_result.facts, "rules")
    rules_confidence = rules_result.confidence or {}
    confidence: dict[str, FactConfidence] = dict(rules_confidence)
    warnings = list(llm_result.warnings)  # grounding drops and the LLM engine's own disagreement warnings
    disagreements = [w for w in warnings if w.startswith("disagreement:")]
    known = set(disagreements)

    def differ(path: str, ours: Any, theirs: Any) -> None:
        message = f"disagreement: {path} llm={theirs!r} rules={ours!r}"
        if not any(w.startswith(f"disagreement: {path} ") for w in known):
            warnings.append(message)
            known.add(message)
        disagreements.append(message)

    def fill(target: dict[str, Any], source: dict[str, Any], name: str, path: str, llm_path: str | None = None) -> None:
        ours, theirs = target.get(name), source.get(name)
        if not present(theirs):
            return
        theirs_confidence = llm_confidence(llm_result, llm_path or path)
        if not present(ours):
            target[name] = theirs
            sources[path] = "llm"
            confidence[path] = theirs_confidence
        elif not _same_value(ours, theirs):
            differ(path, ours, theirs)
            ours_confidence = rules_confidence.get(path)
            if ours_confidence is not None and theirs_confidence.score > ours_confidence.score:
                target[name] = theirs
                sources[path] = "llm"
                confidence[path] = theirs_confidence
                warnings.append(
                    f"hybrid: {path} from the llm, its evidence is stronger "
                    f"({theirs_confidence.score:.2f} > {ours_confidence.score:.2f}, rules {ours_confidence.source})"
                )

    for name in SCALAR_FIELDS:
        fill(rules, llm, name, name)
    for side, other in (("buyer", "supplier"), ("supplier", "buyer")):
        ours, theirs = rules.get(side) or {}, llm.get(side) or {}
        if theirs and _same_party(ours, theirs, rules.get(other) or {}):
            for name in PARTY_FIELDS:
                fill(ours, theirs, name, f"{side}.{name}")
            rules[side] = ours
        elif any(present(v) for v in theirs.values()):
            warnings.append(f"hybrid: the llm's {side} ({theirs.get('email') or theirs.get('name')}) is another party")
    rules_items, llm_items = rules["items"], llm["items"]
    if not rules_items and llm_items:
        rules["items"] = llm_items
        for index, item in enumerate(llm_items):
            for name in ITEM_FIELDS:
                if present(item.get(name)):
                    sources[f"items.{index}.{name}"] = "llm"
                    confidence[f"items.{index}.{name}"] = llm_confidence(llm_result, f"items.{index}.{name}")
    else:
        pairs = _pair_items(rules_items, llm_items)
        for r_index, l_index in pairs:
            for name in ITEM_FIELDS:
                fill(
                    rules_items[r_index], llm_items[l_index], name, f"items.{r_index}.{name}", f"items.{l_index}.{name}"
                )
        unpaired = [llm_items[j].get("product") for j in range(len(llm_items)) if j not in {j for _, j in pairs}]
        if unpaired:
            warnings.append(f"hybrid: the llm found items the rules engine did not: {unpaired!r}")
            disagreements.append("items")

    filled = {path for path, source in sources.items() if source == "llm"}
    evidence = [e for e in rules_result.evidence if sources.get(e.field) == "rules"]
    evidence += [e for e in llm_result.evidence if e.field in filled]
    summary_ok = bool(llm_result.summary.strip()) and not any(
        w.startswith("grounding: the summary mentions") for w in llm_result.warnings
    )
    return Extraction(
        facts=KeyFacts.model_validate(rules),
        vat_status=rules_result.vat_status,
        incoterm_place=rules_result.incoterm_place,
        summary=llm_result.summary if summary_ok else rules_result.summary,
        tags=(llm_result.tags or rules_result.tags) if summary_ok else rules_result.tags,
        evidence=evidence,
        warnings=[*rules_result.warnings, *warnings],
        needs_review=bool(rules_result.needs_review or llm_result.needs_review or disagreements),
        engine="hybrid",
        model=llm_result.model,
        adapter_id=llm_result.adapter_id,
        value_sources=sources,
        confidence=confidence,
    )
