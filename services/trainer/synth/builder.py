"""Plays out one buyer–supplier negotiation from a seed, keeping the true terms in step with every sentence.

The builder owns the thread's ``random.Random`` and is the only place that draws from it: the cast, the
terms, each message's wording (:mod:`services.trainer.synth.templates`), the negotiation rounds
(:mod:`services.trainer.synth.acts`) and, in :meth:`ThreadBuilder.finish`, how every draft goes out as mail
(subject, send time, closing, signature, charset, ids). Output must stay byte-identical for a seed, so the
order of the draws is part of the contract: reorder nothing here without regenerating the training data.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, cast

from services.trainer.synth import catalog
from services.trainer.synth.acts import negotiate
from services.trainer.synth.catalog import CURRENCIES, NEUTRAL_UNITS, Company, Industry, Product
from services.trainer.synth.formatting import (
    KOREAN_UNITS,
    SHIPPING_PHRASES,
    fmt_budget,
    fmt_date,
    fmt_lead,
    fmt_money,
    fmt_qty,
    fmt_warranty,
    per_unit_ko,
    round_price,
    summary_money,
    unit_one,
)
from services.trainer.synth.mailtext import Quoted, multipart_count, plain_body
from services.trainer.synth.model import Block, BuiltThread, Draft, Forward, Item, Mail, Mode, Person, Side, Terms
from services.trainer.synth.templates import PHRASES, STYLES, add_typos, resolve_particles
from services.trainer.synth.truth import summary_language

CLIENTS = {"ko": ("gmail_ko", "outlook_ko", "naver", "none"), "en": ("gmail", "outlook", "outlook_new", "none")}
STYLE_TYPO_RATE = {"formal": 0.0, "friendly": 0.03, "brief": 0.05, "verbose": 0.015}
TRANSFER_ENCODINGS = ("base64", "quoted-printable", "8bit")
"""Content-Transfer-Encodings of UTF-8 parts, so parsers meet all three; EUC-KR parts are always base64."""


def _encodes_as(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


class ThreadBuilder:
    """Plays out one negotiation; keeps the true terms in step with every sentence written."""

    def __init__(self, seed: int, index: int) -> None:
        self.seed, self.index = seed, index
        self.rng = random.Random(f"quoteflow-synth:{seed}:{index}")
        self.case_id = f"synth-{seed}-{index:05d}"
        self.typos = 0
        self.events: list[str] = []
        self.drafts: list[Draft] = []
        self.mode: Mode = cast(Mode, self.rng.choices(("ko", "en", "mixed"), weights=(0.45, 0.35, 0.2))[0])
        self.industry: Industry = self.rng.choice(catalog.INDUSTRIES)
        self.buyer, self.supplier = self._cast()
        self.terms = self._terms()
        self.needed_date: date | None = None
        self.kind = "negotiation"
        rng = self.rng
        start = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(days=rng.randint(0, 640), hours=rng.randint(0, 9))
        self.clock = start.replace(hour=rng.randint(0, 9), minute=rng.choice((0, 5, 12, 20, 30, 41, 45, 58)))
        """The send time of the latest message; :meth:`finish` moves it on for every draft."""
        self.year = self.clock.year

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

    def _cast(self) -> tuple[Person, Person]:
        """Buyer and supplier: Korean companies in Korean threads, a foreign side in English and mixed ones."""
        rng = self.rng
        korean_a, korean_b = rng.sample(catalog.KOREAN_COMPANIES, 2)
        foreign = rng.choice(catalog.FOREIGN_COMPANIES)
        if self.mode == "ko":
            buyer = self._person(korean_a, True, "ko", "buyer")
            return buyer, self._person(korean_b, True, "ko", "supplier")
        if self.mode == "en":
            if rng.random() < 0.6:
                buyer = self._person(foreign, False, "en", "buyer")
                return buyer, self._person(korean_b, True, "en", "supplier")
            other = rng.choice([c for c in catalog.FOREIGN_COMPANIES if c != foreign])
            buyer = self._person(foreign, False, "en", "buyer")
            return buyer, self._person(other, False, "en", "supplier")
        if rng.random() < 0.5:
            buyer = self._person(korean_a, True, "ko", "buyer")
            return buyer, self._person(foreign, False, "en", "supplier")
        buyer = self._person(foreign, False, "en", "buyer")
        return buyer, self._person(korean_b, True, "ko", "supplier")

    def _terms(self) -> Terms:
        """The currency and the items at list price; every other term is unstated until a message states it."""
        rng = self.rng
        if self.mode == "ko":
            currency = "KRW" if rng.random() < 0.85 else "USD"
        elif self.mode == "en":
            currency = rng.choices(("USD", "EUR", "JPY", "CNY", "GBP", "AUD", "KRW"), (55, 14, 8, 8, 6, 6, 3))[0]
        else:
            currency = rng.choices(("USD", "KRW", "EUR"), (60, 30, 10))[0]
        count = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        products: list[Product] = rng.sample(self.industry.products, min(count, len(self.industry.products)))
        rate = CURRENCIES[currency][0]
        items: list[Item] = []
        for product in products:
            name_lang = "ko" if self.mode == "ko" else "en"
            unit = product.unit(name_lang)
            if self.mode == "mixed":
                unit = NEUTRAL_UNITS.get(product.unit_ko, product.unit_en)
            quantity = self.nice_quantity(rng.randint(product.qty_low, product.qty_high))
            price = round_price(rng.uniform(product.usd_low, product.usd_high) * rate, currency)
            items.append(
                Item(product=product.name(name_lang), unit=unit, quantity=quantity, list_price=price, price=price)
            )
        return Terms(currency=currency, items=items)

    def nice_quantity(self, raw: int) -> int:
        """A quantity people order: rounded to a step that fits its size."""
        for step in (1000, 500, 100, 50, 10, 5):
            if raw >= step * 4:
                return max(step, round(raw / step) * step)
        return max(1, raw)

    # ----------------------------------------------------------------- writing

    def person(self, side: Side) -> Person:
        """The writer of a draft of this side."""
        return self.buyer if side == "buyer" else self.supplier

    def other(self, side: Side) -> Person:
        """The reader of a draft of this side."""
        return self.supplier if side == "buyer" else self.buyer

    def say(self, side: Side, act: str, **values: Any) -> str:
        """A phrase for this act in the writer's language and style, typos outside the values."""
        writer = self.person(side)
        phrase = self.rng.choice(PHRASES[act][writer.lang])
        phrase, made = add_typos(phrase, self.rng, STYLE_TYPO_RATE[writer.style])
        self.typos += made
        return resolve_particles(phrase.format(**values))

    def money(self, side: Side, value: float) -> str:
        """Money in the thread's currency as this side writes it."""
        return fmt_money(value, self.terms.currency, self.person(side).lang, self.rng)

    def qty(self, side: Side, item: Item, quantity: float | None = None) -> str:
        """The item's quantity (or another one for it) as this side writes it."""
        return fmt_qty(item.quantity if quantity is None else quantity, item.unit, self.person(side).lang)

    def lead(self, side: Side, days: int, weeks: bool) -> str:
        """A lead time as this side writes it (brief writers abbreviate weeks)."""
        return fmt_lead(days, weeks, self.person(side).lang, self.person(side).style == "brief")

    def item_values(self, side: Side, item: Item, price: float | None = None) -> dict[str, Any]:
        """The placeholders item phrases use, at the item's price or another one."""
        return {
            "product": item.product,
            "qty": self.qty(side, item),
            "price": self.money(side, item.price if price is None else price),
            "per_unit": per_unit_ko(item.unit),
            "unit_one": unit_one(item.unit),
        }

    def payment_text(self, lang: str) -> str:
        """Payment terms as written in that language (the truth keeps the text as written)."""
        return self.rng.choice(catalog.PAYMENT_TERMS_KO if lang == "ko" else catalog.PAYMENT_TERMS_EN)

    def tier_price(self, item: Item, quantity: float) -> float:
        """The unit price of the highest tier the quantity reaches."""
        assert item.tiers
        price = item.tiers[0][1]
        for start, tier_price in item.tiers:
            if quantity >= start:
                price = tier_price
        return price

    def draft(self, side: Side, title_key: str) -> Draft:
        """A new message of this side, opened with a greeting (brief writers skip it after the first message)."""
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
        """A paragraph, and the summary line it contributes if any."""
        draft.blocks.append(Block(text))
        if gist:
            draft.gists.append(gist)

    def gist(self, ko: str, en: str) -> str:
        """A summary line in the thread's summary language."""
        return ko if summary_language(self.mode) == "ko" else en

    def summary_money(self, value: float) -> str:
        """Money as the summary writes it, whatever variant the mail used."""
        return summary_money(value, self.terms.currency)

    # ----------------------------------------------------------------- opening acts

    def inquiry(self) -> None:
        """The buyer's first message: the items, maybe a quote request, a budget, a date needed."""
        rng = self.rng
        terms = self.terms
        side: Side = "buyer"
        writer = self.buyer
        d = self.draft(side, "inquiry")
        if writer.style in ("formal", "verbose") or rng.random() < 0.3:
            self.add(d, self.say(side, "intro", my_company=writer.company, my_dept=writer.dept, my_name=writer.name))
        if writer.style == "verbose":
            self.add(d, self.say(side, "context"))
        ask_quote = rng.random() < 0.3
        if ask_quote:
            terms.quote_requested = True
            self.events.append("quote_request_in_inquiry")
            lead_in = self.say(side, "inquiry_quote")
        elif writer.style == "brief":
            lead_in = self.say(side, "inquiry_brief")
        else:
            lead_in = self.say(side, "inquiry_price")
        self.add(d, self._item_listing(side, lead_in, ask_quote))
        products = ", ".join(f"{i.product} {self.qty('buyer', i)}" for i in terms.items)
        d.gists.append(self.gist(f"{products} 가격·납기 문의", f"asked for price and lead time of {products}"))
        if ask_quote:
            d.gists.append(self.gist("견적서 요청", "requested a quotation"))
        if rng.random() < 0.2:
            total = sum(i.price * i.quantity for i in terms.items) * rng.uniform(0.9, 1.4)
            terms.budget = self._round_budget(total)
            self.add(d, self.say(side, "budget", budget=fmt_budget(terms.budget, terms.currency, writer.lang, rng)))
            d.gists.append(
                self.gist(f"예산 {self.summary_money(terms.budget)}", f"budget {self.summary_money(terms.budget)}")
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
        entries = [(item.product, self.qty(side, item)) for item in self.terms.items]
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
        """A budget as buyers state it: a round figure for its size."""
        if self.terms.currency in ("KRW", "JPY"):
            step = 10_000_000 if value > 100_000_000 else 1_000_000 if value > 5_000_000 else 100_000
        else:
            step = 10_000 if value > 100_000 else 1000 if value > 5000 else 100
        return float(max(step, round(value / step) * step))

    def offer(self) -> None:
        """The supplier's offer: prices (prose, table or tiers) and any of MOQ, lead time, Incoterm, payment, ..."""
        rng = self.rng
        terms = self.terms
        side: Side = "supplier"
        writer = self.supplier
        d = self.draft(side, "offer")
        self.add(d, self.say(side, "offer_intro"))
        style = rng.random()
        if len(terms.items) == 1 and style < 0.15 and terms.items[0].quantity >= 20:
            self._tiered_offer(d)
        elif (len(terms.items) > 1 and style < 0.5) or style < 0.3:
            self._table_offer(d)
        else:
            for item in terms.items:
                act = "offer_price_qty" if rng.random() < 0.3 else "offer_price"
                self.add(d, self.say(side, act, **self.item_values(side, item)))
        d.gists.append(
            self.gist(
                ", ".join(f"{i.product} {per_unit_ko(i.unit)} {self.summary_money(i.price)}" for i in terms.items),
                ", ".join(f"{i.product} at {self.summary_money(i.price)} per {unit_one(i.unit)}" for i in terms.items),
            )
        )
        stated: list[str] = []
        first = terms.items[0]
        if rng.random() < 0.5:
            terms.moq = float(self.nice_quantity(max(1, round(first.quantity * rng.choice((0.1, 0.25, 0.5))))))
            self.add(d, self.say(side, "moq", moq=fmt_qty(terms.moq, first.unit, writer.lang)))
            stated.append(f"MOQ {fmt_qty(terms.moq, first.unit, summary_language(self.mode))}")
        if rng.random() < 0.8:
            terms.lead_in_weeks = rng.random() < 0.5
            terms.lead_days = (
                rng.randint(1, 8) * 7 if terms.lead_in_weeks else rng.choice((3, 5, 7, 10, 14, 20, 30, 45, 60))
            )
            act = "lead_brief" if writer.style == "brief" else "lead"
            self.add(d, self.say(side, act, lead=self.lead(side, terms.lead_days, terms.lead_in_weeks)))
            stated.append(self.gist(f"납기 {terms.lead_days}일", f"lead time {terms.lead_days} days"))
        if rng.random() < (0.7 if self.mode != "ko" else 0.3):
            terms.incoterm = rng.choice(
                ("EXW", "FCA", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP", "FOB", "CIF")
            )
            port = rng.choice(catalog.PORTS)
            place = catalog.PORTS_KO[port] if writer.lang == "ko" and rng.random() < 0.6 else port
            self.add(d, self.say(side, "incoterm", incoterm=terms.incoterm, place=place))
            stated.append(f"{terms.incoterm} {port}")
        if rng.random() < 0.6:
            terms.payment = self.payment_text(writer.lang)
            self.add(d, self.say(side, "payment", payment=terms.payment))
            stated.append(self.gist(f"결제: {terms.payment}", f"payment: {terms.payment}"))
        if rng.random() < 0.35:
            terms.warranty = rng.choice((6, 12, 12, 18, 24, 24, 36, 60))
            self.add(d, self.say(side, "warranty", warranty=fmt_warranty(terms.warranty, writer.lang, rng)))
            stated.append(self.gist(f"보증 {terms.warranty}개월", f"warranty {terms.warranty} months"))
        if rng.random() < 0.4:
            terms.shipping = rng.choice(tuple(SHIPPING_PHRASES))
            self.add(d, self.say(side, "shipping", ship=rng.choice(SHIPPING_PHRASES[terms.shipping][writer.lang])))
            stated.append(self.gist(f"배송 {terms.shipping}", f"shipping {terms.shipping}"))
        confirm_needed = self.needed_date is not None and rng.random() < 0.6
        if confirm_needed or rng.random() < 0.12:
            when = (
                self.needed_date
                if confirm_needed and self.needed_date
                else (self.clock + timedelta(days=rng.randint(15, 80))).date()
            )
            terms.delivery_date = when
            self.add(d, self.say(side, "delivery_date", date=fmt_date(when, writer.lang, rng, self.year)))
            stated.append(self.gist(f"납품일 {when.isoformat()}", f"delivery by {when.isoformat()}"))
        if stated:
            d.gists.append(", ".join(stated))
        if rng.random() < 0.3:
            self.add(d, self.say(side, "validity"))
        if rng.random() < 0.25:
            d.html_only = rng.random() < 0.5
            d.html_alternative = not d.html_only
        if rng.random() < 0.06:
            d.forwarded = True
            self.events.append("forwarded_offer")

    def _tiered_offer(self, d: Draft) -> None:
        """Prices by quantity tier; the true price is the tier the requested quantity falls in."""
        rng = self.rng
        side: Side = "supplier"
        item = self.terms.items[0]
        quantity = item.quantity
        low = self.nice_quantity(max(2, quantity // rng.choice((2, 3, 4))))
        high = self.nice_quantity(quantity * rng.choice((2, 3, 5)))
        base = item.list_price
        currency = self.terms.currency
        tiers = [(1, base), (low, round_price(base * 0.95, currency)), (high, round_price(base * 0.9, currency))]
        item.tiers = tiers
        item.price = self.tier_price(item, quantity)
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

    def _table_offer(self, d: Draft) -> None:
        """Prices as a table (plain text or HTML when rendered)."""
        side: Side = "supplier"
        self.add(d, self.say(side, "table_intro"))
        header = (
            ["품목", "수량", "단가", "금액"] if self.supplier.lang == "ko" else ["Item", "Qty", "Unit price", "Amount"]
        )
        rows = [header]
        for item in self.terms.items:
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

    # ----------------------------------------------------------------- closing acts

    def quote_round(self) -> None:
        """A quote request (unless one was made already, half the time) and the quotation with its CSV."""
        rng = self.rng
        if not self.terms.quote_requested or rng.random() < 0.5:
            b = self.draft("buyer", "quote_request")
            self.add(
                b,
                self.say("buyer", "quote_request"),
                self.gist("최종 조건으로 견적서 요청", "asked for a formal quotation"),
            )
            self.terms.quote_requested = True
        s = self.draft("supplier", "final_quote")
        self.add(s, self.say("supplier", "final_quote"), self.gist("견적서 송부", "sent the quotation"))
        s.attach_quote = True
        if rng.random() < 0.5:
            lines = [self.say("supplier", "recap")]
            for item in self.terms.items:
                lines.append(f"- {item.product}: {self.qty('supplier', item)} × {self.money('supplier', item.price)}")
            self.add(s, "\n".join(lines))

    def closing_buyer(self) -> None:
        """The buyer confirms the order."""
        b = self.draft("buyer", "confirmation")
        self.add(b, self.say("buyer", "order_confirm"), self.gist("발주 예정 확인", "confirmed the order"))

    def inquiry_only_tail(self) -> None:
        """An inquiry that never gets an offer: maybe a follow-up, maybe a bare acknowledgement."""
        if self.rng.random() < 0.5:
            b = self.draft("buyer", "follow_up")
            self.add(b, self.say("buyer", "follow_up"), self.gist("회신 재요청", "followed up"))
        if self.rng.random() < 0.4:
            s = self.draft("supplier", "response")
            self.add(s, self.say("supplier", "ack_only"), self.gist("검토 후 회신 예정", "promised an offer"))

    # ----------------------------------------------------------------- play

    def play(self) -> None:
        """The whole negotiation: inquiry, then (unless inquiry only) offer, rounds and a quotation or closing."""
        kind = self.rng.choices(("inquiry_only", "offer", "negotiation"), (0.1, 0.2, 0.7))[0]
        self.kind = kind
        self.inquiry()
        if kind == "inquiry_only":
            self.inquiry_only_tail()
            return
        self.offer()
        if kind == "negotiation":
            negotiate(self, self.rng.choices((1, 2, 3), (0.45, 0.35, 0.2))[0])
        if self.terms.quote_requested or self.rng.random() < 0.6:
            self.quote_round()
        elif self.rng.random() < 0.4:
            self.closing_buyer()

    # ----------------------------------------------------------------- sending

    def finish(self) -> BuiltThread:
        """Decide how every draft goes out as mail, then hand over the thread with its truth final.

        The subject is chosen here because a subject asking for a quotation (견적, RFQ) is a quote request:
        the truth must know it before anything is rendered. Call once, after the drafts are written.
        """
        rng = self.rng
        first_product = self.terms.items[0].product
        if self.buyer.lang == "ko":
            base_subject = rng.choice(
                (f"{first_product} 가격 문의", f"[문의] {first_product} 견적 요청", f"{first_product} 구매 관련 문의")
            )
        else:
            base_subject = rng.choice(
                (f"Inquiry: {first_product}", f"RFQ - {first_product}", f"Price request for {first_product}")
            )
        if "견적" in base_subject or base_subject.startswith("RFQ"):
            self.terms.quote_requested = True
            self.events.append("quote_request_in_subject")
        mails: list[Mail] = []
        previous: Quoted | None = None
        for number, draft in enumerate(self.drafts):
            mail, plain = self._send(number, draft, base_subject, previous)
            mails.append(mail)
            previous = Quoted(plain=plain, sent_at=mail.sent_at, sender=self.person(draft.side), subject=mail.subject)
        return BuiltThread(
            case_id=self.case_id,
            seed=self.seed,
            index=self.index,
            mode=self.mode,
            industry=self.industry,
            kind=self.kind,
            buyer=self.buyer,
            supplier=self.supplier,
            terms=self.terms,
            drafts=self.drafts,
            mails=mails,
            base_subject=base_subject,
            events=self.events,
            typos=self.typos,
        )

    def _send(self, number: int, draft: Draft, base_subject: str, previous: Quoted | None) -> tuple[Mail, str]:
        """One draft's mail decisions (in the order they are drawn) and its plain body, which the next one quotes."""
        rng = self.rng
        writer, reader = self.person(draft.side), self.other(draft.side)
        self.clock += timedelta(hours=rng.randint(1, 30), minutes=rng.randint(0, 59))
        sent_at = self.clock
        closing = self.say(draft.side, "close")
        signature = self._signature(writer)
        delimiter = "-- \n" if rng.random() < 0.4 else ""
        if number == 0:
            subject = base_subject
        elif draft.forwarded:
            subject = ("전달: " if writer.lang == "ko" else "FW: ") + base_subject
        else:
            subject = rng.choice(("회신: ", "RE: ", "Re: ") if writer.lang == "ko" else ("RE: ", "Re: ")) + base_subject
        forward = None
        if draft.forwarded and previous is not None:
            intro = self.say(draft.side, "resend")
            forward = Forward(intro=intro, original_sent_at=sent_at - timedelta(days=rng.randint(1, 5)))
        mail = Mail(
            sent_at=sent_at,
            subject=subject,
            closing=closing,
            signature=signature,
            signature_delimiter=delimiter,
            message_id=f"<{rng.getrandbits(64):016x}.{self.index}.{number}@{writer.domain}>",
            forward=forward,
        )
        plain = plain_body(draft, mail, writer, reader, base_subject, previous)
        charset = "utf-8"
        if writer.lang == "ko" and rng.random() < 0.15 and _encodes_as(plain, "euc-kr"):
            charset = "euc-kr"
        encoding = rng.choice(TRANSFER_ENCODINGS) if charset == "utf-8" else "base64"
        boundary_tokens = tuple(rng.getrandbits(32) for _ in range(multipart_count(draft)))
        return replace(mail, charset=charset, transfer_encoding=encoding, boundary_tokens=boundary_tokens), plain

    def _signature(self, person: Person) -> str:
        """The writer's signature: a name for brief writers, a block otherwise, sometimes with a disclaimer."""
        rng = self.rng
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
