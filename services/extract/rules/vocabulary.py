"""The rules engine's word lists in one place: units, currencies, stop words, legal forms, public mail domains.

Kept as frozen tables (tuples, frozensets, read-only mappings) built once at import, so a new
currency, unit or legal form is one line here and every pattern that needs it (money.py,
quantities.py, items.py, tables.py, parties.py) picks it up. Order matters where a tuple or a
mapping feeds a regular expression: alternatives are sorted longest first, ties keep this order.
"""

# ruff: noqa: E501 -- word tables read best as long lines.

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def _words(text: str) -> tuple[str, ...]:
    """A whitespace-separated list, in its written order (tables below read best as prose)."""
    return tuple(text.split())


# ---------------------------------------------------------------- units
KOREAN_UNITS = _words(
    "개 대 세트 식 장 야드 미터 톤백 톤 박스 상자 롤 권 켤레 벌 병 팩 매 본 통 포 캔 건 명 조 카톤 파렛트 킬로그램 킬로미터 라이선스 copies"
)
"""Counters written right after a number in Korean (100개, 40대, 3,000야드)."""

ENGLISH_UNITS = _words(
    "pcs pc pieces piece units unit sets set kgs kg km meters metres meter metre m tons tonnes ton MT yards yard"
    " yds boxes box cartons carton ctns rolls roll pairs pair lots lot licenses licences license seats ea EA bags"
    " drums pallets bottles sheets liters litres L containers reels modules kits nos"
)
"""Units written after a number in English (20,000 pcs, 2,000 kg)."""

# ---------------------------------------------------------------- currencies
PREFIX_CURRENCIES: Mapping[str, str] = MappingProxyType(
    {
        "US$": "USD",
        "USD": "USD",
        "$": "USD",
        "₩": "KRW",
        "￦": "KRW",
        "KRW": "KRW",
        "€": "EUR",
        "EUR": "EUR",
        "¥": "JPY",
        "JPY": "JPY",
        "CNY": "CNY",
        "RMB": "CNY",
        "£": "GBP",
        "GBP": "GBP",
        "AUD": "AUD",
        "A$": "AUD",
        "CAD": "CAD",
        "C$": "CAD",
        "CHF": "CHF",
        "HKD": "HKD",
        "HK$": "HKD",
        "SGD": "SGD",
        "S$": "SGD",
        "NZD": "NZD",
        "NZ$": "NZD",
    }
)
"""Symbols and codes written before an amount (USD 0.42, ₩10,000, €4,850), to ISO 4217."""

SUFFIX_CURRENCIES: Mapping[str, str] = MappingProxyType(
    {
        "원": "KRW",
        "KRW": "KRW",
        "USD": "USD",
        "달러": "USD",
        "불": "USD",
        "EUR": "EUR",
        "유로": "EUR",
        "euros": "EUR",
        "euro": "EUR",
        "위안": "CNY",
        "元": "CNY",
        "CNY": "CNY",
        "RMB": "CNY",
        "엔": "JPY",
        "円": "JPY",
        "JPY": "JPY",
        "GBP": "GBP",
        "파운드": "GBP",
        "AUD": "AUD",
        "CAD": "CAD",
        "CHF": "CHF",
        "NZD": "NZD",
        "dollars": "USD",
    }
)
"""Codes and words written after an amount (10,000원, 0.42 USD, 4.850,00 EUR), to ISO 4217."""

CURRENCY_NAMES: Mapping[str, str] = MappingProxyType(
    {"won": "KRW", "dollar": "USD", "yen": "JPY", "yuan": "CNY", "VND": "VND", "dong": "VND"}
)
"""Currency names a document states ('Currency: won') that are never written beside an amount."""

MAGNITUDES: Mapping[str, float] = MappingProxyType(
    {"million": 1e6, "mio": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "k": 1e3, "K": 1e3, "M": 1e6}
)
"""Words that scale an amount (USD 1.2 million, 25k EUR)."""

# ---------------------------------------------------------------- product names
ENGLISH_STOP_WORDS = frozenset(
    _words(
        "at for with from by to in on per and or which that is are was were would will please could can as if but so we"
        " you they it this these those each delivered shipped within before after under including incl excluding plus"
        " total ex fob cif exw ddp dap fca cfr cpt cip fas dpu next every only also then than into via a an the our your"
        " of be been has have had do does did not no yes unit price usd eur krw should shall may might must need needed"
        " required delivery lead time quote quotation order"
    )
)
"""Words that end an English product phrase ('120 valves *for* the plant')."""

ENGLISH_LEADING_STOP_WORDS = frozenset(
    _words("the a an our your these those some more additional all of its their new same")
)
"""Words dropped from the start of an English product phrase."""

KOREAN_STOP_TOKENS = frozenset(
    _words(
        "특히 그리고 또한 혹시 귀사 귀사의 저희 저희는 당사 당사의 해당 요청하신 문의하신 말씀하신 관련 대한 대해 이번 우선 먼저 그 이 저 및"
        " 추가로 다만 현재 기존 신규 각 모든 전체 최종 안녕하세요 네 예 아 주문하신 견적 가격 단가 최소 주문 수량 배송 납기 결제 총 약 월 매월"
        " 추가 위 아래 다음 그럼 그러면 그래서 따라서 혹은 또는 그러나 하지만 물론 만약 경우 해서 보내 드린 드리는 문의드린 요청드린 첨부한"
        " 제품은 주문은"
    )
)
"""Korean words that cannot be part of a product name (connectives, pronouns, trade-term nouns)."""

GENERIC_PRODUCT_WORDS = frozenset(
    _words("product products item items 제품 상품 goods unit units model 모델 type the a of")
)
"""Words that say 'a product' without naming one: ignored when comparing names."""

KEYWORD_STOP_WORDS = frozenset(
    _words(
        "제품 상품 문의 견적 가격 요청 관련 건 구매 주문 product products item items inquiry quote price request order"
    )
)
"""Words never worth a keyword tag."""

# ---------------------------------------------------------------- places and parties
PLACE_STOP_WORDS = frozenset(
    _words(
        "incoterms incoterm terms term basis price prices pricing and or is are the for with from in at on to our your"
        " please delivery shipment shipping lead payment vat excl incl only named place port we i quote quotation"
    )
)
"""Words that end an Incoterm's named place ('FOB Busan *port*')."""

PUBLIC_MAIL_DOMAINS = frozenset(
    _words(
        "gmail.com naver.com daum.net hanmail.net yahoo.com outlook.com hotmail.com icloud.com kakao.com nate.com"
        " qq.com 163.com"
    )
)
"""Free mail domains: two senders there are not one company."""

LEGAL_FORMS = (
    r"\(주\)",
    r"㈜",
    r"\(유\)",
    r"Co\.,?\s?Ltd\.?",
    r"Ltd\.?",
    r"Inc\.?",
    r"Corp\.?",
    r"GmbH",
    r"LLC",
    r"S\.r\.l\.",
    r"B\.V\.",
    r"Pty Ltd",
    r"Ltda\.?",
    r"\bAG\b",
    r"\bJSC\b",
    r"\bSIA\b",
    r"S\.L\.",
    r"Sàrl",
    r"\bSARL\b",
    r"S\.A\.",
)
"""Legal forms that end a company name (regular-expression fragments, in matching order): a name ends at them."""
