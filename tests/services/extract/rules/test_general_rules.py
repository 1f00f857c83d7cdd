"""General rules from the generalisation work (issue 16), each on the smallest text that shows it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.extract.llm.grounding import ThreadText, _supports
from services.extract.rules import RulesEngine, terms
from services.extract.rules.items import ProductMention, is_product_name, tidy_product
from services.extract.rules.money import find_currencies, find_money
from services.extract.rules.numbers import parse_number
from shared.events import NormalizedMessage, NormalizedThread

ENGINE = RulesEngine()


def _thread(*texts: tuple[str, str]) -> NormalizedThread:
    senders = {"buyer": ("Mina Park", "mina@buyer-co.com"), "supplier": ("Tom Reed", "tom@valve-works.com")}
    messages = [
        NormalizedMessage(
            message_id=f"m{i}@test",
            sender_name=senders[role][0],
            sender_email=senders[role][1],
            role=role,  # type: ignore[arg-type]
            date=datetime(2026, 1, i + 1, tzinfo=UTC),
            text=text,
            content_hash=f"h{i}",
        )
        for i, (role, text) in enumerate(texts)
    ]
    return NormalizedThread(thread_id="t", subject="RFQ", messages=messages)


def test_a_correction_replaces_the_value_it_names_on_the_line_it_refers_to() -> None:
    thread = _thread(
        ("buyer", "Hello,\nPlease quote the items below.\n"),
        (
            "supplier",
            "Hi Mina,\n1. Ball valve BV-50: 100 pcs, USD 12.00\n2. Gate valve GV-80: 40 pcs, USD 30.00\n",
        ),
        ("supplier", "Hi Mina,\nSorry, a typo: line 2 unit price should read USD 33.00, not USD 30.00.\n"),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert [(i.quantity, i.unit_price) for i in items] == [(100, 12), (40, 33)]


@pytest.mark.parametrize(
    ("text", "value"), [("예산은 2.5억이고", 250_000_000), ("1.2억입니다", 120_000_000), ("3만5천원", 35_000)]
)
def test_korean_magnitudes_without_a_currency_are_won(text: str, value: float) -> None:
    assert [(m.value, m.currency) for m in find_money(text)] == [(value, "KRW")]


@pytest.mark.parametrize("text", ["10만 개", "월 1만 대 생산", "3억억 원", "1만장당"])
def test_a_magnitude_with_a_counter_is_no_amount(text: str) -> None:
    assert find_money(text) == []


def test_swiss_and_european_numbers() -> None:
    assert parse_number("12'480.00") == 12480
    assert [f.value for f in terms.find_discounts("we grant 7,5 % Rabatt on the pumps")] == ["7.5"]


@pytest.mark.parametrize(
    ("written", "name"),
    [
        ("Description: Carbon block cartridge CTO-20", "Carbon block cartridge CTO-20"),
        ("볼스크류 BSR-2010 (리드 10, C5 등급", "볼스크류 BSR-2010"),
        ("Digital gauge DPG-1600 (range 30mm)", "Digital gauge DPG-1600"),
        ("2   Stamped bracket SE-4410-B", "Stamped bracket SE-4410-B"),
    ],
)
def test_names_lose_labels_remarks_and_line_numbers(written: str, name: str) -> None:
    tidied = tidy_product(ProductMention(written, 10, 10 + len(written)))
    assert tidied is not None and tidied.name == name
    assert written[tidied.start - 10 : tidied.end - 10] == name


@pytest.mark.parametrize("phrase", ["300개 이상", "5톤급", "20ft FCL", "bottles/h", "사장님", "롤당", "mm range"])
def test_bands_containers_rates_and_people_are_no_products(phrase: str) -> None:
    mention = tidy_product(ProductMention(phrase, 0, len(phrase)))
    assert mention is None or not is_product_name(mention.name)


@pytest.mark.parametrize(
    ("clause", "terms_found"),
    [
        ("결제: 계약금 30%, 잔금 70% 설치 완료 후", "계약금 30%, 잔금 70% 설치 완료 후"),
        ("세금계산서 발행 후 30일 현금 결제입니다", "세금계산서 발행 후 30일 현금"),
        ("결제는 선입금(계좌이체)만 가능합니다", "선입금(계좌이체)"),
    ],
)
def test_korean_payment_phrases(clause: str, terms_found: str) -> None:
    found = terms.find_payment_terms(clause)
    assert found is not None and found.value == terms_found


def test_a_revised_quotation_drops_the_line_it_leaves_out() -> None:
    thread = _thread(
        ("buyer", "Hello,\nPlease quote pumps, tubing and a calibration kit.\n"),
        (
            "supplier",
            "Hi Mina,\nDosing pump HP-400 - 2 pcs - CHF 12'480.00\nTubing set TS-400 - 4 sets - CHF 380.00\n"
            "Calibration kit CK-4 - 1 pc - CHF 1'150.00\n",
        ),
        ("supplier", "Hi Mina,\nDosing pump HP-400 - 2 pcs - CHF 11'900.00\nTubing set TS-400 - 4 sets - CHF 380.00\n"),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert [(i.product, i.unit_price) for i in items] == [("Dosing pump HP-400", 11900), ("Tubing set TS-400", 380)]


def test_an_apology_accepts_nothing() -> None:
    assert not terms.ACCEPT.search("Please accept our apologies for the error.")


@pytest.mark.parametrize(
    ("text", "code", "found"),
    [
        ("Price US$ 5.20 per pc", "USD", ["US$"]),
        ("개당 5,000원, 통화: won", "KRW", ["원", "won"]),
        ("a wonderful offer", "KRW", []),
        ("4.850,00 EUR or €4,850", "EUR", ["EUR", "€"]),
        ("A$ 3 a kit", "AUD", ["A$"]),
        ("5 달러", "USD", ["달러"]),
    ],
)
def test_the_currency_pattern_is_written_once_for_rules_and_grounding(text: str, code: str, found: list[str]) -> None:
    assert [text[a:b] for a, b in find_currencies(text, code)] == found
    supports = _supports(ThreadText(_thread(("supplier", text))), "currency", code) or []
    assert [s.source.text[s.start : s.end] for s in supports] == found[:1]


@pytest.mark.parametrize(
    ("reply", "discounts"),
    [
        ("Jessica, I can do 3% on the gloves. Kits stay as quoted.", [3, None]),
        ("We can grant 7,5 % Rabatt on the kits. Gloves unchanged.", [None, 7.5]),
        ("5% off line 2, the rest as quoted.", [None, 5]),
        ("We can give 4% off the whole order.", [4, 4]),
    ],
)
def test_a_discount_applies_to_the_lines_it_names(reply: str, discounts: list[float | None]) -> None:
    thread = _thread(
        ("buyer", "Hello,\nPlease quote 200 boxes of nitrile gloves and 15 composite kits CK-7.\n"),
        (
            "supplier",
            "Hi Mina,\nNitrile exam gloves M - 200 boxes - USD 6.20\nComposite kit CK-7 - 15 kits - USD 139.00\n",
        ),
        ("supplier", f"Hi Mina,\n{reply}\n"),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert [i.discount_percent for i in items] == discounts


def test_a_discount_on_the_tool_is_on_the_die() -> None:
    thread = _thread(
        ("buyer", "Hello,\nPlease quote the progressive die and 50,000 stamped brackets SB-10.\n"),
        (
            "supplier",
            "Hi Mina,\nProgressive die PD-10 - 1 set - EUR 38,750.00\nStamped bracket SB-10 - 50,000 pcs - EUR 0.186\n",
        ),
        ("supplier", "Hi Mina,\nwe can grant a discount of 12.5 % on the tool.\n"),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert sorted((i.unit_price, i.discount_percent) for i in items) == [(0.186, None), (33906.25, 12.5)]


def test_a_korean_discount_names_its_line_with_man() -> None:
    thread = _thread(
        ("buyer", "안녕하세요,\n초경 엔드밀 D10 50EA, 초경 드릴 D6.8 40EA 견적 부탁드립니다.\n"),
        ("supplier", "안녕하세요,\n초경 엔드밀 D10 - 50EA - 23,400원\n초경 드릴 D6.8 - 40EA - 18,700원\n"),
        ("supplier", "주임님, 엔드밀만 5% 할인 적용해서 드리겠습니다. 드릴은 기존 단가입니다.\n"),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert [i.discount_percent for i in items] == [5, None]


@pytest.mark.parametrize(
    ("choice", "chosen"),
    [
        ("We've decided on Option B. Please confirm.", ("Automatic filler NF-4H", 46900)),
        ("Option A works for us.", ("Semi-automatic filler NF-200", 18400)),
    ],
)
def test_only_the_option_the_buyer_chooses_is_a_line(choice: str, chosen: tuple[str, float]) -> None:
    thread = _thread(
        ("buyer", "Hello,\nPlease quote a filling machine for our sauces. Send all solutions you have.\n"),
        (
            "supplier",
            "Hi Mina,\nOption A - Semi-automatic filler NF-200, 1 unit: AUD 18,400\n"
            "Option B - Automatic filler NF-4H, 1 unit: AUD 46,900\n",
        ),
        ("buyer", f"Hi Tom,\n{choice}\n"),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert [(i.product, i.unit_price) for i in items] == [chosen]


def test_options_stay_lines_until_the_buyer_chooses() -> None:
    thread = _thread(
        ("buyer", "Hello,\nPlease quote a filling machine.\n"),
        (
            "supplier",
            "Hi Mina,\nOption A - Semi-automatic filler NF-200, 1 unit: AUD 18,400\n"
            "Option B - Automatic filler NF-4H, 1 unit: AUD 46,900\n",
        ),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert {i.unit_price for i in items} >= {18400, 46900}


def test_a_generic_request_is_the_model_the_supplier_offers_for_it() -> None:
    thread = _thread(
        ("buyer", "안녕하세요,\n견적 요청드립니다.\n- CO2 용접기 500A급 20대\n- CO2 용접기 350A급 10대\n"),
        (
            "supplier",
            "견적 드립니다.\nCO2 용접기 DW-500K - 20대 - 385만원\nCO2 용접기 DW-350K - 10대 - 268만원\n",
        ),
    )
    items = ENGINE.extract_sync(thread).facts.items
    assert [(i.product, i.quantity, i.unit_price) for i in items] == [
        ("CO2 용접기 DW-500K", 20, 3850000),
        ("CO2 용접기 DW-350K", 10, 2680000),
    ]
