"""The deterministic extraction engine ("rules").

First version: prices, quantities, discount, MOQ, lead time and quote request in
Korean and English prose, resolved to the latest statement in the thread.
"""

from __future__ import annotations

import re

from services.extract.engine import Extraction
from shared.events import KeyFacts, LineItem, NormalizedMessage, NormalizedThread, Party

_NUM = r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
PRICE_KRW = re.compile(_NUM + r"\s*(?:원|KRW)")
QTY = re.compile(_NUM + r"\s*(개|대|세트|pcs|units|pieces)\b|" + _NUM + r"\s*(개|대|세트)")
DISCOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*%\s*(?:할인|discount)", re.IGNORECASE)
MOQ = re.compile(r"(?:최소\s*주문\s*수량|MOQ|minimum order(?: quantity)?)\D{0,15}" + _NUM, re.IGNORECASE)
LEAD_DAYS = re.compile(r"(?:주문|발주|order)[^.\n]{0,20}?(\d+)\s*(일|days?|주|weeks?)", re.IGNORECASE)
QUOTE_REQUEST = re.compile(r"견적서|견적\s*요청|quotation|\bquote\b", re.IGNORECASE)
PRODUCT = re.compile(r"([A-Z][\w-]*\s*제품)")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _party(messages: list[NormalizedMessage], role: str) -> Party | None:
    for m in messages:
        if m.role == role:
            return Party(name=m.sender_name, company=m.sender_company, email=m.sender_email)
    return None


class RulesEngine:
    """Regex and resolution rules; deterministic, no model, runs anywhere."""

    name = "rules"

    async def extract(self, thread: NormalizedThread) -> Extraction:
        return self.extract_sync(thread)

    def extract_sync(self, thread: NormalizedThread) -> Extraction:
        unit_price: float | None = None
        quantity: float | None = None
        unit: str | None = None
        discount: float | None = None
        moq: float | None = None
        lead: int | None = None
        product: str | None = None
        quote_requested = False
        for m in thread.messages:
            text = m.text
            if product is None and (p := PRODUCT.search(text)):
                product = p.group(1)
            if m.role == "supplier":
                prices = PRICE_KRW.findall(text)
                if prices:
                    unit_price = _number(prices[-1])
                if d := DISCOUNT.search(text):
                    discount = _number(d.group(1))
                if mq := MOQ.search(text):
                    moq = _number(mq.group(1))
                if ld := LEAD_DAYS.search(text):
                    n = int(ld.group(1))
                    lead = n * 7 if ld.group(2).startswith(("주", "week")) else n
            for q in QTY.finditer(text):
                if MOQ.search(text[max(0, q.start() - 20) : q.end()]):
                    continue
                quantity = _number(q.group(1) or q.group(3))
                unit = q.group(2) or q.group(4)
            if m.role == "buyer" and QUOTE_REQUEST.search(text):
                quote_requested = True
        items = []
        if product or unit_price is not None:
            items.append(
                LineItem(
                    product=product,
                    quantity=quantity,
                    unit=unit,
                    unit_price=unit_price,
                    currency="KRW" if unit_price is not None else None,
                    discount_percent=discount,
                )
            )
        facts = KeyFacts(
            buyer=_party(thread.messages, "buyer"),
            supplier=_party(thread.messages, "supplier"),
            currency="KRW" if unit_price is not None else None,
            items=items,
            moq=moq,
            delivery_lead_time_days=lead,
            quote_requested=quote_requested,
        )
        return Extraction(facts=facts, summary="", tags=[], engine="rules")
