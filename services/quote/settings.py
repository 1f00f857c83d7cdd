"""Quote options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field

from shared.settings import Settings


class QuoteSettings(Settings):
    """Document defaults; tenants may override templates from a folder."""

    service_name: str = "quote"
    vat_rate: Decimal = Field(default=Decimal("0.10"), ge=0, le=1, description="VAT rate (Korea 10 %).")
    validity_days: int = Field(default=30, ge=1, description="How long a quote is valid.")
    template_dir: Path | None = Field(
        default=None, description="Folder with per-tenant template overrides (<tenant>/quote_<lang>.<fmt>.j2)."
    )
    supplier_name: str | None = Field(default=None, description="Our company name on quotes when facts lack it.")
