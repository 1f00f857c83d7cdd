"""VAT status and Incoterm place: what the extraction states, else what its quoted text says.

The SPEC key facts have no VAT status and no Incoterm place; ``FactsExtracted`` carries
them beside the facts (``vat_status``, ``incoterm_place``) when the extractor found them.
Those win. An older or less capable extractor leaves them empty, so this module still
looks for the statements ("부가세 별도", "FOB Busan") in the extraction's evidence spans,
summary and warnings — text the extractor took from the thread — and reports
conflicting statements instead of picking one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.events import FactsExtracted

_VAT_PATTERNS: dict[str, re.Pattern[str]] = {
    "included": re.compile(
        r"(?:부가세|부가가치세|VAT)\s*(?:포함|included|inclusive|incl\.?)(?!\s*여부)"
        r"|(?:including|incl\.?|inclusive\s+of)\s+VAT|tax\s+included",
        re.IGNORECASE,
    ),
    "excluded": re.compile(
        r"(?:부가세|부가가치세|VAT)\s*(?:별도|미포함|불포함|excluded|exclusive|extra|not\s+included)"
        r"|(?:excluding|excl\.?|exclusive\s+of|plus|\+)\s*VAT",
        re.IGNORECASE,
    ),
    "exempt": re.compile(r"면세|영세율|(?:VAT|tax)[\s-]*(?:exempt|free)|zero[\s-]*rated", re.IGNORECASE),
}

INCOTERM_PLACE = re.compile(
    r"\b(?P<code>EXW|FCA|FAS|FOB|CFR|CIF|CPT|CIP|DAP|DPU|DDP)\b[\s,:]*(?:\((?P<paren>[^()\n]{2,40})\)"
    r"|(?P<place>[A-Z가-힣][\w가-힣'-]*(?:[ \t]+[A-Z][\w'-]*){0,2}))"
)
_PLACE_STOPWORDS = {"INCOTERMS", "TERMS", "PRICE", "BASIS", "AND", "OR", "THE", "PER", "USD", "KRW", "EUR"}
_PLACE_TRAILING_WORDS = re.compile(r"(?:[ \t]+(?:port|Port|PORT|항|Incoterms?\s*2020|2020))+$")


MAX_PLACE_CHARS = 80

TermSource = Literal["extraction", "text"]


@dataclass(frozen=True)
class ThreadTerms:
    """What the thread says about VAT and the Incoterm place, and where each answer came from."""

    vat_mode: str | None = None
    vat_conflict: bool = False
    incoterm_place: str | None = None
    vat_source: TermSource | None = None
    place_source: TermSource | None = None


def _quoted_texts(event: FactsExtracted) -> list[str]:
    return [evidence.text for evidence in event.evidence] + [event.summary, *event.warnings]


def detect_vat_mode(texts: list[str]) -> tuple[str | None, bool]:
    """The VAT status stated in the texts, and whether they contradict each other."""
    found = {mode for text in texts for mode, pattern in _VAT_PATTERNS.items() if text and pattern.search(text)}
    if len(found) == 1:
        return found.pop(), False
    return None, len(found) > 1


def detect_incoterm_place(texts: list[str], incoterm: str | None) -> str | None:
    """The named place after the agreed Incoterm code, e.g. 'Busan' in 'FOB Busan'."""
    if incoterm is None:
        return None
    for text in texts:
        for match in INCOTERM_PLACE.finditer(text or ""):
            if match.group("code") != incoterm:
                continue
            place = (match.group("paren") or match.group("place") or "").strip(" .,;")
            place = _PLACE_TRAILING_WORDS.sub("", place).strip(" .,;")
            if place and place.upper() not in _PLACE_STOPWORDS and not place[0].isdigit():
                return place
    return None


def clean_place(place: str | None) -> str | None:
    """A named place fit for one line of the document: whitespace collapsed, bounded, never empty."""
    text = " ".join((place or "").split()).strip(" .,;")
    return text[:MAX_PLACE_CHARS].rstrip() or None


def thread_terms(event: FactsExtracted) -> ThreadTerms:
    """VAT status and Incoterm place: the extraction's own fields first, else its quoted text.

    A stated ``vat_status`` also settles contradicting mentions in the quoted text (the
    extractor saw the whole thread and chose). A place is only meaningful with an Incoterm.
    """
    texts = _quoted_texts(event)
    if event.vat_status is not None:
        vat_mode: str | None = event.vat_status
        conflict = False
        vat_source: TermSource | None = "extraction"
    else:
        vat_mode, conflict = detect_vat_mode(texts)
        vat_source = "text" if vat_mode else None
    place: str | None = None
    place_source: TermSource | None = None
    if event.facts.incoterm is not None:
        place = clean_place(event.incoterm_place)
        place_source = "extraction" if place else None
        if place is None:
            place = detect_incoterm_place(texts, event.facts.incoterm)
            place_source = "text" if place else None
    return ThreadTerms(
        vat_mode=vat_mode,
        vat_conflict=conflict,
        incoterm_place=place,
        vat_source=vat_source,
        place_source=place_source,
    )
