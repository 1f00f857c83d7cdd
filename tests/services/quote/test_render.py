"""Rendered documents: golden files in both languages, missing facts, tenants, injection, PDF.

Regenerate the golden files after an intended layout change with
``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/services/quote/test_render.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from services.quote.numbering import QuoteSlot
from services.quote.render import QuoteRenderer, markdown_escape, render_pdf, render_quote
from services.quote.settings import QuoteSettings
from services.quote.tenants import QuoteConfigError
from shared.events import FactsExtracted, KeyFacts, LineItem, Party
from tests.conftest import EXAMPLES, REPO
from tests.services.quote.conftest import ISSUE_DATE, QUOTE_FIXTURES, SLOT

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _golden(name: str, text: str) -> None:
    path = QUOTE_FIXTURES / name
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; UPDATE_GOLDEN=1 regenerates it"


@pytest.mark.parametrize(
    ("facts", "stem"),
    [
        ("talk_ko.facts.json", "talk_ko"),
        ("valves_en.facts.json", "valves_en"),
        ("pumps_ko.facts.json", "pumps_ko"),  # VAT included and the Incoterm place stated by the extraction
    ],
)
def test_golden_documents(facts: str, stem: str) -> None:
    from tests.services.quote.conftest import load_event

    rendered = QuoteRenderer(QuoteSettings()).render(load_event(facts), SLOT, ISSUE_DATE)
    _golden(f"{stem}.md", rendered.markdown)
    _golden(f"{stem}.html", rendered.html)


def test_talk_example_is_a_korean_quote_with_the_talks_figures(talk_event: FactsExtracted) -> None:
    rendered = render_quote(talk_event, SLOT, QuoteSettings(), ISSUE_DATE)
    assert rendered.language == "ko"
    assert (rendered.subtotal, rendered.vat, rendered.total) == (Decimal(950_000), Decimal(95_000), Decimal(1_045_000))
    line = rendered.lines[0]
    assert (line.product, line.quantity, line.unit_price, line.amount) == ("X 제품", 100, 9500, 950_000)
    for text in ("| 1 | X 제품 | 100 | 개 | 9,500원 | 950,000원 |", "부가세 (10%, 별도) | 95,000원", "1,045,000원"):
        assert text in rendered.markdown
    assert "일금 일백사만오천 원정 (₩1,045,000)" in rendered.markdown
    assert "일금 일백사만오천 원정" in rendered.html
    assert not rendered.needs_review


def test_talk_thread_from_mail_to_quote() -> None:
    """The real example mbox through `quoteflow extract` (rules engine), then rendered."""
    process = subprocess.run(
        [sys.executable, "-m", "services.cli", "extract", str(EXAMPLES / "talk-x-product.mbox")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    if process.returncode != 0 and ("ImportError" in process.stderr or "ModuleNotFoundError" in process.stderr):
        pytest.skip(f"the extract service does not import in this tree: {process.stderr.strip().splitlines()[-1]}")
    assert process.returncode == 0, process.stderr
    data = json.loads(process.stdout)
    event = FactsExtracted.model_validate({k: v for k, v in data.items() if k in FactsExtracted.model_fields})
    rendered = render_quote(event, SLOT, QuoteSettings(), ISSUE_DATE)
    assert rendered.language == "ko"
    assert (rendered.subtotal, rendered.vat, rendered.total) == (Decimal(950_000), Decimal(95_000), Decimal(1_045_000))
    assert "# 견적서" in rendered.markdown
    assert "X 제품" in rendered.markdown and "9,500원" in rendered.markdown


def test_missing_facts_are_marked_never_invented() -> None:
    event = FactsExtracted(
        thread_id="t-missing",
        language="ko",
        facts=KeyFacts(currency="KRW", items=[LineItem(product="볼트", quantity=10, unit_price=None)]),
    )
    rendered = render_quote(event, SLOT, QuoteSettings(), ISSUE_DATE)
    assert rendered.needs_review
    assert rendered.missing_fields == ["buyer", "supplier.company", "items.0.unit_price", "delivery"]
    assert (rendered.subtotal, rendered.vat, rendered.total) == (None, None, None)
    assert rendered.markdown.count("확인 필요") >= 6
    assert "| 1 | 볼트 | 10 |  | 확인 필요 | 확인 필요 |" in rendered.markdown
    assert '<span class="tbc">확인 필요</span>' in rendered.html
    english = render_quote(event.model_copy(update={"language": "en"}), SLOT, QuoteSettings(), ISSUE_DATE)
    assert "To be confirmed" in english.markdown and "확인 필요" not in english.markdown


def test_incoterm_without_a_named_place_needs_review(valves_event: FactsExtracted) -> None:
    without_place = valves_event.model_copy(update={"evidence": [], "summary": "", "incoterm_place": None})
    rendered = render_quote(without_place, SLOT, QuoteSettings(), ISSUE_DATE)
    assert rendered.missing_fields == ["incoterm_place"]
    assert "FOB (named place: To be confirmed)" in rendered.markdown


def test_vat_status_from_the_thread_wins_over_the_default(talk_event: FactsExtracted) -> None:
    included = talk_event.model_copy(update={"summary": "최종 단가 9,500원 (부가세 포함)"})
    rendered = render_quote(included, SLOT, QuoteSettings(), ISSUE_DATE)
    assert (rendered.vat_mode, rendered.vat, rendered.total) == ("included", Decimal(0), Decimal(950_000))
    assert "부가세 (10%) 포함분 | 86,364원" in rendered.markdown
    conflict = talk_event.model_copy(update={"summary": "부가세 별도", "warnings": ["부가세 포함 언급"]})
    assert "vat_mode" in render_quote(conflict, SLOT, QuoteSettings(), ISSUE_DATE).missing_fields


def test_vat_status_of_the_extraction_wins_over_text_and_tenant_default(talk_event: FactsExtracted) -> None:
    stated = talk_event.model_copy(update={"vat_status": "included", "summary": "부가세 별도"})
    rendered = render_quote(stated, SLOT, QuoteSettings(vat_mode="excluded"), ISSUE_DATE)
    assert (rendered.vat_mode, rendered.event_vat_mode, rendered.total) == ("included", "included", Decimal(950_000))
    assert "vat_mode" not in rendered.missing_fields
    # With VAT inside the prices the 공급가액 is the amount without it: 950,000 = 863,636 + 86,364.
    assert "| 공급가액 | 863,636원 |" in rendered.markdown and "| 부가세 (10%) 포함분 | 86,364원 |" in rendered.markdown
    assert '<th>공급가액</th><td class="num">863,636원</td>' in rendered.html
    exempt = render_quote(talk_event.model_copy(update={"vat_status": "exempt"}), SLOT, QuoteSettings(), ISSUE_DATE)
    assert (exempt.vat_mode, exempt.vat, exempt.total) == ("exempt", Decimal(0), Decimal(950_000))
    assert "| 부가세 | 면세 |" in exempt.markdown


def test_incoterm_place_of_the_extraction_is_shown_with_the_code(valves_event: FactsExtracted) -> None:
    bare = valves_event.model_copy(update={"evidence": [], "summary": "", "incoterm_place": "Busan"})
    rendered = render_quote(bare, SLOT, QuoteSettings(), ISSUE_DATE)
    assert "- Incoterm: FOB Busan (Incoterms® 2020)" in rendered.markdown
    assert "<dd>FOB Busan (Incoterms® 2020)</dd>" in rendered.html
    assert "incoterm_place" not in rendered.missing_fields and not rendered.needs_review
    korean = render_quote(bare.model_copy(update={"language": "ko"}), SLOT, QuoteSettings(), ISSUE_DATE)
    assert "- 인도 조건: FOB Busan (Incoterms® 2020)" in korean.markdown


def test_hostile_incoterm_place_is_shown_never_executed(valves_event: FactsExtracted) -> None:
    hostile = valves_event.model_copy(update={"incoterm_place": "<script>alert(1)</script> {{ 7*7 }}"})
    rendered = render_quote(hostile, SLOT, QuoteSettings(), ISSUE_DATE)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>" not in rendered.markdown and r"{{ 7\*7 }}" in rendered.markdown  # shown, not evaluated to 49
    assert "{{ 7*7 }}" in rendered.html and "49" not in rendered.html


def test_dates_are_on_the_rendered_quote(talk_event: FactsExtracted) -> None:
    rendered = render_quote(talk_event, SLOT, QuoteSettings(validity_days=14), ISSUE_DATE)
    assert (rendered.issue_date.isoformat(), rendered.valid_until.isoformat()) == ("2026-03-03", "2026-03-17")


def test_foreign_currency_quotes_carry_no_korean_vat(valves_event: FactsExtracted) -> None:
    rendered = render_quote(valves_event, SLOT, QuoteSettings(), ISSUE_DATE)
    assert (rendered.vat_mode, rendered.vat, rendered.total) == ("not_applicable", Decimal(0), Decimal("8360.00"))
    assert rendered.event_vat_mode == "exempt"  # the event's VatStatus: no VAT charged (zero-rated export)
    stated = render_quote(valves_event.model_copy(update={"vat_status": "excluded"}), SLOT, QuoteSettings(), ISSUE_DATE)
    assert stated.vat_mode == "not_applicable"  # which currencies carry Korean VAT is the tenant's policy
    everywhere = render_quote(valves_event, SLOT, QuoteSettings(vat_currencies=[]), ISSUE_DATE)
    assert (everywhere.vat, everywhere.total) == (Decimal("836.00"), Decimal("9196.00"))


def test_revision_and_validity_are_on_the_document(talk_event: FactsExtracted) -> None:
    settings = QuoteSettings(validity_days=14)
    rendered = render_quote(talk_event, QuoteSlot("Q-2026-000123", 3), settings, ISSUE_DATE)
    assert "Q-2026-000123 (개정 3)" in rendered.markdown
    assert "2026년 3월 17일까지 (견적일로부터 14일)" in rendered.markdown


HOSTILE = [
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "<img src=x onerror=alert(1)>",
    "a | b\n| injected | row |",
    "[click](javascript:alert(1))",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_email_text_is_shown_never_executed(payload: str) -> None:
    event = FactsExtracted(
        thread_id="t-xss",
        language="en",
        facts=KeyFacts(
            buyer=Party(name=payload, company=payload, email=payload),
            supplier=Party(company=payload),
            currency="USD",
            items=[LineItem(product=payload, quantity=1, unit=payload, unit_price=1)],
            payment_terms=payload,
            delivery_lead_time_days=1,
        ),
    )
    rendered = render_quote(event, SLOT, QuoteSettings(), ISSUE_DATE)
    html, markdown = rendered.html, rendered.markdown
    tags = _TagCollector()
    tags.feed(html)
    assert tags.names <= TEMPLATE_TAGS, tags.names - TEMPLATE_TAGS  # no element came from the e-mail
    assert not [a for a in tags.attributes if a.startswith("on")]
    first_line = payload.split("\n")[0]
    assert str(escape(first_line)) in html  # shown literally: {{ 7*7 }} stays {{ 7*7 }}, never 49
    assert "<" not in markdown  # raw HTML would pass through a Markdown renderer
    item_rows = [row for row in markdown.splitlines() if row.startswith("| 1 |")]
    assert len(item_rows) == 1
    assert len(re.findall(r"(?<!\\)\|", item_rows[0])) == 8  # seven cells, whatever the product name holds
    assert "](javascript:" not in markdown.replace("\\]", "")
    assert rendered.total == Decimal("1.00")


TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "div", "span", "b", "section", "p",
    "table", "caption", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "ul", "li", "code",
}  # fmt: skip


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes.update(name for name, _ in attrs)


def test_markdown_escape() -> None:
    assert markdown_escape("a|b") == "a\\|b"
    assert markdown_escape("*bold* _x_ [l](u)") == "\\*bold\\* \\_x\\_ \\[l\\](u)"
    assert markdown_escape("<b>&amp;</b> R&D") == "&lt;b&gt;&amp;amp;&lt;/b&gt; R&D"
    assert markdown_escape("two\nlines") == "two lines"
    assert markdown_escape(5) == 5


def _tenant(tmp_path: Path, tenant: str, files: dict[str, str]) -> QuoteSettings:
    folder = tmp_path / tenant
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return QuoteSettings(template_dir=tmp_path)


def test_tenant_profile_sets_company_block_vat_and_standard_terms(tmp_path: Path, talk_event: FactsExtracted) -> None:
    profile = """
vat_rate = "0.08"
validity_days = 10
payment_terms = "납품 후 30일 이내 현금 결제"
required_fields = ["buyer", "supplier", "delivery", "payment_terms"]
notes = ["운송비 별도"]
krw_symbol = true

[supplier]
company = "대양부품(주)"
representative = "박대양"
registration_number = "123-45-67890"
address = "경기도 안산시 단원구 <1번지>"
phone = "031-000-0000"
"""
    settings = _tenant(tmp_path, "daeyang", {"quote.toml": profile})
    event = talk_event.model_copy(update={"tenant": "daeyang"})
    rendered = render_quote(event, SLOT, settings, ISSUE_DATE)
    assert rendered.vat == Decimal(76_000) and rendered.total == Decimal(1_026_000)
    assert not rendered.needs_review  # payment terms come from the tenant's standard terms, marked as such
    assert "결제 조건: 납품 후 30일 이내 현금 결제 (당사 표준 조건)" in rendered.markdown
    assert "₩1,026,000" in rendered.markdown and "1,026,000원" not in rendered.markdown
    assert "123-45-67890" in rendered.html and "&lt;1번지&gt;" in rendered.html
    assert "운송비 별도" in rendered.markdown
    assert "2026년 3월 13일까지" in rendered.markdown
    other = render_quote(talk_event, SLOT, settings, ISSUE_DATE)  # another tenant keeps the defaults
    assert other.vat == Decimal(95_000)


def test_tenant_template_overrides_and_extends_builtin(tmp_path: Path, talk_event: FactsExtracted) -> None:
    settings = _tenant(
        tmp_path,
        "acme",
        {
            "quote_ko.md.j2": "ACME {{ quote_number }} {{ totals.total }} {{ lines[0].product }}\n",
            "quote.css": "body { color: #123456; }\n",
        },
    )
    rendered = render_quote(talk_event.model_copy(update={"tenant": "acme"}), SLOT, settings, ISSUE_DATE)
    assert rendered.markdown == "ACME Q-2026-000123 1,045,000원 X 제품\n"
    assert "#123456" in rendered.html and "견적서" in rendered.html  # built-in HTML, tenant's CSS


def test_tenant_folder_cannot_escape_the_template_dir(tmp_path: Path, talk_event: FactsExtracted) -> None:
    settings = _tenant(tmp_path / "templates", "x", {})
    (tmp_path / "quote_ko.md.j2").write_text("ESCAPED\n", encoding="utf-8")
    for tenant in ("..", "../templates/..", "/etc", ".hidden"):
        rendered = render_quote(talk_event.model_copy(update={"tenant": tenant}), SLOT, settings, ISSUE_DATE)
        assert "ESCAPED" not in rendered.markdown


def test_sandbox_blocks_unsafe_tenant_templates(tmp_path: Path, talk_event: FactsExtracted) -> None:
    settings = _tenant(tmp_path, "evil", {"quote_ko.md.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    with pytest.raises(QuoteConfigError, match=r"quote_ko\.md\.j2"):
        render_quote(talk_event.model_copy(update={"tenant": "evil"}), SLOT, settings, ISSUE_DATE)


def test_broken_tenant_configuration_is_a_clear_error(tmp_path: Path, talk_event: FactsExtracted) -> None:
    settings = _tenant(tmp_path, "typo", {"quote.toml": 'vat_rat = "0.1"\n'})
    with pytest.raises(QuoteConfigError, match="vat_rat"):
        render_quote(talk_event.model_copy(update={"tenant": "typo"}), SLOT, settings, ISSUE_DATE)
    settings = _tenant(tmp_path / "b", "syntax", {"quote_ko.html.j2": "{% if %}"})
    with pytest.raises(QuoteConfigError, match=r"quote_ko\.html\.j2"):
        render_quote(talk_event.model_copy(update={"tenant": "syntax"}), SLOT, settings, ISSUE_DATE)


def test_language_follows_the_thread_unless_fixed(talk_event: FactsExtracted) -> None:
    mixed = talk_event.model_copy(update={"language": "mixed"})
    assert render_quote(mixed, SLOT, QuoteSettings(), ISSUE_DATE).markdown.startswith("# 견적서")
    fixed = render_quote(talk_event, SLOT, QuoteSettings(language="en"), ISSUE_DATE)
    assert fixed.markdown.startswith("# Quotation") and "₩1,045,000" in fixed.markdown


def test_pdf_is_printed_with_weasyprint(talk_event: FactsExtracted) -> None:
    pdf = render_pdf(render_quote(talk_event, SLOT, QuoteSettings(), ISSUE_DATE).html)
    assert pdf.startswith(b"%PDF-")
    assert b"Noto" in pdf or len(pdf) > 10_000  # fonts embedded


def test_tenant_template_can_extend_the_builtin_one(tmp_path: Path, talk_event: FactsExtracted) -> None:
    child = (
        '{% extends "builtin/quote_ko.html.j2" %}'
        '{% block footer %}<p class="sign">{{ supplier.company }} 대표이사 (인)</p>{% endblock %}'
    )
    settings = _tenant(tmp_path, "stamp", {"quote_ko.html.j2": child})
    html = render_quote(talk_event.model_copy(update={"tenant": "stamp"}), SLOT, settings, ISSUE_DATE).html
    assert "대양부품 대표이사 (인)" in html
    assert "일금 일백사만오천 원정" in html  # everything else is the built-in document
