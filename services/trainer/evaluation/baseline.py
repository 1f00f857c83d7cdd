"""The baseline: key facts as a developer would assemble them from general-purpose libraries in an afternoon.

price-parser finds prices and currencies, quantulum3 quantities and units, dateparser dates, and a handful
of regular expressions the rest (MOQ, lead time, discount, Incoterm, payment terms, warranty, shipping,
budget, quote request). It reads the normalized thread (quotes already removed by ingest) and takes the
last value found for each fact, with no notion of who offered what or which counter-offer was rejected.
Every evaluation report shows it next to QuoteFlow's engines, so the margin is visible.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from services.extract.api import Extraction
from shared.events import INCOTERMS, KeyFacts, LineItem, NormalizedMessage, NormalizedThread, Party

CURRENCY_SYMBOLS = {
    "$": "USD", "US$": "USD", "USD": "USD", "달러": "USD", "₩": "KRW", "원": "KRW", "KRW": "KRW", "€": "EUR",
    "EUR": "EUR", "유로": "EUR", "¥": "JPY", "JPY": "JPY", "엔": "JPY", "RMB": "CNY", "CNY": "CNY", "위안": "CNY",
    "£": "GBP", "GBP": "GBP", "A$": "AUD", "AUD": "AUD",
}  # fmt: skip
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
MONEY = re.compile(
    rf"(?:US\$|A\$|[$₩€¥£]|USD|KRW|EUR|JPY|RMB|CNY|GBP|AUD)\s?(?:{_NUMBER})"
    rf"|(?:{_NUMBER})\s?(?:원|달러|유로|엔|위안|USD|KRW|EUR|JPY|CNY|GBP|AUD)"
)
ITEM_LINE = re.compile(rf"^\s*[-•*]\s*(.+?)\s*[:：]\s*({_NUMBER})\s*([^\s\d,.;]+)?", re.MULTILINE)
PERCENT_DISCOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*(?:할인|discount|off)", re.IGNORECASE)
MOQ = re.compile(rf"(?:MOQ|minimum order(?: quantity)?|최소 주문 수량)\D{{0,12}}({_NUMBER})", re.IGNORECASE)
LEAD = re.compile(rf"({_NUMBER})\s*(days?|weeks?|wks|일|주)\b", re.IGNORECASE)
INCOTERM = re.compile(r"\b(" + "|".join(INCOTERMS) + r")\b")
PAYMENT = re.compile(r"(?:payment(?: terms)?|결제 조건(?:은|:)?)\s*[:：]?\s*([^\n.]+)", re.IGNORECASE)
WARRANTY = re.compile(rf"(?:warranty|보증)[^\n\d]{{0,30}}({_NUMBER})\s*(years?|months?|년|개월)", re.IGNORECASE)
BUDGET = re.compile(r"(?:budget|예산)[^\n]{0,40}", re.IGNORECASE)
KOREAN_QUANTITY = re.compile(rf"({_NUMBER})\s?(개|대|장|세트|야드|롤|드럼|리터|병|박스|릴|톤)")
QUOTE = re.compile(r"quotation|\bquote\b|견적", re.IGNORECASE)
DATE_CANDIDATE = re.compile(
    r"\d{4}-\d{2}-\d{2}|\d{4}\.\d{2}\.\d{2}|\d{4}년 \d{1,2}월 \d{1,2}일|\d{1,2}월 \d{1,2}일"
    r"|(?:January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4}"
    r"|\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|November|December) \d{4}"
)
SHIPPING_WORDS = (
    ("air", ("air", "항공")), ("sea", ("sea", "해상", "선박")), ("express", ("express", "특급", "빠른 배송")),
    ("courier", ("courier", "택배", "dhl")), ("rail", ("rail", "철도")), ("truck", ("truck", "트럭", "화물차")),
    ("standard", ("standard", "일반 배송", "표준 배송")),
)  # fmt: skip


@lru_cache(maxsize=1)
def _libraries() -> tuple[Any, Any, Any]:
    """Imported once per process (quantulum3 and dateparser take seconds to load)."""
    import dateparser
    from price_parser import Price
    from quantulum3 import classifier
    from quantulum3 import parser as quantities

    # quantulum3's pickled scikit-learn disambiguation model does not load with the installed scikit-learn
    # ("No module named '_loss'"); its dictionary-based disambiguation is what remains.
    classifier.USE_CLF = False
    return Price, quantities, dateparser


def warm_up() -> None:
    """Load the libraries now (before forking workers, so each worker does not pay for it)."""
    _, quantities, dateparser = _libraries()
    quantities.parse("100 pcs")
    dateparser.parse("2026-01-01")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_money(text: str) -> tuple[float, str | None] | None:
    """price-parser's amount and our ISO code for its currency symbol."""
    price_class, _, _ = _libraries()
    price = price_class.fromstring(text)
    if price.amount_float is None:
        return None
    symbol = (price.currency or "").strip()
    code = CURRENCY_SYMBOLS.get(symbol) or next((c for s, c in CURRENCY_SYMBOLS.items() if s in text), None)
    return price.amount_float, code


def _party(messages: list[NormalizedMessage], role: str) -> Party | None:
    for message in messages:
        if message.role == role:
            return Party(name=message.sender_name, company=message.sender_company, email=message.sender_email)
    return None


def _first_quantity(text: str) -> tuple[float | None, str | None]:
    if korean := KOREAN_QUANTITY.search(text):  # quantulum3 reads English only
        return _number(korean.group(1)), korean.group(2)
    _, quantities, _ = _libraries()
    try:
        found = quantities.parse(text)
    except Exception:  # the library's own failure on odd text is "no quantity found"
        return None, None
    for quantity in found:
        if quantity.unit.name not in ("dimensionless", "week", "day", "month", "year", "percentage"):
            unit = quantity.surface.replace(str(quantity.surface.split(" ")[0]), "").strip() or quantity.unit.name
            return float(quantity.value), unit
    return None, None


class BaselineEngine:
    """Libraries + regexes, last value wins. Satisfies the ExtractionEngine protocol."""

    name = "baseline"

    async def extract(self, thread: NormalizedThread) -> Extraction:
        return self.extract_sync(thread)

    def extract_sync(self, thread: NormalizedThread) -> Extraction:
        messages = thread.messages
        texts = [m.text for m in messages]
        everything = "\n".join(texts)
        products: list[tuple[str, float, str | None]] = [
            (match.group(1).strip(), _number(match.group(2)), match.group(3)) for match in ITEM_LINE.finditer(texts[0])
        ] if texts else []  # fmt: skip
        if not products and texts:
            quantity, unit = _first_quantity(texts[0])
            products = [("", quantity, unit)] if quantity is not None else []
        prices = [found for found in (parse_money(m.group(0)) for m in MONEY.finditer(everything)) if found]
        currency = next((code for _, code in reversed(prices) if code), None)
        budget = None
        if budget_text := BUDGET.search(everything):
            money = MONEY.search(budget_text.group(0))
            if money and (parsed := parse_money(money.group(0))):
                budget = parsed[0]
        unit_price = prices[-1][0] if prices else None
        if unit_price is not None and budget is not None and unit_price == budget and len(prices) == 1:
            unit_price = None
        discount = None
        if found := list(PERCENT_DISCOUNT.finditer(everything)):
            discount = _number(found[-1].group(1))
        items = [
            LineItem(
                product=product or None,
                quantity=quantity,
                unit=unit,
                unit_price=unit_price if index == len(products) - 1 or len(products) == 1 else None,
                currency=currency if unit_price is not None else None,
                discount_percent=discount,
            )
            for index, (product, quantity, unit) in enumerate(products)
        ]
        lead = None
        if found := list(LEAD.finditer(everything)):
            value, unit_word = _number(found[-1].group(1)), found[-1].group(2).lower()
            lead = int(value * 7) if unit_word.startswith(("week", "wk", "주")) else int(value)
        moq = _number(m.group(1)) if (m := MOQ.search(everything)) else None
        incoterm = found_terms[-1] if (found_terms := INCOTERM.findall(everything)) else None
        payment = found_pay[-1].strip() if (found_pay := PAYMENT.findall(everything)) else None
        warranty = None
        if found := list(WARRANTY.finditer(everything)):
            value, unit_word = _number(found[-1].group(1)), found[-1].group(2).lower()
            warranty = int(value * 12) if unit_word.startswith(("year", "년")) else int(value)
        shipping = None
        lowered = everything.lower()
        for method, words in SHIPPING_WORDS:
            if any(word in lowered for word in words):
                shipping = method
                break
        delivery_date = None
        _, _, dateparser = _libraries()
        base = messages[-1].date.replace(tzinfo=None) if messages and messages[-1].date else datetime(2026, 1, 1)
        for candidate in DATE_CANDIDATE.findall(everything):
            parsed_date = dateparser.parse(candidate, languages=["en", "ko"], settings={"RELATIVE_BASE": base})
            if parsed_date:
                delivery_date = parsed_date.date().isoformat()
        facts = KeyFacts(
            buyer=_party(messages, "buyer"),
            supplier=_party(messages, "supplier"),
            currency=currency,
            items=items,
            moq=moq,
            delivery_lead_time_days=lead,
            delivery_date=delivery_date,
            shipping_method=shipping,  # type: ignore[arg-type]
            incoterm=incoterm,
            payment_terms=payment,
            warranty_months=warranty,
            budget=budget,
            quote_requested=bool(QUOTE.search(everything)),
        )
        return Extraction(facts=facts, engine="rules", model="baseline-general-libraries")
