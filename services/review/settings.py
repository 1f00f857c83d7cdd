"""Review desk options (env prefix QUOTEFLOW_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from shared.settings import Settings
from shared.tenants import check_tenant

RequiredFact = str
"""buyer, supplier, delivery, payment_terms, incoterm or warranty (as QUOTEFLOW_REQUIRED_FIELDS of quote)."""
REQUIRED_CHOICES = ("buyer", "supplier", "delivery", "payment_terms", "incoterm", "warranty")


class ReviewSettings(Settings):
    """The review desk: a web app on the facts and quote topics, state in Redis."""

    service_name: str = "review"
    http_host: str = Field(
        default="127.0.0.1", description="Address the review desk listens on (0.0.0.0 in containers)."
    )
    http_port: int = Field(
        default=8090, ge=0, le=65535, description="Port of the review desk's web pages (0: any free port)."
    )
    users_file: Path | None = Field(
        default=None,
        description="YAML file of desk users (name, argon2 password hash, tenants), written by `quoteflow "
        "review-user add`; re-read when it changes. Unset: QUOTEFLOW_DATA_DIR/review-users.yaml.",
    )
    sso_header: str | None = Field(
        default=None,
        description="Request header carrying the user name set by a trusted SSO proxy (e.g. X-Forwarded-User); "
        "unset (the default): sign-in with passwords only. Only requests from review_trusted_proxies may use it.",
    )
    sso_tenants_header: str | None = Field(
        default=None,
        description="Header with the SSO user's tenants (comma-separated); unset: the tenants the users file "
        "gives that user name.",
    )
    review_trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Client addresses whose SSO headers are believed (the proxy in front of the desk).",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies (secret; the same on every replica). Unset: a random key "
        "per start, so sessions end with the process.",
    )
    session_max_age_s: int = Field(default=8 * 3600, ge=60, description="Sessions expire after this many seconds.")
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (true behind a TLS proxy)."
    )
    auto_approve: dict[str, float] = Field(
        default_factory=dict,
        description='Auto-approval threshold per tenant (JSON, e.g. {"acme": 0.9}; "*" for every other '
        "tenant): facts whose required values are all grounded, whose engines agree, that need no review and "
        "whose confidence reaches it skip the queue. No entry: every thread waits for a person.",
    )
    low_confidence: float = Field(
        default=0.8, ge=0, le=1, description="Threads whose confidence is below this come first in the queue."
    )
    review_required_fields: list[RequiredFact] = Field(
        default_factory=lambda: ["buyer", "supplier", "delivery"],
        description="Facts that must be present and grounded for auto-approval, besides items with quantity "
        "and unit price and the currency (use the same list as quote's QUOTEFLOW_REQUIRED_FIELDS).",
    )
    page_size: int = Field(default=25, ge=1, le=500, description="Threads per queue page.")
    review_ttl_days: int = Field(
        default=180, ge=1, description="Review records and audit logs expire after this many idle days."
    )
    login_max_failures: int = Field(
        default=10, ge=1, description="Failed sign-ins per user name and address before a 15-minute lock."
    )

    @field_validator("auto_approve")
    @classmethod
    def _tenants_and_ranges(cls, value: dict[str, float]) -> dict[str, float]:
        for tenant, threshold in value.items():
            if tenant != "*":
                check_tenant(tenant)
            if not 0 <= threshold <= 1:
                raise ValueError(f"auto_approve threshold for {tenant!r} must be between 0 and 1")
        return value

    @field_validator("review_required_fields")
    @classmethod
    def _known_required(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in REQUIRED_CHOICES]
        if unknown:
            raise ValueError(f"unknown required facts {unknown}: choose from {', '.join(REQUIRED_CHOICES)}")
        return value

    def threshold_for(self, tenant: str) -> float | None:
        """The tenant's auto-approval threshold, or None when its threads always wait for a person."""
        return self.auto_approve.get(tenant, self.auto_approve.get("*"))

    def users_path(self) -> Path:
        return self.users_file or self.data_dir / "review-users.yaml"
