"""Render key facts as a quote document: Decimal money, sandboxed Jinja2 templates.

Text from e-mail reaches templates only as data: the sandbox forbids attribute
tricks and HTML output is autoescaped, so ``<script>`` or ``{{ }}`` in a product
name is shown, never run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from services.quote.numbering import QuoteSlot
from services.quote.settings import QuoteSettings
from shared.events import FactsExtracted, QuoteLine

ZERO_DECIMAL_CURRENCIES = {"KRW", "JPY", "VND", "CLP", "ISK", "HUF"}
REQUIRED_FIELDS = ("buyer", "items", "items.quantity", "items.unit_price", "currency")


def quantum(currency: str | None) -> Decimal:
    return Decimal("1") if (currency or "").upper() in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def round_money(value: Decimal, currency: str | None) -> Decimal:
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def format_money(value: Decimal | None, currency: str | None, language: str) -> str | None:
    if value is None:
        return None
    q = quantum(currency)
    text = f"{value.quantize(q):,}" if q == 1 else f"{value.quantize(q):,.2f}"
    code = (currency or "").upper()
    if code == "KRW" and language == "ko":
        return f"{text}원"
    return f"{code} {text}".strip()


@dataclass
class RenderedQuote:
    """The computed document and its totals."""

    lines: list[QuoteLine]
    subtotal: Decimal | None
    vat: Decimal | None
    total: Decimal | None
    markdown: str
    html: str
    missing_fields: list[str] = field(default_factory=list)

    @property
    def needs_review(self) -> bool:
        return bool(self.missing_fields)


def _environment(settings: QuoteSettings, tenant: str) -> SandboxedEnvironment:
    loaders: list[BaseLoader] = []
    if settings.template_dir is not None:
        tenant_dir = Path(settings.template_dir) / tenant
        if tenant_dir.is_dir():
            loaders.append(FileSystemLoader(str(tenant_dir)))
    loaders.append(PackageLoader("services.quote", "templates"))
    return SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def compute_lines(event: FactsExtracted) -> tuple[list[QuoteLine], Decimal | None, list[str]]:
    """Priced lines and subtotal; a line without quantity or price leaves the subtotal unknown."""
    facts = event.facts
    currency = facts.currency
    missing: list[str] = []
    lines: list[QuoteLine] = []
    subtotal: Decimal | None = Decimal(0)
    for item in facts.items:
        qty = Decimal(str(item.quantity)) if item.quantity is not None else None
        price = Decimal(str(item.unit_price)) if item.unit_price is not None else None
        amount = round_money(qty * price, item.currency or currency) if qty is not None and price is not None else None
        if qty is None and "items.quantity" not in missing:
            missing.append("items.quantity")
        if price is None and "items.unit_price" not in missing:
            missing.append("items.unit_price")
        lines.append(
            QuoteLine(product=item.product or "", quantity=qty, unit=item.unit, unit_price=price, amount=amount)
        )
        subtotal = subtotal + amount if subtotal is not None and amount is not None else None
    if not lines:
        missing.append("items")
        subtotal = None
    return lines, subtotal, missing


def render_quote(event: FactsExtracted, slot: QuoteSlot, settings: QuoteSettings, today: date) -> RenderedQuote:
    """Compute totals and render Markdown and HTML in the thread's language."""
    facts = event.facts
    language = "ko" if event.language in ("ko", "mixed") else "en"
    lines, subtotal, missing = compute_lines(event)
    if facts.buyer is None or not (facts.buyer.company or facts.buyer.name):
        missing.insert(0, "buyer")
    if facts.currency is None:
        missing.append("currency")
    vat = round_money(subtotal * settings.vat_rate, facts.currency) if subtotal is not None else None
    total = subtotal + vat if subtotal is not None and vat is not None else None
    context = {
        "quote_number": slot.quote_number,
        "revision": slot.revision,
        "issue_date": today.isoformat(),
        "valid_until": (today + timedelta(days=settings.validity_days)).isoformat(),
        "facts": facts.model_dump(),
        "lines": [
            {
                "product": line.product,
                "quantity": line.quantity,
                "unit": line.unit or "",
                "unit_price": format_money(line.unit_price, facts.currency, language),
                "amount": format_money(line.amount, facts.currency, language),
            }
            for line in lines
        ],
        "subtotal": format_money(subtotal, facts.currency, language),
        "vat": format_money(vat, facts.currency, language),
        "vat_percent": f"{settings.vat_rate * 100:.0f}",
        "total": format_money(total, facts.currency, language),
        "supplier_name": (facts.supplier.company if facts.supplier else None) or settings.supplier_name,
        "missing_fields": missing,
    }
    env = _environment(settings, event.tenant)
    markdown = env.get_template(f"quote_{language}.md.j2").render(context)
    html = env.get_template(f"quote_{language}.html.j2").render(context)
    return RenderedQuote(
        lines=lines, subtotal=subtotal, vat=vat, total=total, markdown=markdown, html=html, missing_fields=missing
    )
