"""VAT status and Incoterm place read from the extraction's quoted text."""

from __future__ import annotations

import pytest

from services.quote.terms import clean_place, detect_incoterm_place, detect_vat_mode, thread_terms
from shared.events import Evidence, FactsExtracted, KeyFacts


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("단가는 부가세 별도입니다.", "excluded"),
        ("VAT 별도", "excluded"),
        ("부가세 미포함 가격입니다", "excluded"),
        ("Prices are excluding VAT.", "excluded"),
        ("USD 20 plus VAT", "excluded"),
        ("부가세 포함 9,500원", "included"),
        ("price incl. VAT", "included"),
        ("VAT included", "included"),
        ("면세 품목입니다", "exempt"),
        ("zero-rated export", "exempt"),
        ("부가세 포함 여부를 알려주세요", None),
        ("nothing about tax", None),
    ],
)
def test_vat_mode(text: str, mode: str | None) -> None:
    assert detect_vat_mode([text]) == (mode, False)


def test_contradicting_vat_statements_are_a_conflict() -> None:
    assert detect_vat_mode(["부가세 별도", "부가세 포함"]) == (None, True)


@pytest.mark.parametrize(
    ("text", "code", "place"),
    [
        ("USD 21.80 per piece, FOB Busan. Lead time is 4 weeks", "FOB", "Busan"),
        ("FOB Busan port, Korea", "FOB", "Busan"),
        ("CIF (Rotterdam)", "CIF", "Rotterdam"),
        ("DAP Chicago Warehouse", "DAP", "Chicago Warehouse"),
        ("FOB 부산항 기준", "FOB", "부산항"),
        ("FOB price is fine", "FOB", None),
        ("CIF Rotterdam", "FOB", None),
    ],
)
def test_incoterm_place(text: str, code: str, place: str | None) -> None:
    assert detect_incoterm_place([text], code) == place


def test_thread_terms_reads_evidence_and_summary() -> None:
    event = FactsExtracted(
        thread_id="t",
        facts=KeyFacts(incoterm="FOB"),
        summary="Supplier quoted 부가세 별도.",
        evidence=[Evidence(field="incoterm", message_id="m", start=0, end=9, text="FOB Busan")],
    )
    terms = thread_terms(event)
    assert (terms.vat_mode, terms.vat_conflict, terms.incoterm_place) == ("excluded", False, "Busan")
    assert thread_terms(FactsExtracted(thread_id="t", facts=KeyFacts())).incoterm_place is None


def test_the_extractions_vat_status_wins_over_quoted_text() -> None:
    """The extractor read the whole thread: its vat_status settles even contradicting mentions."""
    event = FactsExtracted(
        thread_id="t", facts=KeyFacts(), summary="부가세 별도", warnings=["부가세 포함 언급"], vat_status="included"
    )
    terms = thread_terms(event)
    assert (terms.vat_mode, terms.vat_conflict, terms.vat_source) == ("included", False, "extraction")
    from_text = thread_terms(event.model_copy(update={"vat_status": None, "warnings": []}))
    assert (from_text.vat_mode, from_text.vat_source) == ("excluded", "text")
    assert thread_terms(FactsExtracted(thread_id="t", facts=KeyFacts())).vat_source is None


def test_the_extractions_incoterm_place_wins_over_quoted_text() -> None:
    event = FactsExtracted(
        thread_id="t",
        facts=KeyFacts(incoterm="DAP"),
        evidence=[Evidence(field="incoterm", message_id="m", start=0, end=20, text="DAP 조건으로 화성 공장까지")],
        incoterm_place=" 화성\n 공장 ",
    )
    terms = thread_terms(event)
    assert (terms.incoterm_place, terms.place_source) == ("화성 공장", "extraction")
    guessed = thread_terms(event.model_copy(update={"incoterm_place": "  "}))
    assert guessed.place_source == "text"  # an empty place from the extractor is no place


def test_a_place_without_an_incoterm_is_not_shown() -> None:
    terms = thread_terms(FactsExtracted(thread_id="t", facts=KeyFacts(), incoterm_place="Busan"))
    assert (terms.incoterm_place, terms.place_source) == (None, None)


def test_clean_place() -> None:
    assert clean_place("Busan, ") == "Busan"
    assert clean_place(None) is None and clean_place(" ;. ") is None
    assert clean_place("x" * 200) == "x" * 80
