"""Products: names in prose, list lines and table rows, and which mentions name the same product."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from dataclasses import dataclass

from services.extract.rules.money import CURRENCY_AFTER, CURRENCY_BEFORE, CURRENCY_SYMBOL, find_money
from services.extract.rules.numbers import NUMBER
from services.extract.rules.quantities import ENGLISH_UNIT, KOREAN_UNIT
from services.extract.rules.vocabulary import (
    ENGLISH_LEADING_STOP_WORDS,
    ENGLISH_STOP_WORDS,
    GENERIC_PRODUCT_WORDS,
    KOREAN_STOP_TOKENS,
)

_EN_WORD = r"[A-Za-z0-9][A-Za-z0-9\-/.\"'+]*"
_NOT_PRODUCT_WORDS = re.compile(
    r"^(?:days?|weeks?|months?|years?|hours?|minutes?|working|business|calendar|percent|times?|people|persons?|options?|messages?|emails?|pages?|questions?"
    r"|items?|products?|orders?|shipments?|containers?|pallets?|samples?|more|less|of|pcs|units?|sets?|pieces?|%|x|others?|per|each|copies|lines?|tiers?)$",
    re.I,
)
_LABEL_WORDS = re.compile(
    r"^(?:unit\s?price|price|prices|pricing|cost|lead\s?time|moq|minimum order.*|payment.*|delivery.*|shipping.*|shipment|total|sub\s?total|grand total|vat|tax|discount"
    r"|warranty|guarantee|incoterms?|trade terms?|terms|validity|valid.*|note|notes|remarks?|quantity|qty|amount|budget|packing|packaging|origin|port|freight|currency|date|eta|etd"
    r"|단가|가격|납기|결제.*|배송.*|수량|할인.*|보증.*|유효.*|비고|합계|소계|총액|총\s?금액|금액|부가세|예산|운송.*|포장.*|원산지|통화|조건|참고|기타|총계|공급가|판매가|견적.*)$",
    re.I,
)
_KO_PARTICLE_END = re.compile(
    r"(?:을|를|이|가|은|는|에|와|과|도|만|로|으로|에서|께서|의|에게|까지|부터|이나|나|랑|이랑|하고|며|고|면|서)$"
)

EN_QTY_PRODUCT = re.compile(
    rf"(?<![\w.,$€£¥₩/-])(?P<q>{NUMBER})(?![\d가-힣])(?![A-Za-z](?<!x))(?=\s|\s?(?:{ENGLISH_UNIT})\b|x\s|×)\s?(?:x\s)?(?:(?P<u>{ENGLISH_UNIT})\s+(?:of\s+)?|(?P<times>x|×)\s?)?(?P<p>(?:{_EN_WORD})(?:\s{_EN_WORD}){{0,6}})"
)
EN_PRICE_FOR = re.compile(
    rf"(?:price|prices|pricing|quote|quotation|offer|cost|costs|rate)\s+(?:for|on|of)\s+(?:the\s+|your\s+|our\s+|a\s+|an\s+)?(?P<p>(?:{_EN_WORD})(?:\s{_EN_WORD}){{0,6}})",
    re.I,
)
EN_NEED = re.compile(
    rf"(?:looking for|need|require|interested in|purchase|buy|source|sourcing|supply of|inquiry for|enquiry for|RFQ for|RFQ:)\s+(?:some\s+|the\s+|your\s+|a\s+|an\s+)?(?P<p>(?:{_EN_WORD})(?:\s{_EN_WORD}){{0,6}})",
    re.I,
)
EN_PRODUCT_PRICE = re.compile(
    rf"(?:^|[.;:]\s|,\s|\band\s|\bthe\s|\bour\s|\b(?:offer|quote|supply|sell)\s(?:you\s)?)(?P<p>{_EN_WORD}(?:\s{_EN_WORD}){{0,5}}?)\s(?:is|are|at|costs?|is priced at|would be|will be|comes? to|(?:stays?|remains?)(?: at)?|@)\s(?:now\s|only\s|just\s)?(?:{CURRENCY_BEFORE})",
)
_CURRENCY_WRITTEN = re.compile(CURRENCY_BEFORE)
"""A clause that writes a currency may name a product by its price ('the pump is USD 40')."""
KO_PRODUCT_ANCHOR = re.compile(
    r"(?:의\s?|은\s|는\s|도\s)?(?:가격|단가|견적|판매가|공급가|납기|사양|재고)"
    r"|(?:\s모델)?(?:은|는)?\s(?:개당|대당|세트당|박스당|장당|톤당|kg당|m당|미터당|야드당|롤당|병당|팩당|개에|대에)"
)
KO_QTY_ANCHOR = re.compile(rf"(?<![\d,.])(?:{NUMBER})\s?(?:{KOREAN_UNIT}|{ENGLISH_UNIT})(?!당)")
_KO_TOKEN = re.compile(r"[A-Za-z0-9가-힣][\w\-/.+]*")


def _tokens_before(clause: str, end: int, limit: int = 5) -> tuple[str, int] | None:
    """The last few words before ``end`` (what a Korean noun phrase before 의 가격 / 100개 looks like)."""
    window_start = max(0, end - 48)
    words = list(_KO_TOKEN.finditer(clause, window_start, end))
    if not words:
        return None
    words = words[-limit:]
    return clause[words[0].start() : words[-1].end()], words[0].start()


@dataclass(frozen=True)
class ProductMention:
    """A product named at a span of a clause."""

    name: str
    start: int
    end: int


_JOINED_MEASURE = re.compile(r"(?i)(\d)\s+(ml|mL|l|kg|g|mm|cm|m|w|kw|v|ul|µl|μl|t|oz|inch|in)\b")
_KO_TOKEN_PARTICLE = re.compile(r"(?<=[가-힣]{2})(?:은|는|이|가|을|를|의|도|로|으로|와|과)$")


def product_tokens(name: str) -> frozenset[str]:
    """Comparable tokens: lower case, simple English plurals and Korean particles removed, generic words dropped."""
    text = _JOINED_MEASURE.sub(r"\1\2", name).lower().replace("µ", "u").replace("μ", "u")
    tokens = set()
    for token in re.findall(r"[a-z0-9][a-z0-9\-./]*|[가-힣]+", text):
        token = token.strip(".-/")
        if re.fullmatch(r"[가-힣]+", token):
            token = _KO_TOKEN_PARTICLE.sub("", token)
        elif token.endswith("es") and token[:-2].endswith(("ss", "x", "ch", "sh")):
            token = token[:-2]
        elif token.endswith("s") and len(token) > 3 and not token.endswith("ss") and not re.search(r"\d", token):
            token = token[:-1]
        if token and token not in GENERIC_PRODUCT_WORDS:
            tokens.add(token)
    return frozenset(tokens)


def _code(token: str) -> str | None:
    """A model or size code (6308-2RS, DN50, 205/55R16, 500ml, 6205) in comparable form; None for a plain word."""
    if re.search(r"\d", token) and (re.search(r"[a-z가-힣/×]", token) or len(re.sub(r"\D", "", token)) >= 3):
        return re.sub(r"[^a-z0-9가-힣/×]", "", token)
    return None


_MEASURE_CODE = re.compile(r"\d+(?:[.,/×x]\d+)*(?:mm|cm|m|ml|l|kg|g|w|kw|v|ul|t|oz|inch|in|d|sq|c|a)?")
"""A size or measure (152mm, 500ml, 1/2, 27x54): shared by different products, so words must agree too."""


def same_product(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two product names (as :func:`product_tokens`) name the same line.

    Model and size codes decide when both names have them: the same product when one name's codes are all in the
    other's (DN50 ≈ Flange gasket DN50 PN16, but DN50 PN16 ≠ DN80 PN16). Otherwise the words decide: one name's
    words inside the other's (fleece jackets ≈ FJ-220 fleece jacket), or mostly the same words.
    """
    if not a or not b:
        return False
    codes_a = {c for t in a if (c := _code(t))}
    codes_b = {c for t in b if (c := _code(t))}
    words_a = {t for t in a if not _code(t)}
    words_b = {t for t in b if not _code(t)}
    words_agree = bool(words_a and words_b) and (
        words_a <= words_b or words_b <= words_a or len(words_a & words_b) / len(words_a | words_b) >= 0.5
    )
    if codes_a and codes_b:
        if not (codes_a <= codes_b or codes_b <= codes_a):
            return False
        model_code = any(not _MEASURE_CODE.fullmatch(c) for c in codes_a & codes_b)
        return model_code or not (words_a and words_b) or words_agree
    return words_agree


def similar_names(a: str, b: str) -> bool:
    """Two written product names that stay one line item (fuzzy: wording, plurals, particles, codes)."""
    return same_product(product_tokens(a), product_tokens(b))


_NOT_A_PRODUCT = re.compile(
    r"(?i)^(?:best|final|finally|confirmed|confirm|deal|thanks?|thank you|ok|okay|sure|great|perfect|noted|agreed|today|tomorrow|following|below|above|stock"
    r"|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    r"|mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?|dozens?|doz|ml|g|lbs?|mm|cm|inch(?:es)?"
    r"|상세|자세한|정식|공식|납품|배송|운송|트럭|화물차|차량|발주|주문|결제|견적|조건|품목|품명|수량|단가|가격|당사|귀사|제작|설치|보증|수출|수입|선적|해상|항공|택배|계약|장기|장기 계약|물량|기준|특품|정가|할인|금액|대금|납기|도착|물류센터|공장|현장|월|주|일|개월|년|이상|이하|내외|정도|부탁|요청|문의|확인|검토|진행)$"
)
_NOT_PRODUCT_PART = re.compile(
    r"(?i)\b(?:VAT|incoterms?|subject|invoice|PO|tender|contract|dwg|drawing|order no|HS code)\b|\b(?:tel|fax|phone|mob|mobile|cell|e-?mail|ref|no|code|number)\s?[.:]|부가세|부가가치세|영세율|면세|제목|수신|참조|번호|전화|팩스|담당자|귀하|@|^\(.*\)$"
    r"|^(?:EXW|FCA|FAS|FOB|CFR|CIF|CPT|CIP|DAP|DPU|DDP)\b|(?:이며|입니다|합니다|드립니다|습니다|이고|하고|해서|하여|인데|니다|세요|까요|나요|어요|에요|해요|군요|네요|\s시|\s경우|\s기준|시고|고요)$|님(?:[,.]|$)|^[가-힣]{1,3}당$"
    rf"|^(?:{CURRENCY_BEFORE})|[{CURRENCY_SYMBOL}]\s?\d|\d\s?(?:{CURRENCY_AFTER})"
)


_MEASURE_NOT_PRODUCT = re.compile(
    r"(?i)^(?:\d+\s?(?:ft|')|\d{2}\s?(?:HC|GP|DV)\b)|\b(?:FCL|LCL|containers?|rpm|(?:business|working|calendar) days?)\b"
    r"|/(?:h|hr|hour|case|carton|ctn|min)\b|\bapprox\.?$|\brange$"
)
"""Containers, rates and spans ('20ft FCL', '40HC fits approx', 'bottles/h', 'mm range'): never a product."""


def is_product_name(name: str | None) -> bool:
    """Whether a phrase can name a product: not a unit, month, label, trade term, money, number or a verb ending."""
    if not name:
        return False
    stripped = name.strip(" .,;:!?-–·")
    if len(stripped) < 2 or not re.search(r"[A-Za-z가-힣]", stripped):
        return False
    bare_unit = rf"(?i)(?:{ENGLISH_UNIT}|{KOREAN_UNIT})"
    without_particle = _KO_TOKEN_PARTICLE.sub("", stripped)
    if (
        re.fullmatch(bare_unit, stripped)
        or _NOT_A_PRODUCT.match(stripped)
        or _NOT_A_PRODUCT.match(without_particle)
        or _MEASURE_NOT_PRODUCT.search(stripped)
        or _NOT_PRODUCT_PART.search(stripped)
    ):
        return False
    words_left = re.sub(
        rf"(?i)(?:{NUMBER})|(?<![A-Za-z가-힣])(?:{ENGLISH_UNIT}|{KOREAN_UNIT})(?![A-Za-z가-힣])|[\s+\-–~,.:]",
        "",
        stripped,
    )
    if not words_left:
        return False
    if _LABEL_WORDS.match(stripped) or _NOT_PRODUCT_WORDS.match(stripped):
        return False
    return bool(product_tokens(stripped))


def _clean_en(phrase: str) -> str | None:
    words = phrase.split()
    while words and words[0].lower() in ENGLISH_LEADING_STOP_WORDS:
        words.pop(0)
    kept: list[str] = []
    for index, word in enumerate(words):
        bare = word.strip(",.;:!?()\"'").lower()
        following = words[index + 1].strip(",.;:!?()\"'") if index + 1 < len(words) else ""
        inner_number = (
            re.fullmatch(r"\d[\d,.]*", bare)
            and kept
            and not word.endswith((",", ";", ":"))
            and following
            and following.lower() not in ENGLISH_STOP_WORDS
            and not re.fullmatch(rf"(?:{ENGLISH_UNIT})", following, re.I)
            and not re.match(r"\d", following)
        )
        if (
            bare in ENGLISH_STOP_WORDS
            or (re.fullmatch(r"\d[\d,.]*%?", bare) and not inner_number)
            or (re.fullmatch(rf"(?:{ENGLISH_UNIT})", word.strip(",.;:!?"), re.I) and kept)
        ):
            break
        kept.append(word.strip(",;:!?()"))
        if re.search(r"[,;:!?)]$", word):
            break
    while kept and kept[0].lower() in ENGLISH_LEADING_STOP_WORDS:
        kept.pop(0)
    name = " ".join(kept).strip(" .")
    if not name or _NOT_PRODUCT_WORDS.match(name) or _LABEL_WORDS.match(name) or len(name) < 2:
        return None
    if re.search(
        r"(?i)\b(?:supplier|partner|vendor|manufacturer|company|information|details|price|quote|discount|answer|reply|feedback|offer|business|help)s?$",
        name,
    ):
        return None
    if len(kept) == 1 and kept[0].lower() in {"it", "them", "this", "that", "one", "ones", "price", "quote"}:
        return None
    return name


def _clean_ko(phrase: str) -> str | None:
    phrase = re.sub(r"\([^)]*\)?|\)", " ", phrase)
    tokens = phrase.split()
    while tokens and (
        tokens[0] in KOREAN_STOP_TOKENS
        or (len(tokens[0]) > 1 and _KO_PARTICLE_END.search(tokens[0]) and len(tokens) > 1)
    ):
        tokens.pop(0)
    kept: list[str] = []
    for token in tokens:
        if (
            token in KOREAN_STOP_TOKENS
            or (re.match(r"[\d,.]+", token) and not re.search(r"[A-Za-z]", token))
            or (kept and _KO_PARTICLE_END.search(kept[-1]) and not re.search(r"[A-Za-z0-9]", kept[-1]))
        ):
            kept = []
            continue
        kept.append(token)
    while kept and _KO_PARTICLE_END.search(kept[-1]) and not re.search(r"[A-Za-z0-9]", kept[-1]):
        if re.search(r"(?:의)$", kept[-1]):
            kept[-1] = kept[-1][:-1]
            break
        kept.pop()
    name = " ".join(kept).strip(" ,.")
    if (
        not name
        or _LABEL_WORDS.match(name)
        or name in KOREAN_STOP_TOKENS
        or (len(name) < 2 and not re.search(r"[A-Za-z0-9]", name))
    ):
        return None
    if re.fullmatch(r"[가-힣]", name):
        return None
    return name


def _mention(clause: str, name: str, near: int) -> ProductMention | None:
    index = clause.find(name, max(0, near - len(name) - 40))
    if index < 0:
        index = clause.find(name)
    if index < 0:
        return None
    return ProductMention(name, index, index + len(name))


BULLET_PREFIX = r"^\s*(?:[-*•·▪◦►■□▶▷●○◆◇※★☆]|\(?\d{1,2}[.)]|[①-⑳]|[a-zA-Z][.)]|[가-하][.)])\s*"
"""A list marker: dashes and symbols, 1. / 1) / (1), ①, a), and Korean 가. 나. 다."""


def list_line_product(line: str) -> ProductMention | None:
    """'- Solar panel 450W: 120 units @ KRW 280,000' → 'Solar panel 450W'."""
    body = re.sub(BULLET_PREFIX, "", line)
    offset = len(line) - len(body)
    cut = re.search(
        rf"\s?[:=]\s|\s[-–]\s|\s{{3,}}|\s@|\s?(?:{CURRENCY_BEFORE})|\s(?={NUMBER}\s?(?:{ENGLISH_UNIT}|{KOREAN_UNIT}|원)\b)|,\s",
        body,
    )
    if not cut or cut.start() == 0:
        return None
    name = body[: cut.start()].strip(" *")
    name = re.sub(r"\s?\((?:qty|수량).*$", "", name, flags=re.I)
    if not name or _LABEL_WORDS.match(name) or len(name) > 60 or not re.search(r"[A-Za-z가-힣]", name):
        return None
    if re.fullmatch(r"[\d,.\s]+", name) or not is_product_name(name):
        return None
    return ProductMention(name, offset, offset + len(name))


_VALUE_AFTER_COLON = re.compile(rf"\s?[:：]\s*(?:{CURRENCY_BEFORE}|{NUMBER})")


def colon_line_product(line: str) -> ProductMention | None:
    """'Harrow side chair: £185.00 per unit' / '세탁세제 2L : 7,500원' → the name before the colon."""
    body = re.sub(BULLET_PREFIX, "", line)
    offset = len(line) - len(body)
    colon = _VALUE_AFTER_COLON.search(body)
    if colon is None or colon.start() == 0:
        return None
    name = body[: colon.start()].strip(" *")
    if len(name) > 60 or re.search(r"[.!?]\s", name) or not is_product_name(name):
        return None
    return ProductMention(name, offset, offset + len(name))


def prose_products(clause: str, korean: bool) -> list[ProductMention]:
    """Product names in a sentence, left to right, by the patterns people use to name what they buy or sell."""
    found: list[ProductMention] = []

    def add(name: str | None, near: int) -> None:
        if not name or not is_product_name(name):
            return
        mention = _mention(clause, name, near)
        if mention and not any(
            m.start <= mention.start < m.end or mention.start <= m.start < mention.end for m in found
        ):
            found.append(mention)

    position = 0
    while match := EN_QTY_PRODUCT.search(clause, position):
        position = match.end("q")
        if not (match.group("u") or match.group("times")) and re.match(
            r"\s?(?:[%원]|days?|weeks?|months?|years?)", clause[match.end("q") :]
        ):
            continue
        if match.group("u") is None and match.group("times") is None:
            before = clause[max(0, match.start() - 12) : match.start()]
            if re.search(rf"(?:{CURRENCY_BEFORE})\s?$", before) or re.fullmatch(r"20\d\d", match.group("q")):
                continue
        name = _clean_en(match.group("p"))
        if name and money_free(name):
            add(name, match.start("p"))
    for pattern in (EN_PRICE_FOR, EN_NEED):
        for match in pattern.finditer(clause):
            add(_clean_en(match.group("p")), match.start("p"))
    has_currency = bool(_CURRENCY_WRITTEN.search(clause))
    for match in EN_PRODUCT_PRICE.finditer(clause) if has_currency else ():
        name = _clean_en(match.group("p"))
        if name and not re.match(r"(?i)(?:it|this|that|price|the price|our price|total|it all)$", name):
            add(name, match.start("p"))
    if korean and re.search(r"[가-힣]", clause):
        for pattern in (KO_QTY_ANCHOR, KO_PRODUCT_ANCHOR):
            for anchor in pattern.finditer(clause):
                phrase = _tokens_before(clause, anchor.start(), 4 if pattern is KO_QTY_ANCHOR else 5)
                if phrase:
                    add(_clean_ko(phrase[0]), phrase[1])
    found.sort(key=lambda m: m.start)
    return found


def money_free(name: str) -> bool:
    return not find_money(name) and not re.search(r"\d+\s?%", name)


FIELD_LABEL = re.compile(
    r"^(?:product|item|article|goods|model|description|품명|제품명|품목|상품명|모델)\s?[:：]\s?", re.I
)
"""A field label written in front of a product name ('Description: …', '품명: …')."""
_TRAILING_REMARK = re.compile(
    rf"\s*\((?:[^()]*\)\s*|[^)]*)$|,\s?(?:{NUMBER})\s?(?:units?|pcs|pieces?|sets?|nos|ea)\.?$", re.I
)
"""A remark in parentheses after a name ('(range 30mm)', '(블록 2개 포함, …)'), or one cut off at its start."""
_LINE_NUMBER = re.compile(
    r"^\d{1,2}\s{2,}(?=\S)|^(?:option|alternative|variant|옵션|제안|대안)\s?(?:[A-Z]|\d{1,2})\s?(?:[-–:.)]\s?|\s(?=\S))",
    re.I,
)
"""'2   Stamped bracket …' / 'Option B - Automatic filler …': a table's line number or an offer's option label."""
_QUANTITY_PHRASE = re.compile(
    rf"^(?:{NUMBER})\s?(?:{KOREAN_UNIT}|{ENGLISH_UNIT})?\s?(?:이상|이하|미만|초과|부터|까지|급|or more|and (?:above|up)|\+)?(?:\s?구간)?$|^(?:이상|이하|미만|초과)\b",
    re.I,
)
"""A quantity band ('300개 이상', '1,000+ pcs'): the tier it names, not a product."""


def tidy_product(mention: ProductMention) -> ProductMention | None:
    """A mention without a field label in front or a remark in parentheses behind; None when only a quantity
    band is left (the words people put around a name are not the name)."""
    name, start = mention.name, mention.start
    number = _LINE_NUMBER.match(name)
    if number:
        name, start = name[number.end() :], start + number.end()
    label = FIELD_LABEL.match(name)
    if label and label.end() < len(name):
        name, start = name[label.end() :], start + label.end()
    bare = _TRAILING_REMARK.sub("", name).rstrip(" ,-–")
    if bare and re.search(r"[A-Za-z가-힣]", bare):
        name = bare
    if _QUANTITY_PHRASE.match(name):
        return None
    if name == mention.name:
        return mention
    return ProductMention(name, start, start + len(name))
