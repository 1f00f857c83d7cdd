"""Render key facts as a quote document (견적서 / Quotation): Markdown, standalone HTML, PDF.

Everything a document shows is computed here (Decimal totals, Babel formatting,
Korean amount in words) and handed to the templates as plain data; templates only
lay it out. Text from e-mail reaches templates only as data: they run in Jinja2's
immutable sandbox, HTML output is autoescaped and Markdown output is escaped too
(Markdown renderers pass raw HTML through), so ``<script>`` or ``{{ }}`` in a
product name is shown, never run. A fact the quote needs but the facts lack, and a
stated fact outside the bounds of :mod:`services.quote.plausible` (a lead time of −100
days, the date 2026-13-45), is rendered as "확인 필요" / "To be confirmed" and listed in
``missing_fields``, so the quote needs review. So is a fact the extractor scored below
:data:`services.quote.plausible.MIN_FACT_CONFIDENCE` (the event's per-fact confidence): it is
printed, and listed to be confirmed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    Template,
    TemplateError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from services.quote.money import (
    LOCALES,
    format_money,
    format_percent,
    format_quantity,
    korean_amount_words,
    round_money,
)
from services.quote.numbering import QuoteSlot
from services.quote.plausible import PlausibleTerms, low_confidence_facts, plausible_terms
from services.quote.settings import QuoteSettings
from services.quote.tenants import QuoteConfigError, TenantCache, TenantConfig
from services.quote.terms import ThreadTerms, thread_terms
from services.quote.totals import HUNDRED, QuoteTotals, VatMode, compute_totals
from shared.events import FactsExtracted, KeyFacts, QuoteLine, VatStatus

FORMATS = ("md", "html")
TO_BE_CONFIRMED = {"ko": "확인 필요", "en": "To be confirmed"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


@dataclass
class RenderedQuote:
    """The computed document and its totals."""

    language: str
    currency: str | None
    lines: list[QuoteLine]
    subtotal: Decimal | None
    vat: Decimal | None
    total: Decimal | None
    markdown: str
    html: str
    vat_mode: VatMode
    issue_date: date
    valid_until: date
    missing_fields: list[str] = field(default_factory=list)
    low_confidence: list[str] = field(default_factory=list)
    """Facts printed but scored below the confidence threshold (also in ``missing_fields``, to be confirmed)."""

    @property
    def needs_review(self) -> bool:
        return bool(self.missing_fields)

    @property
    def event_vat_mode(self) -> VatStatus:
        """VAT as the public event states it: a currency VAT does not apply to (exports) carries none, i.e. exempt."""
        return "exempt" if self.vat_mode == "not_applicable" else self.vat_mode


class MarkdownCode(str):
    """An identifier of ours shown as a Markdown code span; only [A-Za-z0-9._-] survive."""

    __slots__ = ()

    def __new__(cls, identifier: str) -> MarkdownCode:
        return super().__new__(cls, "`" + re.sub(r"[^A-Za-z0-9._-]", "", identifier) + "`")


def markdown_escape(value: Any) -> Any:
    """Make e-mail text inert in Markdown: no tables broken, no raw HTML, no links or emphasis."""
    if not isinstance(value, str) or isinstance(value, Markup | MarkdownCode):
        return value
    text = " ".join(value.split())  # newlines would end a table row or list item
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _ENTITY_LIKE.sub("&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


def document_language(event: FactsExtracted, config: TenantConfig) -> str:
    """ko for Korean and mixed threads (견적서), en otherwise, unless the tenant fixes one."""
    if config.language in ("ko", "en"):
        return config.language
    return "ko" if event.language in ("ko", "mixed") else "en"


class TemplateSet:
    """The two sandboxed environments (Markdown, HTML) for one override folder, compiled once."""

    def __init__(self, folder: Path | None) -> None:
        builtin = PackageLoader("services.quote", "templates")
        loaders: list[BaseLoader] = [FileSystemLoader(str(folder))] if folder else []
        loaders += [builtin, PrefixLoader({"builtin": builtin})]
        options: dict[str, Any] = {
            "loader": ChoiceLoader(loaders),
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
            "auto_reload": folder is not None,
        }
        self.folder = folder
        self.environments = {
            "md": ImmutableSandboxedEnvironment(autoescape=False, finalize=markdown_escape, **options),
            "html": ImmutableSandboxedEnvironment(autoescape=True, **options),
        }

    def template(self, language: str, fmt: str) -> Template:
        name = f"quote_{language}.{fmt}.j2"
        try:
            return self.environments[fmt].get_template(name)
        except TemplateError as exc:
            raise QuoteConfigError(f"template {name} ({self.folder or 'built-in'}): {exc}") from exc


class QuoteRenderer:
    """Renders quotes for any tenant; caches tenant configs and compiled templates (thread-safe)."""

    def __init__(self, settings: QuoteSettings) -> None:
        self.settings = settings
        self.tenants = TenantCache(settings)
        self._template_sets: dict[Path | None, TemplateSet] = {}
        self._lock = threading.Lock()

    def templates(self, folder: Path | None) -> TemplateSet:
        with self._lock:
            if folder not in self._template_sets:
                self._template_sets[folder] = TemplateSet(folder)
            return self._template_sets[folder]

    def render(self, event: FactsExtracted, slot: QuoteSlot, today: date) -> RenderedQuote:
        """Compute totals and render Markdown and HTML in the document language."""
        config = self.tenants.get(event.tenant)
        language = document_language(event, config)
        terms = thread_terms(event)
        vat_mode = _vat_mode(event.facts, config, terms)
        totals = compute_totals(
            event.facts, vat_mode=vat_mode, vat_rate=config.vat_rate, vat_rounding=config.vat_rounding
        )
        plausible = plausible_terms(event.facts, today)
        doubted = low_confidence_facts(event.facts, event.confidence)
        missing = _missing_fields(event.facts, config, terms, totals, plausible, doubted)
        context = build_context(
            event, slot, config, today, language, terms, totals, missing, plausible, low_confidence=doubted
        )
        templates = self.templates(config.template_folder)
        rendered: dict[str, str] = {}
        for fmt in FORMATS:
            try:
                text = templates.template(language, fmt).render(context)
                rendered[fmt] = text if text.endswith("\n") else text + "\n"
            except QuoteConfigError:
                raise
            except TemplateError as exc:  # includes SecurityError from the sandbox
                raise QuoteConfigError(f"template quote_{language}.{fmt}.j2 failed: {exc}") from exc
        return RenderedQuote(
            language=language,
            currency=totals.currency,
            lines=[line.as_event_line() for line in totals.lines],
            subtotal=totals.subtotal,
            vat=totals.vat,
            total=totals.total,
            markdown=rendered["md"],
            html=rendered["html"],
            vat_mode=vat_mode,
            issue_date=today,
            valid_until=valid_until(today, config),
            missing_fields=missing,
            low_confidence=doubted,
        )


_RENDERERS: dict[int, QuoteRenderer] = {}


def render_quote(event: FactsExtracted, slot: QuoteSlot, settings: QuoteSettings, today: date) -> RenderedQuote:
    """One-call rendering with a renderer cached per settings object (long-lived callers hold a QuoteRenderer)."""
    renderer = _RENDERERS.get(id(settings))
    if renderer is None or renderer.settings is not settings:
        if len(_RENDERERS) >= 16:
            _RENDERERS.clear()
        renderer = _RENDERERS[id(settings)] = QuoteRenderer(settings)
    return renderer.render(event, slot, today)


def valid_until(today: date, config: TenantConfig) -> date:
    """Last day the quote holds: the issue date plus the tenant's validity."""
    return today + timedelta(days=config.validity_days)


def _vat_mode(facts: KeyFacts, config: TenantConfig, terms: ThreadTerms) -> VatMode:
    """Which currencies carry VAT (tenant policy) first; then the thread (extraction, quoted text); then the default."""
    currency = facts.currency or next((i.currency for i in facts.items if i.currency), None)
    if not config.vat_applies(currency):
        return "not_applicable"
    if terms.vat_mode in ("included", "excluded", "exempt"):
        return terms.vat_mode  # type: ignore[return-value]
    return config.vat_mode


def _missing_fields(
    facts: KeyFacts,
    config: TenantConfig,
    terms: ThreadTerms,
    totals: QuoteTotals,
    plausible: PlausibleTerms,
    low_confidence: list[str] | None = None,
) -> list[str]:
    """Required facts that are absent, stated facts that are implausible, then facts the extractor was unsure of
    (printed, but to be confirmed), in document order."""
    required = set(config.required_fields)
    missing: list[str] = []
    if "buyer" in required and not (facts.buyer and (facts.buyer.company or facts.buyer.name)):
        missing.append("buyer")
    supplier_company = config.supplier.company or (facts.supplier and facts.supplier.company)
    if "supplier" in required and not supplier_company:
        missing.append("supplier.company")  # the issuing company; a contact person alone cannot issue a quote
    missing += totals.missing_fields
    if "delivery" in required and facts.delivery_lead_time_days is None and facts.delivery_date is None:
        missing.append("delivery")
    missing += [name for name in ("delivery_lead_time_days", "delivery_date") if name in plausible.doubtful]
    if "payment_terms" in required and not (facts.payment_terms or config.payment_terms):
        missing.append("payment_terms")
    if "incoterm" in required and facts.incoterm is None:
        missing.append("incoterm")
    if facts.incoterm is not None and terms.incoterm_place is None:
        missing.append("incoterm_place")  # Incoterms 2020 always name a place
    if "warranty" in required and facts.warranty_months is None and config.warranty_months is None:
        missing.append("warranty")
    missing += [name for name in ("warranty_months", "moq") if name in plausible.doubtful]
    if terms.vat_conflict:
        missing.append("vat_mode")
    missing += [path for path in low_confidence or [] if path not in missing]
    return missing


FIELD_LABELS = {
    "ko": {
        "buyer": "수신처(구매자)",
        "supplier.company": "공급자 상호",
        "currency": "통화",
        "items": "품목",
        "product": "품명",
        "quantity": "수량",
        "unit_price": "단가",
        "delivery": "납기",
        "payment_terms": "결제 조건",
        "incoterm": "인도 조건",
        "incoterm_place": "인도 조건 지정 장소",
        "warranty": "보증 기간",
        "vat_mode": "부가세 포함 여부(스레드 내 상충)",
        "discount_percent": "할인율(범위 밖)",
        "delivery_lead_time_days": "납기 일수(범위 밖)",
        "delivery_date": "납기일(없는 날짜 또는 범위 밖)",
        "warranty_months": "보증 기간(범위 밖)",
        "moq": "최소 주문 수량(범위 밖)",
    },
    "en": {
        "buyer": "buyer",
        "supplier.company": "supplier company",
        "currency": "currency",
        "items": "items",
        "product": "description",
        "quantity": "quantity",
        "unit_price": "unit price",
        "delivery": "delivery",
        "payment_terms": "payment terms",
        "incoterm": "Incoterm",
        "incoterm_place": "Incoterm named place",
        "warranty": "warranty",
        "vat_mode": "VAT status (contradicting statements)",
        "discount_percent": "discount (out of range)",
        "delivery_lead_time_days": "delivery lead time (out of range)",
        "delivery_date": "delivery date (invalid or out of range)",
        "warranty_months": "warranty (out of range)",
        "moq": "minimum order quantity (out of range)",
    },
}


LOW_CONFIDENCE_NOTE = {"ko": "(추출 신뢰도 낮음)", "en": "(low extraction confidence)"}


def describe_missing(name: str, language: str, low_confidence: Collection[str] = ()) -> str:
    """A reviewer's label for a missing field: items.1.quantity → 품목 2 수량 / item 2 quantity; a fact the
    extractor was unsure of says so."""
    labels = FIELD_LABELS.get(language, FIELD_LABELS["en"])
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit():
        item = f"품목 {int(parts[1]) + 1}" if language == "ko" else f"item {int(parts[1]) + 1}"
        label = f"{item} {labels.get(parts[2], parts[2])}"
    else:
        label = labels.get(name, name)
    if name in low_confidence:
        label = f"{label} {LOW_CONFIDENCE_NOTE.get(language, LOW_CONFIDENCE_NOTE['en'])}"
    return label


def _format_date(value: date, language: str) -> str:
    return format_date(value, format="long", locale=LOCALES.get(language, "en_US"))


def build_context(
    event: FactsExtracted,
    slot: QuoteSlot,
    config: TenantConfig,
    today: date,
    language: str,
    terms: ThreadTerms,
    totals: QuoteTotals,
    missing: list[str],
    plausible: PlausibleTerms | None = None,
    low_confidence: Collection[str] = (),
) -> dict[str, Any]:
    """Plain data for the templates: strings, numbers, lists and dicts only (implausible facts left out)."""
    facts = event.facts
    checked = plausible or plausible_terms(facts, today)
    currency = totals.currency
    krw_suffix = None if not config.krw_symbol else False

    def money(value: Decimal | None, *, exact: bool = False) -> str | None:
        return format_money(value, currency, language, krw_suffix=krw_suffix, exact=exact)

    def money_symbol(value: Decimal | None) -> str | None:
        return format_money(value, currency, language, krw_suffix=False)

    valid_until_date = valid_until(today, config)
    buyer = facts.buyer
    fact_supplier = facts.supplier
    profile = config.supplier
    lines = []
    for number, line in enumerate(totals.lines, start=1):
        list_unit_price = None
        if line.discount_percent is not None and line.unit_price is not None and currency is not None:
            list_unit_price = round_money(line.unit_price * HUNDRED / (HUNDRED - line.discount_percent), currency)
        lines.append(
            {
                "no": number,
                "product": line.product,
                "quantity": format_quantity(line.quantity, language),
                "unit": line.unit,
                "unit_price": money(line.unit_price, exact=True),
                "amount": money(line.amount),
                "discount_percent": format_percent(line.discount_percent) if line.discount_percent else None,
                "list_unit_price": money(list_unit_price),
                "missing": sorted(f.rsplit(".", 1)[1] for f in missing if f.startswith(f"items.{number - 1}.")),
            }
        )
    supply_value = (
        totals.subtotal - totals.vat_contained
        if totals.subtotal is not None and totals.vat_contained is not None
        else None
    )
    delivery_date = checked.delivery_date
    moq_unit = totals.lines[0].unit if len({line.unit for line in totals.lines}) == 1 and totals.lines else None
    return {
        "language": language,
        "tbc": TO_BE_CONFIRMED[language],
        "thread_id": event.thread_id,
        "tenant": event.tenant,
        "engine": event.engine,
        "quote_number": slot.quote_number,
        "revision": slot.revision,
        "issue_date": _format_date(today, language),
        "issue_date_iso": today.isoformat(),
        "valid_until": _format_date(valid_until_date, language),
        "valid_until_iso": valid_until_date.isoformat(),
        "validity_days": config.validity_days,
        "buyer": {
            "company": buyer.company if buyer else None,
            "name": buyer.name if buyer else None,
            "email": buyer.email if buyer else None,
        },
        "supplier": {
            "company": profile.company or (fact_supplier.company if fact_supplier else None),
            "name": (fact_supplier.name if fact_supplier else None) or profile.name,
            "email": (fact_supplier.email if fact_supplier else None) or profile.email,
            "representative": profile.representative,
            "registration_number": profile.registration_number,
            "address": profile.address,
            "phone": profile.phone,
        },
        "currency": currency,
        "lines": lines,
        "totals": {
            "gross": money(totals.gross),
            "discount": money(totals.discount),
            "subtotal": money(totals.subtotal),
            "supply_value": money(supply_value),
            "vat": money(totals.vat),
            "vat_contained": money(totals.vat_contained),
            "total": money(totals.total),
            "total_symbol": money_symbol(totals.total),
            "total_words": korean_amount_words(totals.total, currency) if totals.total is not None else None,
        },
        "vat": {"mode": totals.vat_mode, "percent": format_percent(config.vat_rate * HUNDRED)},
        "delivery": {
            "lead_time_days": checked.lead_time_days,
            "date": _format_date(delivery_date, language) if delivery_date else None,
            "shipping_method": facts.shipping_method,
        },
        "incoterm": {"code": facts.incoterm, "place": terms.incoterm_place} if facts.incoterm else None,
        "payment_terms": (
            {"text": facts.payment_terms, "standard": False}
            if facts.payment_terms
            else ({"text": config.payment_terms, "standard": True} if config.payment_terms else None)
        ),
        "warranty": (
            {"months": checked.warranty_months, "standard": False}
            if checked.warranty_months is not None
            # A stated but implausible warranty is to be confirmed, not replaced by our standard terms.
            else (
                {"months": config.warranty_months, "standard": True}
                if config.warranty_months is not None and facts.warranty_months is None
                else None
            )
        ),
        "moq": {"quantity": format_quantity(checked.moq, language), "unit": moq_unit} if checked.moq else None,
        "notes": list(config.notes),
        "missing_fields": missing,
        "missing_described": [
            # Field names are our own identifiers ([a-z0-9._]): safe as a Markdown code span.
            {"field": name, "code": MarkdownCode(name), "label": describe_missing(name, language, low_confidence)}
            for name in missing
        ],
        "needs_review": bool(missing) or event.needs_review,
    }


def render_pdf(html: str) -> bytes:
    """Print the HTML document to PDF (:func:`shared.pdf.html_to_pdf`); without WeasyPrint a QuoteConfigError."""
    from shared.pdf import PdfUnavailableError, html_to_pdf

    try:
        return html_to_pdf(html)
    except PdfUnavailableError as exc:
        raise QuoteConfigError(str(exc)) from exc


def pdf_path(pdf_dir: Path, tenant: str, quote_number: str, revision: int) -> Path:
    """Where the service writes a quote's PDF: <pdf_dir>/<tenant>/<number>-r<revision>.pdf.

    Built from the ids as they are (no lossy sanitising, which let two tenants share a
    folder): the tenant must follow the tenant-id rule and the quote number be a plain
    file name, and the result must stay inside ``pdf_dir``; otherwise QuoteConfigError.
    """
    from shared.tenants import check_plain_name, check_tenant, contained

    try:
        path = pdf_dir / check_tenant(tenant) / f"{check_plain_name(quote_number, 'quote number')}-r{int(revision)}.pdf"
        contained(pdf_dir, path)
    except ValueError as exc:
        raise QuoteConfigError(f"cannot write the PDF: {exc}") from exc
    return path
