"""Seeded generator of buyer–supplier negotiations with their key facts known by construction.

A thread is played out as a small negotiation: the buyer asks, the supplier offers (prose, a price table in
text or HTML, or tiered prices), and zero to three rounds follow (discount requests granted or refused,
counter-offers accepted, met half-way or rejected, quantity changes, faster delivery, other payment terms or
shipping), then possibly a quote request and the quotation. Every act updates the true terms as SPEC.md §1
defines them (latest terms; a rejected counter-offer is not a term; unit price net of discount; weeks × 7;
years × 12; budget in currency units; null when not stated) while the writer's phrasing is drawn from
:mod:`services.trainer.synth.templates` in Korean, English or both (mixed threads), in one of four writing
styles, with typos, signatures, disclaimers, several mail clients' reply formats with quoted history,
HTML-only messages, forwarded offers, RFC 2047 subjects and Korean mail in EUC-KR.

Thread ``i`` of seed ``s`` depends on ``(s, i)`` only, so any slice regenerates identically and threads can
be produced in parallel or streamed.
"""

from __future__ import annotations

import csv
import html
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Literal

from services.trainer.synth import catalog
from services.trainer.synth.catalog import CURRENCIES, NEUTRAL_UNITS, Company, Industry, Product
from services.trainer.synth.templates import (
    PHRASES,
    SCOPE_ALL,
    SCOPE_QTY,
    SCOPE_SAME,
    STYLES,
    add_typos,
    resolve_particles,
)
from shared.events import KeyFacts, LineItem, Party

Mode = Literal["ko", "en", "mixed"]
Side = Literal["buyer", "supplier"]

UNIT_SINGULAR = {
    "pcs": "pc",
    "units": "unit",
    "panels": "panel",
    "sets": "set",
    "yards": "yard",
    "rolls": "roll",
    "drums": "drum",
    "liters": "liter",
    "bottles": "bottle",
    "cartons": "carton",
    "boxes": "box",
    "reels": "reel",
}
KOREAN_UNITS = {"개", "대", "장", "세트", "야드", "롤", "드럼", "리터", "병", "박스", "릴"}
SHIPPING_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "air": {"ko": ("항공 운송", "항공편"), "en": ("by air freight", "by air")},
    "sea": {"ko": ("해상 운송", "선박 운송"), "en": ("by sea freight", "by sea")},
    "express": {"ko": ("특급 배송", "빠른 배송"), "en": ("by express delivery", "via express service")},
    "courier": {"ko": ("택배", "쿠리어(DHL)"), "en": ("by courier (DHL)", "via courier")},
    "standard": {"ko": ("일반 배송", "표준 배송"), "en": ("by standard shipping", "via standard delivery")},
    "rail": {"ko": ("철도 운송",), "en": ("by rail",)},
    "truck": {"ko": ("트럭 운송", "화물차"), "en": ("by truck", "by road (truck)")},
}
MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS_KO = "월화수목금토일"
CLIENTS = {"ko": ("gmail_ko", "outlook_ko", "naver", "none"), "en": ("gmail", "outlook", "outlook_new", "none")}
STYLE_TYPO_RATE = {"formal": 0.0, "friendly": 0.03, "brief": 0.05, "verbose": 0.015}


# --------------------------------------------------------------------------- the cast


@dataclass
class Person:
    """A correspondent: how they sign, write and quote."""

    name: str
    first: str
    last: str
    email: str
    company: str
    domain: str
    title: str
    dept: str
    company_en: str
    lang: str
    tz: timezone
    style: str
    client: str
    phone: str


@dataclass
class Item:
    """A line under negotiation, with its current (true) state."""

    product: str
    unit: str
    quantity: int
    list_price: float
    price: float
    discount: float | None = None
    tiers: list[tuple[int, float]] | None = None


@dataclass
class Block:
    """A paragraph or a table of a message body."""

    text: str | None = None
    table: list[list[str]] | None = None


@dataclass
class Draft:
    """One message before it becomes MIME: who writes, what, and the summary line it contributes."""

    side: Side
    title_key: str
    blocks: list[Block] = field(default_factory=list)
    gists: list[str] = field(default_factory=list)
    html_only: bool = False
    html_alternative: bool = False
    forwarded: bool = False
    attach_quote: bool = False


@dataclass
class SyntheticThread:
    """A generated thread: its messages (RFC 5322 bytes) and the expected.json payload."""

    case_id: str
    messages: list[bytes]
    expected: dict[str, Any]


# --------------------------------------------------------------------------- formatting of values


def _round_price(value: float, currency: str) -> float:
    decimals = CURRENCIES[currency][1]
    if decimals == 0:
        step = 10 if value < 1000 else 100 if value < 100_000 else 1000
        if currency == "JPY":
            step = 1 if value < 1000 else 10
        return float(max(step, round(value / step) * step))
    if value >= 100:
        return float(round(value))
    if value >= 5:
        return round(round(value * 20) / 20, 2)
    return max(0.01, round(value, 2))


def _number(value: float, decimals: int) -> str:
    if decimals == 0 or (float(value).is_integer() and value >= 1000):
        return f"{round(value):,}"
    text = f"{value:,.{decimals}f}"
    return text if round(value, decimals) == value else f"{value:,.4f}".rstrip("0")


def korean_amount(value: float) -> str:
    """5억, 3,200만, 1억 5,000만: how Korean writes large round amounts (value a multiple of 10,000)."""
    total = round(value)
    eok, rest = divmod(total, 100_000_000)
    man, won = divmod(rest, 10_000)
    parts = []
    if eok:
        parts.append(f"{eok}억")
    if man:
        parts.append(f"{man:,}만")
    if won or not parts:
        parts.append(f"{won:,}")
    return " ".join(parts)


def fmt_money(value: float, currency: str, lang: str, rng: random.Random) -> str:
    decimals = CURRENCIES[currency][1]
    num = _number(value, decimals)
    if currency == "KRW":
        options = [f"{num}원", f"₩{num}", f"{num} KRW", f"KRW {num}"] if lang == "ko" else [f"KRW {num}", f"₩{num}"]
        if lang == "ko" and value >= 10_000 and round(value) % 100 == 0 and rng.random() < 0.25:
            return f"{korean_amount(value)}원"
        return rng.choice(options) if lang == "en" or rng.random() < 0.4 else options[0]
    symbols = {
        "USD": ("$", "US$", "USD "),
        "EUR": ("€", "EUR "),
        "JPY": ("¥", "JPY "),
        "GBP": ("£", "GBP "),
        "CNY": ("RMB ", "CNY "),
        "AUD": ("A$", "AUD "),
    }
    korean_words = {"USD": "달러", "EUR": "유로", "JPY": "엔", "CNY": "위안", "GBP": "파운드", "AUD": "호주달러"}
    if lang == "ko" and rng.random() < 0.5:
        return f"{num}{korean_words[currency]}"
    if rng.random() < 0.2:
        return f"{num} {currency}"
    return f"{rng.choice(symbols[currency])}{num}"


def fmt_budget(value: float, currency: str, lang: str, rng: random.Random) -> str:
    if currency == "KRW" and lang == "ko":
        return f"{korean_amount(value)} 원" if rng.random() < 0.5 else f"{korean_amount(value)}원"
    return fmt_money(value, currency, lang, rng)


def fmt_qty(quantity: float, unit: str, lang: str) -> str:
    number = f"{round(quantity):,}"
    return f"{number}{unit}" if unit in KOREAN_UNITS else f"{number} {unit}"


def per_unit_ko(unit: str) -> str:
    return f"{unit}당"


def unit_one(unit: str) -> str:
    return UNIT_SINGULAR.get(unit, unit)


def fmt_lead(days: int, written_in_weeks: bool, lang: str, brief: bool) -> str:
    if written_in_weeks:
        weeks = days // 7
        if lang == "ko":
            return f"{weeks}주"
        if brief:
            return f"{weeks} wks"
        return f"{weeks} week" if weeks == 1 else f"{weeks} weeks"
    if lang == "ko":
        return f"{days}일"
    return f"{days} days"


def fmt_date(value: date, lang: str, rng: random.Random, thread_year: int) -> str:
    if lang == "ko":
        options = [f"{value.year}년 {value.month}월 {value.day}일", value.isoformat(), f"{value:%Y.%m.%d}"]
        if value.year == thread_year:
            options.append(f"{value.month}월 {value.day}일")
        return rng.choice(options)
    return rng.choice(
        [
            f"{MONTHS_EN[value.month - 1]} {value.day}, {value.year}",
            f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}",
            value.isoformat(),
        ]
    )


def fmt_warranty(months: int, lang: str, rng: random.Random) -> str:
    if months % 12 == 0 and rng.random() < 0.7:
        years = months // 12
        if lang == "ko":
            return f"{years}년"
        return f"{years} year" if years == 1 else f"{years} years"
    return f"{months}개월" if lang == "ko" else f"{months} months"


# --------------------------------------------------------------------------- the builder


class ThreadBuilder:
    """Plays out one negotiation; keeps the true terms in step with every sentence written."""

    def __init__(self, seed: int, index: int) -> None:
        self.seed, self.index = seed, index
        self.rng = random.Random(f"quoteflow-synth:{seed}:{index}")
        self.case_id = f"synth-{seed}-{index:05d}"
        self.typos = 0
        self.events: list[str] = []
        self.drafts: list[Draft] = []
        self.mode: Mode = self.rng.choices(("ko", "en", "mixed"), weights=(0.45, 0.35, 0.2))[0]  # type: ignore[assignment]
        self.industry: Industry = self.rng.choice(catalog.INDUSTRIES)
        self._cast()
        self._terms()

    # ----------------------------------------------------------------- setup

    def _person(self, company: Company, korean: bool, lang: str, side: Side) -> Person:
        rng = self.rng
        if korean:
            surname, given = rng.choice(catalog.KOREAN_SURNAMES), rng.choice(catalog.KOREAN_GIVEN)
            roman_last, roman_first = catalog.ROMAN_SURNAMES[surname], catalog.ROMAN_GIVEN[given]
            email = f"{roman_first}.{roman_last.lower()}@{company.domain}"
            if lang == "ko":
                name, first, last = surname + given, given, surname
            else:
                first, last = roman_first.capitalize(), roman_last
                name = f"{first} {last}"
            tz = timezone(timedelta(hours=9))
        else:
            first, last = rng.choice(catalog.ENGLISH_FIRST), rng.choice(catalog.ENGLISH_LAST)
            name, email = f"{first} {last}", f"{first.lower()}.{last.lower()}@{company.domain}"
            tz = timezone(timedelta(hours=rng.choice((-5, 0, 1, 8, 9, 10))))
        company_name = company.name_ko if lang == "ko" and company.name_ko else company.name_en
        title = rng.choice(catalog.TITLES_KO if lang == "ko" else catalog.TITLES_EN)
        dept = rng.choice(catalog.DEPARTMENTS_KO) if lang == "ko" else ("Purchasing" if side == "buyer" else "Sales")
        phone = (
            f"+82-2-{rng.randint(2000, 9999)}-{rng.randint(1000, 9999)}"
            if korean
            else f"+{rng.randint(1, 89)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        )
        return Person(
            name=name,
            first=first,
            last=last,
            email=email,
            company=company_name,
            company_en=company.name_en,
            domain=company.domain,
            title=title,
            dept=dept,
            lang=lang,
            tz=tz,
            style=rng.choice(STYLES),
            client=rng.choice(CLIENTS["ko" if lang == "ko" else "en"]),
            phone=phone,
        )

    def _cast(self) -> None:
        rng = self.rng
        korean_a, korean_b = rng.sample(catalog.KOREAN_COMPANIES, 2)
        foreign = rng.choice(catalog.FOREIGN_COMPANIES)
        if self.mode == "ko":
            self.buyer = self._person(korean_a, True, "ko", "buyer")
            self.supplier = self._person(korean_b, True, "ko", "supplier")
        elif self.mode == "en":
            if rng.random() < 0.6:
                self.buyer = self._person(foreign, False, "en", "buyer")
                self.supplier = self._person(korean_b, True, "en", "supplier")
            else:
                other = rng.choice([c for c in catalog.FOREIGN_COMPANIES if c != foreign])
                self.buyer = self._person(foreign, False, "en", "buyer")
                self.supplier = self._person(other, False, "en", "supplier")
        elif rng.random() < 0.5:
            self.buyer = self._person(korean_a, True, "ko", "buyer")
            self.supplier = self._person(foreign, False, "en", "supplier")
        else:
            self.buyer = self._person(foreign, False, "en", "buyer")
            self.supplier = self._person(korean_b, True, "ko", "supplier")

    def _terms(self) -> None:
        rng = self.rng
        if self.mode == "ko":
            self.currency = "KRW" if rng.random() < 0.85 else "USD"
        elif self.mode == "en":
            self.currency = rng.choices(("USD", "EUR", "JPY", "CNY", "GBP", "AUD", "KRW"), (55, 14, 8, 8, 6, 6, 3))[0]
        else:
            self.currency = rng.choices(("USD", "KRW", "EUR"), (60, 30, 10))[0]
        count = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        products: list[Product] = rng.sample(self.industry.products, min(count, len(self.industry.products)))
        rate = CURRENCIES[self.currency][0]
        self.items: list[Item] = []
        for product in products:
            name_lang = "ko" if self.mode == "ko" else "en"
            unit = product.unit(name_lang)
            if self.mode == "mixed":
                unit = NEUTRAL_UNITS.get(product.unit_ko, product.unit_en)
            quantity = self._nice_quantity(rng.randint(product.qty_low, product.qty_high))
            price = _round_price(rng.uniform(product.usd_low, product.usd_high) * rate, self.currency)
            self.items.append(
                Item(product=product.name(name_lang), unit=unit, quantity=quantity, list_price=price, price=price)
            )
        self.moq: float | None = None
        self.lead_days: int | None = None
        self.lead_in_weeks = False
        self.delivery_date: date | None = None
        self.shipping: str | None = None
        self.incoterm: str | None = None
        self.payment: str | None = None
        self.warranty: int | None = None
        self.budget: float | None = None
        self.quote_requested = False
        self.supplier_wrote = False
        self.needed_date: date | None = None
        self.kind = "negotiation"
        start = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(days=rng.randint(0, 640), hours=rng.randint(0, 9))
        self.clock = start.replace(hour=rng.randint(0, 9), minute=rng.choice((0, 5, 12, 20, 30, 41, 45, 58)))
        self.year = self.clock.year

    def _nice_quantity(self, raw: int) -> int:
        for step in (1000, 500, 100, 50, 10, 5):
            if raw >= step * 4:
                return max(step, round(raw / step) * step)
        return max(1, raw)

    # ----------------------------------------------------------------- writing

    def person(self, side: Side) -> Person:
        return self.buyer if side == "buyer" else self.supplier

    def other(self, side: Side) -> Person:
        return self.supplier if side == "buyer" else self.buyer

    def say(self, side: Side, act: str, **values: Any) -> str:
        """A phrase for this act in the writer's language and style, typos outside the values."""
        writer = self.person(side)
        phrase = self.rng.choice(PHRASES[act][writer.lang])
        phrase, made = add_typos(phrase, self.rng, STYLE_TYPO_RATE[writer.style])
        self.typos += made
        return resolve_particles(phrase.format(**values))

    def money(self, side: Side, value: float) -> str:
        return fmt_money(value, self.currency, self.person(side).lang, self.rng)

    def qty(self, side: Side, item: Item, quantity: float | None = None) -> str:
        return fmt_qty(item.quantity if quantity is None else quantity, item.unit, self.person(side).lang)

    def lead(self, side: Side, days: int, weeks: bool) -> str:
        return fmt_lead(days, weeks, self.person(side).lang, self.person(side).style == "brief")

    def item_values(self, side: Side, item: Item, price: float | None = None) -> dict[str, Any]:
        return {
            "product": item.product,
            "qty": self.qty(side, item),
            "price": self.money(side, item.price if price is None else price),
            "per_unit": per_unit_ko(item.unit),
            "unit_one": unit_one(item.unit),
        }

    def draft(self, side: Side, title_key: str) -> Draft:
        writer, reader = self.person(side), self.other(side)
        draft = Draft(side=side, title_key=title_key)
        if writer.style != "brief" or not self.drafts:
            greet_values = {
                "their_name": reader.name,
                "their_first": reader.first,
                "their_last": reader.last,
                "their_title": reader.title,
                "their_company": reader.company if writer.lang == reader.lang else reader.company_en,
            }
            act = "greet_company" if side == "buyer" and not self.drafts and self.rng.random() < 0.3 else "greet"
            draft.blocks.append(Block(self.say(side, act, **greet_values)))
        self.drafts.append(draft)
        return draft

    def add(self, draft: Draft, text: str, gist: str | None = None) -> None:
        draft.blocks.append(Block(text))
        if gist:
            draft.gists.append(gist)

    # ----------------------------------------------------------------- acts

    def inquiry(self) -> None:
        rng = self.rng
        side: Side = "buyer"
        writer = self.buyer
        d = self.draft(side, "inquiry")
        if writer.style in ("formal", "verbose") or rng.random() < 0.3:
            self.add(d, self.say(side, "intro", my_company=writer.company, my_dept=writer.dept, my_name=writer.name))
        if writer.style == "verbose":
            self.add(d, self.say(side, "context"))
        ask_quote = rng.random() < 0.3
        if ask_quote:
            self.quote_requested = True
            self.events.append("quote_request_in_inquiry")
            lead_in = self.say(side, "inquiry_quote")
        elif writer.style == "brief":
            lead_in = self.say(side, "inquiry_brief")
        else:
            lead_in = self.say(side, "inquiry_price")
        self.add(d, self._item_listing(side, lead_in, ask_quote))
        products = ", ".join(f"{i.product} {self.qty('buyer', i)}" for i in self.items)
        d.gists.append(self._g(f"{products} 가격·납기 문의", f"asked for price and lead time of {products}"))
        if ask_quote:
            d.gists.append(self._g("견적서 요청", "requested a quotation"))
        if rng.random() < 0.2:
            total = sum(i.price * i.quantity for i in self.items) * rng.uniform(0.9, 1.4)
            self.budget = self._round_budget(total)
            self.add(d, self.say(side, "budget", budget=fmt_budget(self.budget, self.currency, writer.lang, rng)))
            d.gists.append(
                self._g(f"예산 {self._summary_money(self.budget)}", f"budget {self._summary_money(self.budget)}")
            )
        if rng.random() < 0.12:
            self.needed_date = (self.clock + timedelta(days=rng.randint(20, 90))).date()
            self.add(d, self.say(side, "need_date", date=fmt_date(self.needed_date, writer.lang, rng, self.year)))
        if rng.random() < 0.3:
            self.add(d, self.say(side, "ask_terms"))

    def _item_listing(self, side: Side, lead_in: str, ask_quote: bool) -> str:
        """The items as people list them: dashes, numbers, 'Item/Qty' pairs, or a sentence."""
        ko = self.person(side).lang == "ko"
        layout = self.rng.choice(("dash", "numbered", "pairs", "inline", "inline"))
        entries = [(item.product, self.qty(side, item)) for item in self.items]
        if layout == "inline":
            joined = ", ".join(f"{p} {q}" if ko else f"{q} of {p}" for p, q in entries)
            sentence = f"{joined} 구매를 검토하고 있습니다." if ko else f"We need {joined}."
            return f"{sentence} {self.say(side, 'inline_quote' if ask_quote else 'inline_price')}"
        if layout == "numbered":
            lines = [f"{n}. {p} – {q}" for n, (p, q) in enumerate(entries, start=1)]
        elif layout == "pairs":
            lines = [f"품명: {p} / 수량: {q}" if ko else f"Item: {p}, Qty: {q}" for p, q in entries]
        else:
            lines = [f"- {p}: {q}" for p, q in entries]
        return lead_in + "\n" + "\n".join(lines)

    def _round_budget(self, value: float) -> float:
        if self.currency in ("KRW", "JPY"):
            step = 10_000_000 if value > 100_000_000 else 1_000_000 if value > 5_000_000 else 100_000
        else:
            step = 10_000 if value > 100_000 else 1000 if value > 5000 else 100
        return float(max(step, round(value / step) * step))

    def offer(self) -> None:
        rng = self.rng
        side: Side = "supplier"
        self.supplier_wrote = True
        writer = self.supplier
        d = self.draft(side, "offer")
        self.add(d, self.say(side, "offer_intro"))
        style = rng.random()
        if len(self.items) == 1 and style < 0.15 and self.items[0].quantity >= 20:
            self._tiered_offer(d)
        elif (len(self.items) > 1 and style < 0.5) or style < 0.3:
            self._table_offer(d)
        else:
            for item in self.items:
                act = "offer_price_qty" if rng.random() < 0.3 else "offer_price"
                self.add(d, self.say(side, act, **self.item_values(side, item)))
        d.gists.append(
            self._g(
                ", ".join(f"{i.product} {per_unit_ko(i.unit)} {self._summary_money(i.price)}" for i in self.items),
                ", ".join(f"{i.product} at {self._summary_money(i.price)} per {unit_one(i.unit)}" for i in self.items),
            )
        )
        terms: list[str] = []
        if rng.random() < 0.5:
            self.moq = float(self._nice_quantity(max(1, round(self.items[0].quantity * rng.choice((0.1, 0.25, 0.5))))))
            self.add(d, self.say(side, "moq", moq=fmt_qty(self.moq, self.items[0].unit, writer.lang)))
            terms.append(f"MOQ {fmt_qty(self.moq, self.items[0].unit, self._summary_lang())}")
        if rng.random() < 0.8:
            self.lead_in_weeks = rng.random() < 0.5
            self.lead_days = (
                rng.randint(1, 8) * 7 if self.lead_in_weeks else rng.choice((3, 5, 7, 10, 14, 20, 30, 45, 60))
            )
            act = "lead_brief" if writer.style == "brief" else "lead"
            self.add(d, self.say(side, act, lead=self.lead(side, self.lead_days, self.lead_in_weeks)))
            terms.append(self._g(f"납기 {self.lead_days}일", f"lead time {self.lead_days} days"))
        if rng.random() < (0.7 if self.mode != "ko" else 0.3):
            self.incoterm = rng.choice(
                ("EXW", "FCA", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP", "FOB", "CIF")
            )
            port = rng.choice(catalog.PORTS)
            place = catalog.PORTS_KO[port] if writer.lang == "ko" and rng.random() < 0.6 else port
            self.add(d, self.say(side, "incoterm", incoterm=self.incoterm, place=place))
            terms.append(f"{self.incoterm} {port}")
        if rng.random() < 0.6:
            self.payment = self._payment_text(writer.lang)
            self.add(d, self.say(side, "payment", payment=self.payment))
            terms.append(self._g(f"결제: {self.payment}", f"payment: {self.payment}"))
        if rng.random() < 0.35:
            self.warranty = rng.choice((6, 12, 12, 18, 24, 24, 36, 60))
            self.add(d, self.say(side, "warranty", warranty=fmt_warranty(self.warranty, writer.lang, rng)))
            terms.append(self._g(f"보증 {self.warranty}개월", f"warranty {self.warranty} months"))
        if rng.random() < 0.4:
            self.shipping = rng.choice(tuple(SHIPPING_PHRASES))
            self.add(d, self.say(side, "shipping", ship=rng.choice(SHIPPING_PHRASES[self.shipping][writer.lang])))
            terms.append(self._g(f"배송 {self.shipping}", f"shipping {self.shipping}"))
        confirm_needed = self.needed_date is not None and rng.random() < 0.6
        if confirm_needed or rng.random() < 0.12:
            when = (
                self.needed_date
                if confirm_needed and self.needed_date
                else (self.clock + timedelta(days=rng.randint(15, 80))).date()
            )
            self.delivery_date = when
            self.add(d, self.say(side, "delivery_date", date=fmt_date(when, writer.lang, rng, self.year)))
            terms.append(self._g(f"납품일 {when.isoformat()}", f"delivery by {when.isoformat()}"))
        if terms:
            d.gists.append(", ".join(terms))
        if rng.random() < 0.3:
            self.add(d, self.say(side, "validity"))
        if rng.random() < 0.25:
            d.html_only = rng.random() < 0.5
            d.html_alternative = not d.html_only
        if rng.random() < 0.06:
            d.forwarded = True
            self.events.append("forwarded_offer")

    def _payment_text(self, lang: str) -> str:
        return self.rng.choice(catalog.PAYMENT_TERMS_KO if lang == "ko" else catalog.PAYMENT_TERMS_EN)

    def _tiered_offer(self, d: Draft) -> None:
        rng = self.rng
        side: Side = "supplier"
        item = self.items[0]
        quantity = item.quantity
        low = self._nice_quantity(max(2, quantity // rng.choice((2, 3, 4))))
        high = self._nice_quantity(quantity * rng.choice((2, 3, 5)))
        base = item.list_price
        tiers = [
            (1, base),
            (low, _round_price(base * 0.95, self.currency)),
            (high, _round_price(base * 0.9, self.currency)),
        ]
        item.tiers = tiers
        item.price = self._tier_price(item, quantity)
        item.list_price = item.price
        writer_lang = self.supplier.lang
        parts = []
        for number, (start, price) in enumerate(tiers):
            end = tiers[number + 1][0] - 1 if number + 1 < len(tiers) else None
            if writer_lang == "ko":
                span = f"{start:,}~{end:,}{item.unit}" if end else f"{start:,}{item.unit} 이상"
            else:
                span = f"{start:,}–{end:,} {item.unit}" if end else f"{start:,}+ {item.unit}"
            if writer_lang == "ko" and item.unit not in KOREAN_UNITS:
                span = f"{start:,}~{end:,} {item.unit}" if end else f"{start:,} {item.unit} 이상"
            parts.append(f"{span}: {self.money(side, price)}")
        self.add(d, self.say(side, "tiers", product=item.product, tiers=" / ".join(parts)))
        self.events.append("tiered_prices")
        if rng.random() < 0.6:
            self.add(d, self.say(side, "tier_pick", **self.item_values(side, item)))

    def _tier_price(self, item: Item, quantity: float) -> float:
        assert item.tiers
        price = item.tiers[0][1]
        for start, tier_price in item.tiers:
            if quantity >= start:
                price = tier_price
        return price

    def _table_offer(self, d: Draft) -> None:
        side: Side = "supplier"
        self.add(d, self.say(side, "table_intro"))
        header = (
            ["품목", "수량", "단가", "금액"] if self.supplier.lang == "ko" else ["Item", "Qty", "Unit price", "Amount"]
        )
        rows = [header]
        for item in self.items:
            rows.append(
                [
                    item.product,
                    self.qty(side, item),
                    self.money(side, item.price),
                    self.money(side, item.price * item.quantity),
                ]
            )
        d.blocks.append(Block(table=rows))
        self.events.append("price_table")

    # ----------------------------------------------------------------- negotiation rounds

    def negotiate(self, rounds: int) -> None:
        options = ["discount", "counter", "quantity", "lead", "payment", "shipping", "refuse_discount"]
        weights = [3, 3, 2, 1, 1, 1, 1]
        chosen: list[str] = []
        while len(chosen) < rounds:
            pick = self.rng.choices(options, weights)[0]
            price_events = {"discount", "counter", "refuse_discount"}
            if pick in chosen or (pick in price_events and len(price_events & set(chosen)) >= 2):
                continue
            if pick == "discount" and any(i.discount for i in self.items):
                continue
            chosen.append(pick)
        for event in chosen:
            getattr(self, f"_round_{event}")()
            self.events.append(event)

    def _round_discount(self) -> None:
        rng = self.rng
        b = self.draft("buyer", "negotiation")
        change_qty = rng.random() < 0.5 and len(self.items) == 1 and not self.items[0].tiers
        item = self.items[0]
        new_qty = (
            self._nice_quantity(round(item.quantity * rng.choice((1.5, 2, 2.5, 3)))) if change_qty else item.quantity
        )
        if rng.random() < 0.25:
            competitor = _round_price(item.price * rng.uniform(0.85, 0.95), self.currency)
            self.add(b, self.say("buyer", "competitor", price=self.money("buyer", competitor)))
        if change_qty:
            self.add(b, self.say("buyer", "discount_request_qty", qty=self.qty("buyer", item, new_qty)))
            b.gists.append(
                self._g(
                    f"{self.qty('buyer', item, new_qty)} 주문 시 할인 요청",
                    f"asked for a discount for {self.qty('buyer', item, new_qty)}",
                )
            )
        else:
            self.add(b, self.say("buyer", "discount_request"))
            b.gists.append(self._g("가격 조정 요청", "asked for a better price"))
        s = self.draft("supplier", "response")
        percent = float(rng.choice((2, 3, 5, 5, 7, 8, 10, 12, 15)))
        if change_qty:
            item.quantity = new_qty
        targets = self.items if len(self.items) > 1 else [item]
        for target in targets:
            gross = target.price
            target.list_price = gross
            target.price = _net_price(gross, percent, self.currency)
            target.discount = percent
        exact = all(abs(t.list_price * (1 - percent / 100) - t.price) < 1e-9 for t in targets)
        lang = self.supplier.lang
        if len(targets) > 1:
            scope = SCOPE_ALL[lang]
            phrase = self.say("supplier", "discount_given_pct_only", scope=scope, d=_pct(percent))
            if not exact or rng.random() < 0.6:
                lines = [f"- {t.product}: {self.money('supplier', t.price)}" for t in targets]
                phrase += "\n" + "\n".join(lines)
            self.add(s, phrase)
        else:
            scope = SCOPE_QTY[lang].format(qty=self.qty("supplier", item)) if change_qty else SCOPE_SAME[lang]
            if exact and rng.random() < 0.2:
                self.add(s, self.say("supplier", "discount_given_pct_only", scope=scope, d=_pct(percent)))
            else:
                self.add(
                    s,
                    self.say(
                        "supplier",
                        "discount_given",
                        scope=scope,
                        d=_pct(percent),
                        net=self.money("supplier", item.price),
                        per_unit=per_unit_ko(item.unit),
                        unit_one=unit_one(item.unit),
                    ),
                )
        s.gists.append(
            self._g(
                f"{_pct(percent)}% 할인 제공, 단가 {self._summary_money(targets[0].price)}",
                f"offered {_pct(percent)}% off, unit price {self._summary_money(targets[0].price)}",
            )
        )
        if rng.random() < 0.4:
            self.add(s, self.say("supplier", "same_terms"))

    def _round_refuse_discount(self) -> None:
        b = self.draft("buyer", "negotiation")
        self.add(b, self.say("buyer", "discount_request"), self._g("가격 조정 요청", "asked for a better price"))
        s = self.draft("supplier", "response")
        self.add(s, self.say("supplier", "refuse_discount"), self._g("추가 할인 불가", "declined to lower the price"))
        if self.rng.random() < 0.5:
            self.warranty = (self.warranty or 12) + 12
            self.add(
                s,
                self.say(
                    "supplier", "sweetener_warranty", warranty=fmt_warranty(self.warranty, self.supplier.lang, self.rng)
                ),
            )
            s.gists.append(
                self._g(
                    f"대신 보증 {self.warranty}개월로 연장", f"extended the warranty to {self.warranty} months instead"
                )
            )

    def _round_counter(self) -> None:
        rng = self.rng
        item = self.rng.choice(self.items)
        counter = _round_price(item.price * rng.uniform(0.82, 0.95), self.currency)
        if counter >= item.price:
            counter = _round_price(item.price * 0.9, self.currency)
        b = self.draft("buyer", "negotiation")
        self.add(b, self.say("buyer", "counter", **self.item_values("buyer", item, counter)))
        b.gists.append(
            self._g(
                f"{item.product} 단가 {self._summary_money(counter)} 제안",
                f"proposed {self._summary_money(counter)} for {item.product}",
            )
        )
        s = self.draft("supplier", "response")
        outcome = rng.choices(("accept", "middle", "reject"), (0.35, 0.3, 0.35))[0]
        self.events.append(f"counter_{outcome}")
        if outcome == "accept":
            item.price, item.discount = counter, None
            self.add(s, self.say("supplier", "accept_counter", **self.item_values("supplier", item, counter)))
            s.gists.append(self._g(f"{self._summary_money(counter)} 수락", f"accepted {self._summary_money(counter)}"))
        elif outcome == "middle":
            mid = _round_price((counter + item.price) / 2, self.currency)
            if mid in (counter, item.price):
                mid = item.price
            values = self.item_values("supplier", item, counter)
            values["mid"] = self.money("supplier", mid)
            item.price, item.discount = mid, None
            self.add(s, self.say("supplier", "meet_middle", **values))
            s.gists.append(self._g(f"{self._summary_money(mid)}로 절충", f"met half-way at {self._summary_money(mid)}"))
        else:
            values = self.item_values("supplier", item, counter)
            values["old"] = self.money("supplier", item.price)
            self.add(s, self.say("supplier", "reject_counter", **values))
            s.gists.append(
                self._g(
                    f"{self._summary_money(counter)} 거절, 기존 {self._summary_money(item.price)} 유지",
                    f"rejected {self._summary_money(counter)}, kept {self._summary_money(item.price)}",
                )
            )

    def _round_quantity(self) -> None:
        rng = self.rng
        item = rng.choice(self.items)
        factor = rng.choice((0.5, 0.8, 1.2, 1.5, 2.0, 3.0))
        new_qty = self._nice_quantity(max(1, round(item.quantity * factor)))
        if new_qty == item.quantity:
            new_qty = item.quantity + max(1, item.quantity // 2)
        b = self.draft("buyer", "negotiation")
        self.add(b, self.say("buyer", "quantity_change", product=item.product, qty=self.qty("buyer", item, new_qty)))
        b.gists.append(
            self._g(
                f"{item.product} 수량 {self.qty('buyer', item, new_qty)}로 변경 요청",
                f"changed the quantity of {item.product} to {self.qty('buyer', item, new_qty)}",
            )
        )
        item.quantity = new_qty
        if item.tiers:
            item.price = self._tier_price(item, new_qty)
            item.discount = None
        s = self.draft("supplier", "response")
        self.add(s, self.say("supplier", "quantity_confirm", **self.item_values("supplier", item)))
        s.gists.append(
            self._g(
                f"수량 변경 확인, 단가 {self._summary_money(item.price)}",
                f"confirmed, unit price {self._summary_money(item.price)}",
            )
        )

    def _round_lead(self) -> None:
        rng = self.rng
        current = self.lead_days or rng.choice((14, 21, 28, 30))
        weeks = current % 7 == 0 and rng.random() < 0.5
        wanted = max(3, current - rng.choice((7, 7, 14))) if weeks else max(3, current // 2)
        if weeks:
            wanted = max(7, (wanted // 7) * 7)
        b = self.draft("buyer", "negotiation")
        self.add(b, self.say("buyer", "lead_request", lead=self.lead("buyer", wanted, weeks)))
        b.gists.append(self._g(f"납기 {wanted}일로 단축 요청", f"asked for delivery within {wanted} days"))
        s = self.draft("supplier", "response")
        if rng.random() < 0.6:
            self.lead_days, self.lead_in_weeks = wanted, weeks
            self.add(s, self.say("supplier", "lead_accept", lead=self.lead("supplier", wanted, weeks)))
            s.gists.append(self._g(f"납기 {wanted}일 수락", f"agreed to {wanted} days"))
        else:
            self.lead_days = current
            self.add(
                s, self.say("supplier", "lead_reject", old=self.lead("supplier", current, weeks and current % 7 == 0))
            )
            s.gists.append(self._g(f"납기 {current}일 유지", f"kept the lead time at {current} days"))

    def _round_payment(self) -> None:
        rng = self.rng
        wanted = self._payment_text(self.buyer.lang)
        while wanted == self.payment:
            wanted = self._payment_text(self.buyer.lang)
        b = self.draft("buyer", "negotiation")
        self.add(
            b,
            self.say("buyer", "payment_request", payment=wanted),
            self._g(f"결제 조건 '{wanted}' 요청", f"asked for payment terms '{wanted}'"),
        )
        s = self.draft("supplier", "response")
        if self.payment is None or rng.random() < 0.5:
            self.payment = wanted
            self.add(
                s,
                self.say("supplier", "payment_accept", payment=wanted),
                self._g("결제 조건 수락", "accepted the payment terms"),
            )
        else:
            self.add(
                s,
                self.say("supplier", "payment_reject", old=self.payment),
                self._g(f"기존 결제 조건 '{self.payment}' 유지", f"kept payment terms '{self.payment}'"),
            )

    def _round_shipping(self) -> None:
        rng = self.rng
        wanted = rng.choice([m for m in SHIPPING_PHRASES if m != self.shipping])
        b = self.draft("buyer", "negotiation")
        self.add(
            b,
            self.say("buyer", "shipping_request", ship=rng.choice(SHIPPING_PHRASES[wanted][self.buyer.lang])),
            self._g(f"배송 방법 {wanted} 요청", f"asked to ship by {wanted}"),
        )
        s = self.draft("supplier", "response")
        self.shipping = wanted
        self.add(
            s,
            self.say("supplier", "shipping_accept", ship=rng.choice(SHIPPING_PHRASES[wanted][self.supplier.lang])),
            self._g("배송 방법 변경 수락", "agreed to the shipping method"),
        )

    def quote_round(self) -> None:
        rng = self.rng
        if not self.quote_requested or rng.random() < 0.5:
            b = self.draft("buyer", "quote_request")
            self.add(
                b,
                self.say("buyer", "quote_request"),
                self._g("최종 조건으로 견적서 요청", "asked for a formal quotation"),
            )
            self.quote_requested = True
        s = self.draft("supplier", "final_quote")
        self.add(s, self.say("supplier", "final_quote"), self._g("견적서 송부", "sent the quotation"))
        s.attach_quote = True
        if rng.random() < 0.5:
            lines = [self.say("supplier", "recap")]
            for item in self.items:
                lines.append(f"- {item.product}: {self.qty('supplier', item)} × {self.money('supplier', item.price)}")
            self.add(s, "\n".join(lines))

    def closing_buyer(self) -> None:
        b = self.draft("buyer", "confirmation")
        self.add(b, self.say("buyer", "order_confirm"), self._g("발주 예정 확인", "confirmed the order"))

    def inquiry_only_tail(self) -> None:
        if self.rng.random() < 0.5:
            b = self.draft("buyer", "follow_up")
            self.add(b, self.say("buyer", "follow_up"), self._g("회신 재요청", "followed up"))
        if self.rng.random() < 0.4:
            self.supplier_wrote = True
            s = self.draft("supplier", "response")
            self.add(s, self.say("supplier", "ack_only"), self._g("검토 후 회신 예정", "promised an offer"))

    # ----------------------------------------------------------------- play

    def play(self) -> None:
        kind = self.rng.choices(("inquiry_only", "offer", "negotiation"), (0.1, 0.2, 0.7))[0]
        self.kind = kind
        self.inquiry()
        if kind == "inquiry_only":
            self.inquiry_only_tail()
            return
        self.offer()
        if kind == "negotiation":
            self.negotiate(self.rng.choices((1, 2, 3), (0.45, 0.35, 0.2))[0])
        if self.quote_requested or self.rng.random() < 0.6:
            self.quote_round()
        elif self.rng.random() < 0.4:
            self.closing_buyer()

    # ----------------------------------------------------------------- truth, summary, tags

    def _summary_lang(self) -> str:
        return "en" if self.mode == "en" else "ko"

    def _g(self, ko: str, en: str) -> str:
        return ko if self._summary_lang() == "ko" else en

    def _summary_money(self, value: float) -> str:
        decimals = CURRENCIES[self.currency][1]
        return f"{_number(value, decimals)} {self.currency}"

    def truth(self, bodies: str) -> KeyFacts:
        priced = self.kind != "inquiry_only"
        items = [
            LineItem(
                product=i.product,
                quantity=float(i.quantity),
                unit=i.unit,
                unit_price=i.price if priced else None,
                currency=self.currency if priced else None,
                discount_percent=i.discount,
            )
            for i in self.items
        ]
        return KeyFacts(
            buyer=Party(
                name=self.buyer.name,
                company=self.buyer.company if self.buyer.company in bodies else None,
                email=self.buyer.email,
            ),
            supplier=Party(
                name=self.supplier.name,
                company=self.supplier.company if self.supplier.company in bodies else None,
                email=self.supplier.email,
            ),
            currency=self.currency if priced or self.budget is not None else None,
            items=items,
            moq=self.moq,
            delivery_lead_time_days=self.lead_days,
            delivery_date=self.delivery_date.isoformat() if self.delivery_date else None,
            shipping_method=self.shipping,  # type: ignore[arg-type]
            incoterm=self.incoterm,  # type: ignore[arg-type]
            payment_terms=self.payment,
            warranty_months=self.warranty,
            budget=self.budget,
            quote_requested=self.quote_requested,
        )

    def summary(self, facts: KeyFacts) -> str:
        ko = self._summary_lang() == "ko"
        titles = {
            "inquiry": ("초기 문의", "Initial inquiry"),
            "offer": ("제안", "Offer"),
            "negotiation": ("협상", "Negotiation"),
            "response": ("답변", "Reply"),
            "quote_request": ("견적 요청", "Quote request"),
            "final_quote": ("견적서 송부", "Quotation"),
            "confirmation": ("주문 확인", "Confirmation"),
            "follow_up": ("후속 문의", "Follow-up"),
        }
        lines = []
        for number, draft in enumerate(self.drafts, start=1):
            writer = self.person(draft.side)
            title = titles[draft.title_key][0 if ko else 1]
            lines.append(f"{number}. {title}:")
            sender_company = f", {writer.company}" if writer.company else ""
            lines.append(f"• {'발신자' if ko else 'From'}: {writer.name}{sender_company}".rstrip(".") + ".")
            for gist in draft.gists:
                lines.append(f"• {gist}".rstrip(".") + ".")
        final = []
        for item in facts.items:
            piece = f"{item.product} {fmt_qty(item.quantity or 0, item.unit or '', 'ko' if ko else 'en')}"
            if item.unit_price is not None:
                piece += f" @ {self._summary_money(item.unit_price)}"
            if item.discount_percent:
                piece += f" ({_pct(item.discount_percent)}% {'할인' if ko else 'discount'})"
            final.append(piece)
        extras = []
        if facts.moq:
            extras.append(f"MOQ {round(facts.moq):,}")
        if facts.delivery_lead_time_days:
            extras.append(f"{'납기' if ko else 'lead time'} {facts.delivery_lead_time_days}{'일' if ko else ' days'}")
        if facts.delivery_date:
            extras.append(f"{'납품일' if ko else 'delivery date'} {facts.delivery_date}")
        if facts.incoterm:
            extras.append(facts.incoterm)
        if facts.payment_terms:
            extras.append(f"{'결제' if ko else 'payment'}: {facts.payment_terms}")
        if facts.warranty_months:
            extras.append(f"{'보증' if ko else 'warranty'} {facts.warranty_months}{'개월' if ko else ' months'}")
        if facts.shipping_method:
            extras.append(f"{'배송' if ko else 'shipping'}: {facts.shipping_method}")
        label = "최종 조건" if ko else "Final terms"
        lines.append(f"{label}: {'; '.join(final + extras)}.")
        return "\n".join(lines)

    def tags(self, facts: KeyFacts) -> list[str]:
        ko = self._summary_lang() == "ko"
        tags = ["거래" if ko else "trade", self.industry.label_ko if ko else self.industry.label_en]

        def add(flag: bool, korean: str, english: str) -> None:
            if flag:
                tags.append(korean if ko else english)

        add(
            any(
                e in self.events
                for e in ("discount", "counter", "refuse_discount", "quantity", "lead", "payment", "shipping")
            ),
            "협상",
            "negotiation",
        )
        add(bool(facts.quote_requested), "견적 요청", "quote request")
        add(any(i.discount_percent for i in facts.items), "할인", "discount")
        add("quantity" in self.events, "수량 변경", "quantity change")
        add(facts.payment_terms is not None, "결제 조건", "payment terms")
        add(facts.shipping_method is not None or facts.delivery_lead_time_days is not None, "배송", "delivery")
        add(facts.warranty_months is not None, "보증", "warranty")
        add(facts.incoterm is not None, "인코텀즈", "incoterms")
        add(self.kind == "inquiry_only", "가격 문의", "price inquiry")
        add(self.mode != "ko" or self.currency != "KRW", "수출입", "international trade")
        add(any(p.lang == "ko" or p.domain.endswith(".kr") for p in (self.buyer, self.supplier)), "한국", "Korea")
        return tags


def _net_price(gross: float, percent: float, currency: str) -> float:
    """The discounted unit price as a supplier writes it: whole won/yen (KRW to 10), otherwise cents."""
    net = gross * (1 - percent / 100)
    if currency == "KRW":
        return float(round(net / 10) * 10)
    if currency == "JPY":
        return float(round(net))
    return round(net, 2)


def _pct(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- mail rendering


def _signature(person: Person, rng: random.Random) -> str:
    if person.style == "brief":
        return person.name if rng.random() < 0.5 else f"{person.name} / {person.company}"
    if person.lang == "ko":
        lines = [
            f"{person.name} {person.title}",
            f"{person.company} {person.dept}",
            f"Tel. {person.phone}",
            person.email,
        ]
    else:
        lines = [person.name, person.title, person.company, f"Tel: {person.phone} | www.{person.domain}"]
    text = "\n".join(lines)
    if rng.random() < 0.2:
        text += "\n\n" + (
            "본 메일은 지정된 수신인만을 위한 것이며 기밀 정보를 포함할 수 있습니다. "
            "잘못 수신하신 경우 즉시 삭제해 주십시오."
            if person.lang == "ko"
            else "This e-mail and any attachments are confidential and intended only for the addressee. If you "
            "received it in error, please delete it."
        )
    return text


def _html_lines(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(" | ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() for row in rows)


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f'<table border="1" cellpadding="4" cellspacing="0"><tr>{head}</tr>{body}</table>'


def _quote_header(client: str, sender: Person, when: datetime, to: Person, subject: str) -> tuple[str, bool]:
    """Header line(s) introducing quoted history, and whether the quoted lines get '> ' prefixes."""
    local = when.astimezone(sender.tz)
    hour12 = local.hour % 12 or 12
    ampm = "AM" if local.hour < 12 else "PM"
    if client == "gmail":
        stamp = f"{local:%a}, {MONTHS_EN[local.month - 1][:3]} {local.day}, {local.year} at {hour12}:{local:%M} {ampm}"
        return f"On {stamp} {sender.name} <{sender.email}> wrote:", True
    if client == "gmail_ko":
        half = "오전" if local.hour < 12 else "오후"
        stamp = (
            f"{local.year}년 {local.month}월 {local.day}일 ({WEEKDAYS_KO[local.weekday()]}) {half} {hour12}:{local:%M}"
        )
        return f"{stamp}, {sender.name} <{sender.email}>님이 작성:", True
    if client == "outlook_ko":
        return (
            f"-----원본 메일-----\n보낸 사람: {sender.name} <{sender.email}>\n받는 사람: {to.name} <{to.email}>\n"
            f"날짜: {local:%Y-%m-%d} ({WEEKDAYS_KO[local.weekday()]}) {local:%H:%M}\n제목: {subject}"
        ), False
    if client == "naver":
        return (
            f'-----Original Message-----\nFrom: "{sender.name}"<{sender.email}>\nTo: "{to.name}"<{to.email}>;\n'
            f"Sent: {local:%Y-%m-%d} ({WEEKDAYS_KO[local.weekday()]}) {local:%H:%M:%S}\nSubject: {subject}"
        ), False
    sent = f"{local:%A}, {MONTHS_EN[local.month - 1]} {local.day}, {local.year} {hour12}:{local:%M} {ampm}"
    rule = "-----Original Message-----" if client == "outlook" else "________________________________"
    return (
        f"{rule}\nFrom: {sender.name} <{sender.email}>\nSent: {sent}\nTo: {to.name} <{to.email}>\nSubject: {subject}",
        False,
    )


@dataclass
class _Rendered:
    plain: str
    when: datetime
    sender: Person
    subject: str


def render_thread(builder: ThreadBuilder) -> tuple[list[bytes], str]:
    """RFC 5322 messages for the builder's drafts, and all new text (to know which companies were named)."""
    rng = builder.rng
    messages: list[bytes] = []
    previous: _Rendered | None = None
    ids: list[str] = []
    all_new_text: list[str] = []
    first_product = builder.items[0].product
    if builder.buyer.lang == "ko":
        base_subject = rng.choice(
            (f"{first_product} 가격 문의", f"[문의] {first_product} 견적 요청", f"{first_product} 구매 관련 문의")
        )
    else:
        base_subject = rng.choice(
            (f"Inquiry: {first_product}", f"RFQ - {first_product}", f"Price request for {first_product}")
        )
    if "견적" in base_subject or base_subject.startswith("RFQ"):  # a request for quotation in the subject is one
        builder.quote_requested = True
        builder.events.append("quote_request_in_subject")
    for number, draft in enumerate(builder.drafts):
        writer, reader = builder.person(draft.side), builder.other(draft.side)
        builder.clock += timedelta(hours=rng.randint(1, 30), minutes=rng.randint(0, 59))
        when = builder.clock
        closing = builder.say(draft.side, "close")
        signature = _signature(writer, rng)
        delimiter = "-- \n" if rng.random() < 0.4 else ""
        text_blocks = [b.text if b.text is not None else _plain_table(b.table or [[""]]) for b in draft.blocks]
        new_text = "\n\n".join(text_blocks) + f"\n\n{closing}\n{delimiter}{signature}"
        all_new_text.append(new_text)
        if number == 0:
            subject = base_subject
        elif draft.forwarded:
            subject = ("전달: " if writer.lang == "ko" else "FW: ") + base_subject
        else:
            subject = rng.choice(("회신: ", "RE: ", "Re: ") if writer.lang == "ko" else ("RE: ", "Re: ")) + base_subject
        plain = new_text
        html_body = (
            "".join(
                f"<p>{html.escape(b.text).replace(chr(10), '<br>')}</p>"
                if b.text is not None
                else _html_table(b.table or [[""]])
                for b in draft.blocks
            )
            + f"<p>{html.escape(closing)}<br>{html.escape(signature).replace(chr(10), '<br>')}</p>"
        )
        if draft.forwarded and previous is not None:
            intro = builder.say(draft.side, "resend")
            fwd_when = when - timedelta(days=rng.randint(1, 5))
            header = (
                f"---------- Forwarded message ---------\nFrom: {writer.name} <{writer.email}>\n"
                f"Date: {format_datetime(fwd_when)}\nSubject: {base_subject}\nTo: {reader.name} <{reader.email}>"
            )
            plain = f"{intro}\n\n{header}\n\n{new_text}"
            html_body = (
                f"<p>{html.escape(intro)}</p><div>{html.escape(header).replace(chr(10), '<br>')}</div>{html_body}"
            )
        if previous is not None and writer.client != "none":
            header, prefixed = _quote_header(
                writer.client,
                previous.sender,
                previous.when,
                writer if previous.sender is not writer else reader,
                previous.subject,
            )
            quoted = (
                "\n".join(("> " + line) if line else ">" for line in previous.plain.splitlines())
                if prefixed
                else previous.plain
            )
            plain = f"{plain}\n\n{header}\n{quoted}"
            html_body += f"<div>{_html_lines(header)}</div><blockquote>{_html_lines(previous.plain)}</blockquote>"
        msg = EmailMessage()
        msg["From"] = formataddr((writer.name, writer.email))
        msg["To"] = formataddr((reader.name, reader.email))
        msg["Subject"] = subject
        msg["Date"] = format_datetime(when.astimezone(writer.tz))
        message_id = f"<{rng.getrandbits(64):016x}.{builder.index}.{number}@{writer.domain}>"
        msg["Message-ID"] = message_id
        if ids:
            msg["In-Reply-To"] = ids[-1]
            msg["References"] = " ".join(ids[-10:])
        ids.append(message_id)
        charset = "utf-8"
        if writer.lang == "ko" and rng.random() < 0.15:
            try:
                plain.encode("euc-kr")
                charset = "euc-kr"
            except UnicodeEncodeError:
                charset = "utf-8"
        cte = rng.choice(("base64", "quoted-printable", "8bit")) if charset == "utf-8" else "base64"
        if draft.html_only:
            msg.set_content(f"<html><body>{html_body}</body></html>", subtype="html", charset=charset, cte=cte)
        else:
            msg.set_content(plain, charset=charset, cte=cte)
            if draft.html_alternative:
                msg.add_alternative(f"<html><body>{html_body}</body></html>", subtype="html", charset="utf-8")
        if draft.attach_quote:
            buffer = io.StringIO()
            table = csv.writer(buffer)
            table.writerow(["product", "quantity", "unit", "unit_price", "currency"])
            for item in builder.items:
                table.writerow([item.product, item.quantity, item.unit, item.price, builder.currency])
            number_text = f"Q-{when.year}-{builder.index:05d}"
            msg.add_attachment(
                buffer.getvalue().encode("utf-8"),
                maintype="text",
                subtype="csv",
                filename=f"quotation-{number_text}.csv",
            )
        for part_number, part in enumerate(msg.walk()):
            if part.is_multipart():  # fixed boundaries: the same seed gives the same bytes
                part.set_boundary(f"=_quoteflow_{builder.index}_{number}_{part_number}_{rng.getrandbits(32):08x}")
        messages.append(bytes(msg))
        previous = _Rendered(plain=plain, when=when, sender=writer, subject=subject)
    return messages, "\n".join(all_new_text)


def generate_thread(seed: int, index: int) -> SyntheticThread:
    """Thread ``index`` of ``seed``: its mail and its expected.json payload (deterministic)."""
    builder = ThreadBuilder(seed, index)
    builder.play()
    messages, bodies = render_thread(builder)
    facts = builder.truth(bodies)
    expected = {
        "id": builder.case_id,
        "expected": facts.model_dump(mode="json"),
        "summary": builder.summary(facts),
        "tags": builder.tags(facts),
        "language": builder.mode,
        "generator": "template",
        "seed": seed,
        "index": index,
        "industry": builder.industry.key,
        "kind": builder.kind,
        "events": builder.events,
        "messages": len(messages),
        "features": {
            "html_only": any(d.html_only for d in builder.drafts),
            "html_alternative": any(d.html_alternative for d in builder.drafts),
            "forwarded": any(d.forwarded for d in builder.drafts),
            "clients": sorted({builder.buyer.client, builder.supplier.client}),
            "styles": {"buyer": builder.buyer.style, "supplier": builder.supplier.style},
            "typos": builder.typos,
        },
    }
    return SyntheticThread(case_id=builder.case_id, messages=messages, expected=expected)
