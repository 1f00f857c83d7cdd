"""Quote options (env prefix QUOTEFLOW_); a tenant's ``quote.toml`` overrides the document ones."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field

from services.quote.money import RoundingName
from services.quote.totals import VatMode
from shared.settings import Settings

# Items, quantities, prices and the currency are always required: without them there is no total.
RequiredField = Literal["buyer", "supplier", "delivery", "payment_terms", "incoterm", "warranty"]
DEFAULT_REQUIRED: tuple[RequiredField, ...] = ("buyer", "supplier", "delivery")


class QuoteSettings(Settings):
    """Document defaults for every tenant; ``<template_dir>/<tenant>/`` may override them."""

    service_name: str = "quote"
    vat_rate: Decimal = Field(default=Decimal("0.10"), ge=0, le=1, description="VAT rate (Korea 10 %).")
    vat_mode: VatMode = Field(
        default="excluded",
        description="VAT status when the thread states none: excluded (부가세 별도), included (포함), exempt.",
    )
    vat_currencies: list[str] = Field(
        default_factory=lambda: ["KRW"],
        description="Currencies VAT applies to; quotes in others (exports) carry none. Empty: all currencies.",
    )
    vat_rounding: RoundingName = Field(default="half_up", description="Rounding of VAT: half_up, half_even or down.")
    validity_days: int = Field(default=30, ge=1, le=3650, description="How long a quote is valid.")
    required_fields: list[RequiredField] = Field(
        default_factory=lambda: list(DEFAULT_REQUIRED),
        description="Facts a quote cannot go out without; missing ones set needs_review.",
    )
    template_dir: Path | None = Field(
        default=None,
        description="Folder of per-tenant overrides: <tenant>/quote_<ko|en>.<md|html>.j2 and <tenant>/quote.toml.",
    )
    supplier_name: str | None = Field(default=None, description="Our company name on quotes when facts lack it.")
    language: Literal["auto", "ko", "en"] = Field(
        default="auto", description="Document language; auto follows the thread (ko and mixed → 견적서)."
    )
    timezone: str = Field(default="Asia/Seoul", description="Time zone of issue dates and the yearly quote counter.")
    pdf_dir: Path | None = Field(
        default=None, description="When set, also write <pdf_dir>/<tenant>/<quote number>-r<revision>.pdf."
    )
