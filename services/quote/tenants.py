"""Per-tenant quote configuration: ``<template_dir>/<tenant>/quote.toml`` over the service settings.

The tenant is the supplier organisation that sends the quote, so its profile holds
"our" company block (상호, 대표자, 사업자등록번호, …) and its standard terms. Standard
terms fill gaps in the facts only as the tenant's own wording, shown as such;
nothing from a profile is presented as if the buyer had agreed to it in the thread.

Example ``quote.toml``::

    vat_rate = "0.10"
    vat_mode = "excluded"
    validity_days = 14
    payment_terms = "납품 후 30일 이내 현금 결제"
    notes = ["운송비 별도"]

    [supplier]
    company = "대양부품(주)"
    representative = "박대양"
    registration_number = "123-45-67890"
    address = "경기도 안산시 단원구 …"
    phone = "031-000-0000"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.quote.money import RoundingName
from services.quote.settings import QuoteSettings, RequiredField
from services.quote.totals import VatMode
from shared.consumer import PermanentError

PROFILE_FILE = "quote.toml"
SAFE_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class QuoteConfigError(PermanentError):
    """A tenant's quote configuration or template is broken; the operator must fix it."""


class SupplierProfile(BaseModel):
    """Our company block on the document."""

    model_config = ConfigDict(extra="forbid")

    company: str | None = None
    name: str | None = Field(default=None, description="Contact person (담당자) when the facts name none.")
    representative: str | None = Field(default=None, description="대표자.")
    registration_number: str | None = Field(default=None, description="사업자등록번호 / business registration no.")
    address: str | None = None
    phone: str | None = None
    email: str | None = None


class TenantProfile(BaseModel):
    """The optional ``quote.toml`` of a tenant; unknown keys are an error so typos surface."""

    model_config = ConfigDict(extra="forbid")

    vat_rate: Decimal | None = Field(default=None, ge=0, le=1)
    vat_mode: VatMode | None = None
    vat_currencies: list[str] | None = None
    vat_rounding: RoundingName | None = None
    validity_days: int | None = Field(default=None, ge=1, le=3650)
    required_fields: list[RequiredField] | None = None
    language: Literal["auto", "ko", "en"] | None = None
    krw_symbol: bool = Field(default=False, description="₩1,234 instead of 1,234원 on Korean documents.")
    payment_terms: str | None = Field(default=None, description="Standard payment terms when the facts have none.")
    warranty_months: int | None = Field(default=None, ge=0, description="Standard warranty when the facts have none.")
    notes: list[str] = Field(default_factory=list, description="Notes printed on every quote.")
    supplier: SupplierProfile = Field(default_factory=SupplierProfile)


@dataclass(frozen=True)
class TenantConfig:
    """Settings merged with a tenant profile: everything one render needs to know."""

    tenant: str
    vat_rate: Decimal
    vat_mode: VatMode
    vat_currencies: tuple[str, ...]
    vat_rounding: RoundingName
    validity_days: int
    required_fields: tuple[str, ...]
    language: str
    krw_symbol: bool
    payment_terms: str | None
    warranty_months: int | None
    notes: tuple[str, ...]
    supplier: SupplierProfile
    template_folder: Path | None = None

    def vat_applies(self, currency: str | None) -> bool:
        return not self.vat_currencies or (currency or "").upper() in self.vat_currencies


def tenant_folder(settings: QuoteSettings, tenant: str) -> Path | None:
    """The tenant's override folder, if configured and present; unsafe tenant names get none."""
    if settings.template_dir is None or not SAFE_TENANT.match(tenant) or ".." in tenant:
        return None
    folder = Path(settings.template_dir) / tenant
    return folder if folder.is_dir() else None


def load_profile(folder: Path | None) -> TenantProfile:
    """Read ``quote.toml`` from the tenant folder; a broken file is a clear configuration error."""
    if folder is None or not (folder / PROFILE_FILE).is_file():
        return TenantProfile()
    path = folder / PROFILE_FILE
    try:
        return TenantProfile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise QuoteConfigError(f"{path}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise QuoteConfigError(f"{path}: {first}") from exc


def resolve_tenant(settings: QuoteSettings, tenant: str) -> TenantConfig:
    """The effective configuration of one tenant (profile values win over settings)."""
    folder = tenant_folder(settings, tenant)
    profile = load_profile(folder)
    supplier = profile.supplier
    if supplier.company is None and settings.supplier_name:
        supplier = supplier.model_copy(update={"company": settings.supplier_name})
    return TenantConfig(
        tenant=tenant,
        vat_rate=profile.vat_rate if profile.vat_rate is not None else settings.vat_rate,
        vat_mode=profile.vat_mode or settings.vat_mode,
        vat_currencies=tuple(c.upper() for c in (profile.vat_currencies or settings.vat_currencies)),
        vat_rounding=profile.vat_rounding or settings.vat_rounding,
        validity_days=profile.validity_days or settings.validity_days,
        required_fields=tuple(profile.required_fields or settings.required_fields),
        language=profile.language or settings.language,
        krw_symbol=profile.krw_symbol,
        payment_terms=profile.payment_terms,
        warranty_months=profile.warranty_months,
        notes=tuple(profile.notes),
        supplier=supplier,
        template_folder=folder,
    )


class TenantCache:
    """Resolved tenant configs, re-read when the tenant's ``quote.toml`` changes on disk."""

    def __init__(self, settings: QuoteSettings) -> None:
        self.settings = settings
        self._cache: dict[str, tuple[float | None, TenantConfig]] = {}

    def get(self, tenant: str) -> TenantConfig:
        folder = tenant_folder(self.settings, tenant)
        profile_path = folder / PROFILE_FILE if folder else None
        stamp = profile_path.stat().st_mtime if profile_path and profile_path.is_file() else None
        cached = self._cache.get(tenant)
        if cached and cached[0] == stamp and cached[1].template_folder == folder:
            return cached[1]
        config = resolve_tenant(self.settings, tenant)
        self._cache[tenant] = (stamp, config)
        return config
