"""Unit tests of the generalisation work: fuzzy products, forwarded offers, VAT status, Incoterm place, parsers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.extract.rules import RulesEngine, dates, terms
from services.extract.rules.items import colon_line_product, is_product_name, similar_names
from services.extract.rules.money import find_money
from services.extract.rules.parties import clean_company
from shared.events import NormalizedMessage, NormalizedThread

ENGINE = RulesEngine()


def _message(
    index: int, text: str, role: str, name: str, email: str, forwarded: list[NormalizedMessage] | None = None
) -> NormalizedMessage:
    return NormalizedMessage(
        message_id=f"m{index}@test",
        sender_name=name,
        sender_email=email,
        role=role,  # type: ignore[arg-type]
        date=datetime(2026, 3, 2, 9, index, tzinfo=UTC),
        text=text,
        forwarded=forwarded or [],
        content_hash=f"h{index}",
    )


# --------------------------------------------------------------------------- fuzzy product matching


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("fleece jackets", "FJ-220 fleece jacket"),
        ("DN50 gaskets", "Flange gasket DN50 PN16"),
        ("borosilicate beakers 600 ml", "600 ml borosilicate beaker"),
        ("피펫 팁 1000µL", "피펫 팁 1000uL"),
        ("에스프레소 그라인더", "그라인더 EG-64"),
        ("설치할 전자칠판", "전자칠판 SB-75"),
        ("6308-2RS 베어링", "Deep groove ball bearing 6308-2RS"),
        ("bath towels 27x54", "Bath towel 27x54"),
        ("tables", "Harrow 180 oak dining table"),
    ],
)
def test_rewordings_stay_one_product(a: str, b: str) -> None:
    assert similar_names(a, b) and similar_names(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Flange gasket DN50 PN16", "Flange gasket DN80 PN16"),
        ('Hydraulic hose 1/2" 2SN', 'Hydraulic hose 3/4" 2SN'),
        ("Carry idler 152mm", "Return idler 152mm"),
        ("Bath towel 27x54", "Hand towel 16x30"),
        ("Harrow side chair", "Harrow 180 oak dining table"),
        ("Cordless drill ND-18", "Impact driver ND-20"),
    ],
)
def test_different_products_stay_apart(a: str, b: str) -> None:
    assert not similar_names(a, b)


@pytest.mark.parametrize(
    "phrase",
    [
        *("kg", "ml", "dozen", "April", "best", "confirmed", "당사는", "품목"),
        *("VAT 포함", "CIF 로테르담", "1,000-4,999 pcs"),
    ],
)
def test_units_months_labels_and_terms_are_not_products(phrase: str) -> None:
    assert not is_product_name(phrase)


def test_name_before_a_colon_and_a_price_is_a_product() -> None:
    mention = colon_line_product("Harrow side chair: £185.00 per unit")
    assert mention is not None and mention.name == "Harrow side chair"
    korean = colon_line_product("■ 세탁세제 2L : 7,500원")
    assert korean is not None and korean.name == "세탁세제 2L"
    assert colon_line_product("Lead time: 25 days") is None


def test_reworded_product_is_one_item_named_from_the_offer_line() -> None:
    thread = NormalizedThread(
        thread_id="t",
        messages=[
            _message(0, "Hi Leo, we'd like pricing for 1,200 fleece jackets, FOB Ningbo.", "buyer", "Sarah", "s@b.ca"),
            _message(1, "FJ-220 fleece jacket: USD 14.60/pc FOB Ningbo.\nMOQ 600 pcs.", "supplier", "Leo", "l@s.cn"),
            _message(2, "For 1,200 pcs of the fleece jackets we can do USD 14.20/pc.", "supplier", "Leo", "l@s.cn"),
        ],
    )
    facts = ENGINE.extract_sync(thread).facts
    assert len(facts.items) == 1
    item = facts.items[0]
    assert (item.product, item.quantity, item.unit_price, item.currency) == ("FJ-220 fleece jacket", 1200, 14.2, "USD")


# --------------------------------------------------------------------------- forwarded offers


def test_forwarded_offer_counts_as_the_original_senders() -> None:
    offer = _message(
        1,
        "Hi Greg,\n\nOur quotation:\n- Carry idler 152mm: 240 units @ AUD 86.00\n"
        "- Return idler 152mm: 120 units @ AUD 64.50\n\nLead time 8 weeks, EXW Brisbane. Payment Net 45.",
        "unknown",
        "Ravi Patel",
        "ravi.patel@conveyortech.com",
    )
    forward = _message(
        2, "Hannah, see the quote below. OK to proceed?", "buyer", "Greg Walsh", "greg@apex.com.au", [offer]
    )
    approval = _message(3, "OK, go ahead.", "buyer", "Hannah Cole", "hannah@apex.com.au")
    result = ENGINE.extract_sync(NormalizedThread(thread_id="t", messages=[forward, approval]))
    facts = result.facts
    assert facts.supplier is not None and facts.supplier.email == "ravi.patel@conveyortech.com"
    assert facts.buyer is not None and facts.buyer.email == "greg@apex.com.au"
    assert [(i.product, i.quantity, i.unit_price) for i in facts.items] == [
        ("Carry idler 152mm", 240, 86),
        ("Return idler 152mm", 120, 64.5),
    ]
    assert (facts.incoterm, result.incoterm_place, facts.payment_terms) == ("EXW", "Brisbane", "Net 45")
    assert facts.delivery_lead_time_days == 56
    assert any(e.field == "items.0.unit_price" and e.message_id == "m1@test" for e in result.evidence)


# --------------------------------------------------------------------------- VAT status and Incoterm place


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("단가 48,000원 (부가세 별도)", "excluded"),
        ("VAT 포함 가격입니다", "included"),
        ("내국신용장 거래로 영세율 적용됩니다", "exempt"),
        ("농산물이라 면세입니다", "exempt"),
        ("Prices CIF Genoa, excl. VAT.", "excluded"),
        ("£760.50 per table, incl. VAT", "included"),
        ("This export sale is VAT exempt", "exempt"),
        ("Delivery in 3 weeks", None),
    ],
)
def test_vat_status(text: str, status: str | None) -> None:
    found = terms.find_vat(text)
    assert (found.value if found else None) == status


@pytest.mark.parametrize(
    ("text", "code", "place"),
    [
        ("USD 21.80 per piece, FOB Busan.", "FOB", "Busan"),
        ("CIF 로테르담 조건으로 견적 부탁드립니다", "CIF", "로테르담"),
        ("인도조건은 FOB 부산항입니다.", "FOB", "부산항"),
        ("EUR 0.118 per piece, FCA Frankfurt Airport.", "FCA", "Frankfurt Airport"),
        ("Please send your best quotation CFR Jebel Ali.", "CFR", "Jebel Ali"),
        ("Prices are EXW, Incoterms 2020.", "EXW", None),
        ("DDP basis please", "DDP", None),
    ],
)
def test_incoterm_place(text: str, code: str, place: str | None) -> None:
    found = terms.find_incoterm_and_place(text)
    assert found is not None
    assert found[0].value == code
    assert (found[1].value if found[1] else None) == place
    if found[1] is not None:
        assert text[found[1].start : found[1].end] == place


def test_vat_and_place_resolve_as_terms_with_evidence() -> None:
    thread = NormalizedThread(
        thread_id="t",
        messages=[
            _message(0, "Please quote 36 pcs CFR Jebel Ali, prices incl. VAT.", "buyer", "Omar", "o@gulf.ae"),
            _message(1, "Butterfly valve BV-200X: USD 410.00/pc CFR Dubai, excl. VAT.", "supplier", "Chris", "c@v.uk"),
        ],
    )
    result = ENGINE.extract_sync(thread)
    assert (result.vat_status, result.incoterm_place) == ("excluded", "Dubai")
    evidence = {e.field: e.text for e in result.evidence}
    assert evidence["vat_status"] == "excl. VAT" and evidence["incoterm_place"] == "Dubai"


# --------------------------------------------------------------------------- parsers made more general


def test_a_leading_zero_decimal_is_not_a_thousands_group() -> None:
    assert [m.value for m in find_money("EUR 0.118 per piece")] == [0.118]
    assert [m.value for m in find_money("4.850 EUR")] == [4850]


def test_a_day_of_a_month_or_a_payment_period_is_not_a_lead_time() -> None:
    assert dates.find_lead_time("납품기한: 2026년 5월 29일") is None
    assert dates.find_lead_time("납품 완료 후 30일 이내 현금 결제") is None
    found = dates.find_lead_time("100W floodlight: AUD 38.50 ea. 3 wks from PO.")
    assert found is not None and found.value == 21
    assert dates.find_delivery_date("3월 27일까지 물류센터에 도착", datetime(2026, 3, 16, tzinfo=UTC)) is not None


@pytest.mark.parametrize(
    ("text", "terms_text"),
    [
        ("Terms Net 30 EOM, freight by truck.", "Net 30 EOM"),
        ("Payment: D/P at sight.", "D/P at sight"),
        ("결제: 60일 어음", "60일 어음"),
        ("바. 대금 지급: 검수 완료 후 일시불", "검수 완료 후 일시불"),
        ("EUR 3.10 and payment Net 30 and we have a deal.", "Net 30"),
        ("결제: Local L/C at sight", "Local L/C at sight"),
    ],
)
def test_payment_terms_in_more_styles(text: str, terms_text: str) -> None:
    found = terms.find_payment_terms(text)
    assert found is not None and found.value == terms_text


@pytest.mark.parametrize(
    ("raw", "company"),
    [
        ("서울플랜트(주) 구매팀 대리 최민재", "서울플랜트(주)"),
        ("대성철강(주) 영업1팀", "대성철강(주)"),
        ("Events Lead, Oakleaf Studio", "Oakleaf Studio"),
        ("Evergreen Textile Co., Ltd.", "Evergreen Textile Co., Ltd."),
        ("(주)메디플러스", "(주)메디플러스"),
    ],
)
def test_company_without_title_department_or_person(raw: str, company: str) -> None:
    assert clean_company(raw) == company


@pytest.mark.parametrize(
    ("offer", "discount", "net"),
    [
        ("FJ-220 fleece jacket: USD 14.60/pc FOB Ningbo.", "For 1,200 pcs we can take USD 0.60 off per piece.", 14.0),
        ("진료용 의자 MC-300 정가는 대당 ₩1,850,000입니다.", "3대 구매 시 대당 ₩50,000 할인해 드립니다.", 1_800_000),
    ],
)
def test_discount_stated_as_an_amount_lowers_the_price(offer: str, discount: str, net: float) -> None:
    thread = NormalizedThread(
        thread_id="t",
        messages=[
            _message(0, offer, "supplier", "Leo", "leo@supplier.cn"),
            _message(1, "Anything you can do on the price?", "buyer", "Sarah", "sarah@buyer.ca"),
            _message(2, discount, "supplier", "Leo", "leo@supplier.cn"),
        ],
    )
    facts = ENGINE.extract_sync(thread).facts
    assert len(facts.items) == 1
    assert facts.items[0].unit_price == net and facts.items[0].discount_percent is None
