"""VAT status and Incoterm place read from the extraction's quoted text."""

from __future__ import annotations

import pytest

from services.quote.terms import detect_incoterm_place, detect_vat_mode, thread_terms
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
