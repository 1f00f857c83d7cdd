"""Tables: mail tables, HTML tables and attachment tables, all rendered by ingest as ``cell | cell`` rows.

A header row names its columns (품명/수량/단위/단가 or product/qty/unit/price); the rows under it
are priced lines. The reader keeps the header while a table lasts, so a row's cells map to
product, quantity, price and discount wherever the columns stand. A document's currency,
stated once ("금액 단위: 원", "Currency: USD") instead of in every cell, is read here too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from services.extract.rules.items import ProductMention
from services.extract.rules.money import CURRENCY_CODE, CURRENCY_TOKEN, currency_code, find_money
from services.extract.rules.numbers import NUMBER, parse_number
from services.extract.rules.quantities import ENGLISH_UNIT, KOREAN_UNIT
from services.extract.rules.vocabulary import CURRENCY_NAMES


@dataclass(frozen=True)
class QuantityCell:
    """The quantity a row states, its unit (from the cell or a unit column) and the span of the number."""

    value: float
    unit: str | None
    start: int
    end: int


@dataclass(frozen=True)
class PriceCell:
    """The unit price a row states; currency None when the cell has none (the header or document says it)."""

    value: float
    currency: str | None
    start: int
    end: int


@dataclass(frozen=True)
class DiscountCell:
    """A discount percentage in a row's discount column."""

    value: float
    start: int
    end: int


@dataclass
class TableRow:
    """A priced line of a table: product cell, quantity cell, price cell (offsets into the row text)."""

    product: ProductMention | None
    quantity: QuantityCell | None
    unit_price: PriceCell | None
    discount: DiscountCell | None


_HEADER = {
    "product": re.compile(
        r"품명|품목|제품|상품|항목|모델|item|product|description|model|part|goods|spec|name|내역|규격", re.I
    ),
    "quantity": re.compile(r"수량|qty|quantity|q'ty", re.I),
    "unit": re.compile(r"^(?:단위|unit|uom)$", re.I),
    "price": re.compile(r"단가|unit price|price|가격|u/price|rate|공급가", re.I),
    "amount": re.compile(r"금액|amount|total|합계|소계|ext", re.I),
    "discount": re.compile(r"할인|discount|dc", re.I),
}
_STRONG_PRODUCT = re.compile(r"품명|제품명|품목명|상품명|description|product|goods", re.I)
_CURRENCY_IN_HEADER = re.compile(rf"\((?P<c>{CURRENCY_TOKEN})\)|(?P<c2>{CURRENCY_CODE}|원)")


def _cells(row: str) -> list[tuple[int, str]]:
    cells = []
    offset = 0
    for part in row.split("|"):
        stripped = part.strip()
        lead = len(part) - len(part.lstrip())
        cells.append((offset + lead, stripped))
        offset += len(part) + 1
    return cells


def parse_header(row: str) -> dict[str, int] | None:
    """Column index per role when the row is a table header."""
    columns: dict[str, int] = {}
    for index, (_, cell) in enumerate(_cells(row)):
        if not cell or re.search(r"\d{2,}", cell):
            continue
        for role in ("unit", "discount", "quantity", "amount", "price", "product"):
            if role not in columns and _HEADER[role].search(cell):
                if role == "price" and _HEADER["amount"].search(cell) and not re.search(r"단가|unit", cell, re.I):
                    continue
                columns[role] = index
                break
    if "product" in columns:
        # 'Item' or 'No.' first often holds the line number: a later 'Description' / '품명' names the product.
        cells = [cell for _, cell in _cells(row)]
        if not _STRONG_PRODUCT.search(cells[columns["product"]]):
            stronger = next(
                (i for i, cell in enumerate(cells) if i > columns["product"] and _STRONG_PRODUCT.search(cell)), None
            )
            if stronger is not None and stronger not in columns.values():
                columns["product"] = stronger
    if "product" in columns and ("price" in columns or "quantity" in columns):
        return columns
    return None


def header_currency(row: str) -> str | None:
    match = _CURRENCY_IN_HEADER.search(row)
    if not match:
        return None
    token = match.group("c") or match.group("c2")
    return currency_code(token) or token


def parse_table_row(row: str, columns: dict[str, int]) -> TableRow | None:
    """A data row under a known header; None for total or empty rows."""
    cells = _cells(row)
    if len(cells) <= columns.get("product", 0):
        return None
    product_offset, product_text = cells[columns["product"]]
    if not product_text or re.match(
        r"(?i)^(?:합계|소계|총계|총액|total|subtotal|grand total|vat|부가세|합)\b", product_text
    ):
        return None
    result = TableRow(
        ProductMention(product_text, product_offset, product_offset + len(product_text)), None, None, None
    )
    if "quantity" in columns and columns["quantity"] < len(cells):
        offset, text = cells[columns["quantity"]]
        match = re.match(rf"({NUMBER})\s?({KOREAN_UNIT}|{ENGLISH_UNIT})?", text)
        if match and (value := parse_number(match.group(1))) is not None:
            unit = match.group(2)
            if unit is None and "unit" in columns and columns["unit"] < len(cells):
                unit = cells[columns["unit"]][1] or None
            result.quantity = QuantityCell(value, unit, offset, offset + match.end())
    if "price" in columns and columns["price"] < len(cells):
        offset, text = cells[columns["price"]]
        money = find_money(text)
        if money:
            result.unit_price = PriceCell(
                money[0].value, money[0].currency, offset + money[0].start, offset + money[0].end
            )
        else:
            match = re.match(rf"({NUMBER})", text)
            if match and (value := parse_number(match.group(1))) is not None:
                result.unit_price = PriceCell(value, None, offset, offset + match.end())
    if "discount" in columns and columns["discount"] < len(cells):
        offset, text = cells[columns["discount"]]
        match = re.search(r"(\d{1,2}(?:\.\d+)?)\s?%", text)
        if match:
            result.discount = DiscountCell(float(match.group(1)), offset + match.start(), offset + match.end())
    return result


_CODE = rf"(?P<c>{CURRENCY_TOKEN}|{'|'.join(CURRENCY_NAMES)})"
_STATED = re.compile(
    rf"(?:통화|화폐|금액\s?단위|가격\s?단위|단위|currency|prices?\s+(?:are\s+)?(?:quoted\s+)?in|amounts?\s+in"
    rf"|all\s+prices\s+in)\s?[:：]?\s?\(?\s?{_CODE}(?![\w가-힣])",
    re.I,
)
_THOUSANDS = re.compile(r"(?:단위|unit)\s?[:：]?\s?\(?\s?(?:천\s?원|백만\s?원|1,?000\s?(?:원|KRW|USD))", re.I)


def document_currency(text: str) -> str | None:
    """The currency a document states for its amounts, else the one currency its amounts carry.

    None for 'unit: thousand won' (amounts would need scaling: better no currency than a wrong price)
    and for documents mixing currencies without saying which one the table uses.
    """
    if _THOUSANDS.search(text):
        return None
    stated = _STATED.search(text)
    if stated:
        return currency_code(stated.group("c")) or stated.group("c").upper()
    found = Counter(m.currency for m in find_money(text) if m.currency)
    return next(iter(found)) if len(found) == 1 else None


def priced_table(text: str) -> bool:
    """Whether a part has a table whose header names a price column: a quote or price list, what suppliers send."""
    return any("price" in (parse_header(line) or {}) for line in text.splitlines() if " | " in line)


@dataclass
class TableReader:
    """Reads one message's clauses in order, remembering the header of the table it is in."""

    default_currency: str | None
    """The currency of the view's tables when neither the cells nor the header say one (an attachment's)."""
    columns: dict[str, int] | None = None
    currency: str | None = None

    def read(self, text: str, is_table_line: bool) -> tuple[bool, TableRow | None]:
        """(whether the clause is table furniture with nothing to read, the priced row it is, if any)."""
        if not is_table_line:
            self.columns = None
            return False, None
        columns = parse_header(text)
        if columns:
            self.columns, self.currency = columns, header_currency(text) or self.default_currency
            return True, None
        if self.columns is None:
            return False, None
        row = parse_table_row(text, self.columns)
        return row is None, row
