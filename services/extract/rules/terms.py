"""Trade terms: Incoterms, shipping method, payment terms, warranty, discount, VAT, budget and speech acts."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re

from services.extract.rules.dates import Found
from services.extract.rules.vocabulary import PLACE_STOP_WORDS

INCOTERM = re.compile(
    r"(?<![A-Za-z])(?P<code>EXW|FCA|FAS|FOB|CFR|CIF|CPT|CIP|DAP|DPU|DDP|C&F|CNF|Ex[- ]?Works|Free on Board|Delivered Duty Paid)(?![A-Za-z])"
)
_INCOTERM_ALIASES = {"C&F": "CFR", "CNF": "CFR", "EXWORKS": "EXW", "FREEONBOARD": "FOB", "DELIVEREDDUTYPAID": "DDP"}
_PLACE_EN = re.compile(
    r"[ \t]?,?[ \t]?(?P<place>[A-Z][A-Za-z\u00c0-\u017f'.-]+(?:[ \t](?:[A-Z][A-Za-z\u00c0-\u017f'.-]+|de|del|am|upon|on)){0,3})"
)
_PLACE_KO = re.compile(r"[ \t]?,?[ \t]?(?P<place>[가-힣]{2,12}(?:[ \t][가-힣]{1,6}(?:항|공항|터미널|창고|공장))?)")
_KO_PLACE_TAIL = re.compile(
    r"(?:으로|로|에서|까지|입니다|이며|이고|이나|이면|인데|기준|조건|가격|단가|인도|도착|도|는|은|이|가|을|를|의|에)+$"
)
_KO_PLACE_STOP = re.compile(r"^(?:조건|기준|가격|단가|인도|운임|견적|방식|포함|별도|입니다|이며|으로\s|로\s)")
SHIPPING = (
    (
        "air",
        re.compile(
            r"air\s?freight|by air|via air|air shipment|air cargo|air delivery|항공(?:\s?운송|\s?화물|\s?배송|편|으로|\s?특송)?",
            re.I,
        ),
    ),
    (
        "sea",
        re.compile(
            r"by sea|sea\s?freight|ocean\s?freight|via sea|by vessel|sea shipment|container ship|해상(?:\s?운송|\s?화물|\s?운임|으로)?|선박(?:으로|\s?운송)|배편",
            re.I,
        ),
    ),
    (
        "express",
        re.compile(
            r"express (?:shipping|delivery|courier|service|mail|air)|by express|via express|expedited (?:shipping|delivery)|특송|급송|익스프레스|빠른 배송|특급 배송|퀵\s?서비스",
            re.I,
        ),
    ),
    ("courier", re.compile(r"courier|택배|\bDHL\b|\bFedEx\b|\bUPS\b|\bEMS\b|\bTNT\b", re.I)),
    ("rail", re.compile(r"by rail|rail\s?freight|railway|by train|철도(?:\s?운송)?|기차", re.I)),
    (
        "truck",
        re.compile(
            r"by truck|by road|truck(?:ing)?|road freight|lorry|트럭|화물차|육로|차량(?:으로)? 배송|직배송", re.I
        ),
    ),
    (
        "standard",
        re.compile(
            r"standard (?:shipping|delivery|post|mail)|regular (?:shipping|delivery|mail)|ground shipping|일반 배송|표준 배송|일반 택배",
            re.I,
        ),
    ),
)

PAYMENT_LABEL = re.compile(
    r"(?:payment terms?|terms of payment|payment(?: method| condition)?s?|결제\s?(?:조건|방식|방법|은|는)|지불\s?(?:조건|방식|방법)|대금\s?(?:지급|결제)\s?(?:조건|방식)?)"
    r"\s*(?:would be|will be|is|are|:|은|는|으로는|로는|-|–)?\s*",
    re.I,
)
_PAYMENT_VOCAB = re.compile(
    r"T/T|\bTT\b|L/C|\bLC\b|wire|transfer|advance|deposit|balance|\bnet\b|days|선금|잔금|계약금|중도금|현금|어음|카드|송금|결제|마감|월말"
    r"|delivery|shipment|invoice|sight|%|\bCOD\b|PayPal|credit|D/P|D/A|\bCAD\b|착불|익월|선불|후불|prepay|upfront|up front|입금"
    r"|일시불|계좌\s?이체|이체|검수|정산|\bEOM\b|documents|B/L",
    re.I,
)
PAYMENT_PHRASES = re.compile(
    r"\d{1,3}\s?%\s?(?:T/T|TT|deposit|advance|선금|계약금)[^.\n?]*"
    r"|(?:100\s?%\s?)?T/T (?:in advance|before shipment|against (?:B/L|copy of B/L|documents))"
    r"|(?:(?:irrevocable|local)\s)?L/C at sight|L/C \d+ days|\d+ days L/C|D/P at sight|D/A \d+ days"
    r"|\bNet\s?\d{1,3}(?:\s?days)?(?:\s?EOM)?|\d{1,3}\s?days net|\d{1,3}\s?일\s?(?:만기\s?)?(?:어음|외상)"
    r"|(?:납품|검수|도착|인도)\s?(?:완료\s?)?후\s?\d{1,3}\s?일\s?이내\s?(?:현금\s?|계좌\s?)?(?:결제|이체|송금|지급)"
    r"|선금\s?\d{1,3}\s?%[^.\n?]*?잔금\s?\d{1,3}\s?%(?:\s?(?:납품|출고|선적|배송)\s?(?:전|후|시))?"
    r"|(?:배송|납품|인도|출고)\s?(?:시|후)\s?(?:결제|지급|현금 결제)|월말\s?마감(?:\s?후)?(?:\s?익월\s?\d{1,2}\s?일)?(?:\s?(?:현금|어음))?\s?(?:결제|지급)?"
    r"|cash on delivery|payment on delivery|payment upon delivery|착불"
    r"|(?:계약금|선금|착수금)\s?\d{1,3}\s?%[^.\n?]*?잔금\s?\d{1,3}\s?%[^.\n?]*"
    r"|세금\s?계산서\s?발행\s?(?:후|일로부터)\s?\d{1,3}\s?일(?:\s?이내)?(?:\s?(?:현금|계좌\s?이체|송금))?"
    r"|(?:월말\s?마감\s?)?익월\s?(?:말|\d{1,2}\s?일)\s?(?:현금|어음|계좌\s?이체)(?:\s?결제)?"
    r"|(?:납품|배송|인도)\s?(?:후|시)\s?즉시\s?(?:현금|계좌\s?이체|결제)(?:\s?\([^)]*\))?"
    r"|선\s?입금(?:\s?\([^)]*\))?",
    re.I,
)
_PAYMENT_TRIM = re.compile(
    r"(?:\s?(?:입니다|이며|이고|입니다만|으로 하겠습니다|로 하겠습니다|으로 진행|로 진행|으로 부탁|로 부탁|을 원합니다|를 원합니다|으로 가능|로 가능|으로 해|로 해|이 가능|가 가능|을 요청|를 요청|을 희망|를 희망|을 원|를 원|을 부탁|를 부탁|로 희망|으로 희망)).*$"
    r"|(?:,?\s(?:as (?:usual|before|discussed|agreed)|please|if possible|as well|and we (?:have|can|will)|and it'?s a deal)).*$"
    r"|\s?(?:부탁|바랍니다|요청드립니다).*$"
    r"|\s(?:is|are|would be|will be) (?:fine|ok|okay|acceptable|agreed|good).*$"
    r"|\s?조건(?:을|으로|이|은|로)?(?:\s.*)?$"
    r"|\s?(?:으로|로)\s?처리.*$|\s(?:다|모두|둘 다)\s(?:됩니다|가능합니다).*$|\s/\s.*$|(?:만|으로만|로만)\s?가능.*$",
)

WARRANTY_KEYWORD = re.compile(r"warrant(?:y|ied)|guarantee|보증|무상\s?(?:A/S|AS|수리|교체)|하자\s?보수|A/S 기간", re.I)
_WARRANTY_NUMBER = re.compile(r"(?P<n>\d{1,2})\s?(?:-\s?)?(?P<u>years?|yrs?|months?|mos?|년|개월)(?![A-Za-z])", re.I)

DISCOUNT = re.compile(
    r"(?P<a>\d{1,2}(?:[.,]\d+)?)\s?(?:%|퍼센트|percent)\s?(?:의\s)?(?:추가\s)?(?:할인|discount|off|DC|D/C|rebate|reduction|Rabatt|remise|descuento|sconto)"
    r"|(?:할인|discount|DC|D/C|Rabatt|remise|descuento|sconto)\s?(?:율|rate)?\s?(?:of|von|de|di|은|는|:|을|를)?\s?(?:an? )?(?:additional |extra |추가 )?(?P<b>\d{1,2}(?:[.,]\d+)?)\s?(?:%|퍼센트|percent)"
    r"|\b(?:less|minus)\s(?:an?\s)?(?:extra\s|further\s)?(?P<c>\d{1,2}(?:[.,]\d+)?)\s?%"
    r"|\b(?:do|give|offer|grant|allow)\s(?:you\s)?(?:an?\s)?(?:extra\s|further\s)?(?P<d>\d{1,2}(?:[.,]\d+)?)\s?%\s(?=on\s|off\s|for\s(?:the|all|your|line)\b)",
    re.I,
)
"""A discount percentage: '5% discount', '할인 10%', '12,5 % Rabatt', 'less 3%', 'I can do 3% on the gloves'."""
VAT = re.compile(
    r"(?P<exempt>면세|영세율|비과세|VAT[- ]?(?:exempt|free)|exempt(?:ed)? from VAT|zero[- ]rated|0\s?% VAT|tax[- ]exempt)"
    r"|(?P<ex>부가(?:가치)?세\s?(?:별도|미포함|제외|불포함)|VAT\s?(?:별도|미포함|제외|excluded|not included|extra|excl\.?)|excl(?:uding|usive of|\.)?\s?VAT|plus VAT|\+\s?VAT|net of VAT|before VAT)"
    r"|(?P<inc>부가(?:가치)?세\s?(?:포함|포함가)|VAT\s?(?:포함|included|incl\.?|inclusive)|incl(?:uding|usive of|\.)?\s?VAT|with VAT|VAT\s?(?:is\s)?included)",
    re.I,
)
BUDGET = re.compile(r"budget|예산|가용 금액", re.I)
NOT_UNIT_PRICE = re.compile(
    r"freight|shipping cost|shipping fee|shipping charge|delivery (?:fee|charge|cost)|운송비|배송비|운임|물류비|setup|tooling|mou?ld|금형|샘플|sample|"
    r"installation fee|설치비|handling|surcharge|총|합계|총액|total|subtotal|grand|in all|altogether|amount|금액|budget|예산|계약금|deposit|penalty|위약",
    re.I,
)
LIST_PRICE = re.compile(
    r"list price|regular price|standard price|original(?:ly)?|정가|기존(?:\s?가격|\s?단가)?|정상가|소비자가|was\b|from\b",
    re.I,
)
NET_PRICE = re.compile(
    r"net price|after (?:the )?discount|discounted|할인가|할인된|할인 후|할인 적용|이 경우|→|->|=>|brings it|comes to|becomes|되며|됩니다|적용 시|net\b",
    re.I,
)

QUOTE_REQUEST = re.compile(
    r"견적|quotation|\bquote\b|\bquotes\b|\bRFQ\b|pro[- ]?forma|price list|best price|your price|pricing|how much|\bPI\b|얼마(?:에요|예요|인가요|입니까|일까요|죠|나|야)"
    r"|(?:가격|단가|비용)(?:을|를|이|과|와|은|및)?\s?(?:\S+\s)?(?:알려|문의|안내|제시|부탁|확인|궁금)|offer for|price (?:for|of|on)|prices (?:for|of|on)",
    re.I,
)
_QUOTE_NOT_REQUEST = re.compile(
    r"quotation attached|견적서를? 첨부|as quoted|quoted price|no need for a quote|견적 감사", re.I
)
ACCEPT = re.compile(
    r"\b(?:agree[ds]?|accept(?:ed|able)?(?!\s(?:our|my)\s(?:sincere\s)?apolog)|ok(?:ay)?|fine with|we can do (?:that|it|this)|deal|confirm(?:ed)?|no problem|can match|we can meet|that works)\b"
    r"|동의|수용|수락|좋습니다|그렇게 (?:하겠|해 드리|해드리|진행)|맞춰 ?(?:드리|드릴)|괜찮습니다|받아들이|가능합니다|해 드리겠습니다|해드리겠습니다|승인",
    re.I,
)
REJECT = re.compile(
    r"cannot|can't|can not|unable|not possible|impossible|regret|unfortunately|no longer|too low|not acceptable|decline"
    r"|어렵|불가|힘들|곤란|안 됩니다|안됩니다|죄송하지만|수용할 수 없|받아들일 수 없|맞추기 어렵|할 수 없",
    re.I,
)
HALFWAY = re.compile(
    r"halfway|half way|in the middle|split the difference|middle ground|절충|중간 ?(?:가격|선|지점)|반반", re.I
)
QUESTION_ENDING = re.compile(
    r"\?\s*$|까요|나요|습니까|는지|을지|ㄹ지|할지|인지|실지|될지|있을지|가능한지|가능할지|주실 수 있|could you|can you|would you|is it possible|do you|are you able|let (?:me|us) know|please advise|please confirm whether",
    re.I,
)
INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier|preceding) (?:instructions?|prompts?|messages?|rules)|disregard (?:all |any |the )?(?:previous |prior |above )?instructions?"
    r"|system prompt|you are (?:now )?an? (?:AI|assistant|language model|LLM)|as an AI|new instructions?:|override (?:the )?(?:instructions|rules)"
    r"|(?:AI|assistant|model|LLM|extractor|system)(?:\s?(?:note|instruction))?\s?:\s|note to (?:the )?(?:AI|assistant|model|system|extractor)"
    r"|이전\s?(?:의\s)?(?:지시|명령|지침|프롬프트)|지시(?:를|사항을)? 무시|명령(?:을)? 무시|프롬프트|시스템\s?(?:에게|지시)|AI(?:에게|는)",
    re.I,
)


def find_incoterm(clause: str) -> Found | None:
    """An Incoterms 2020 code (the span covers the named place when there is one)."""
    found = find_incoterm_and_place(clause)
    if found is None:
        return None
    code, place = found
    return Found(code.value, code.start, place.end if place else code.end)


def find_incoterm_and_place(clause: str) -> tuple[Found, Found | None] | None:
    """The first Incoterms 2020 code of a clause (span of the code only) and its named place, if any."""
    match = INCOTERM.search(clause)
    if match is None:
        return None
    raw = re.sub(r"[\s-]", "", match.group("code")).upper()
    code = _INCOTERM_ALIASES.get(raw, raw)
    return Found(code, match.start(), match.end()), incoterm_place(clause, match.end())


def incoterm_place(clause: str, after: int) -> Found | None:
    """The named place right after an Incoterm code: 'FOB Busan' → Busan, 'CIF 로테르담 조건' → 로테르담."""
    english = _PLACE_EN.match(clause, after)
    if english:
        words = english.group("place").split()
        kept: list[str] = []
        for word in words:
            bare = word.strip(".,'").lower()
            if bare in PLACE_STOP_WORDS or re.fullmatch(r"20\d\d", bare):
                break
            kept.append(word)
        while kept and kept[-1].lower() in {"de", "del", "am", "upon", "on"}:
            kept.pop()
        place = " ".join(kept).rstrip(".,'")
        if place and place.upper() not in _INCOTERM_ALIASES and not INCOTERM.fullmatch(place):
            start = english.start("place")
            return Found(place, start, start + len(place))
        return None
    korean = _PLACE_KO.match(clause, after)
    if korean and not _KO_PLACE_STOP.match(korean.group("place")):
        place = _KO_PLACE_TAIL.sub("", korean.group("place").split()[0]) or ""
        if len(place) >= 2:
            start = korean.start("place")
            return Found(place, start, start + len(place))
    return None


def find_shipping(clause: str) -> Found | None:
    """The shipping method a clause states; None when it offers two or more options."""
    hits: dict[str, re.Match[str]] = {}
    for method, pattern in SHIPPING:
        match = pattern.search(clause)
        if match:
            hits[method] = match
    if "courier" in hits and "express" in hits:
        del hits["courier"]
    if len(hits) != 1 or (re.search(r"\bor\b|또는|혹은|이나\b|옵션|options?", clause, re.I) and len(hits) > 1):
        return None
    method, match = next(iter(hits.items()))
    return Found(method, match.start(), match.end())


def _trim_payment(value: str) -> str:
    value = re.sub(r"^(?:기존대로|기존과 같이|지금처럼|as before,?)\s?", "", value.strip())
    value = _PAYMENT_TRIM.sub("", value)
    return value.strip(" .,;:·-–")


_SAME_AS_BEFORE = re.compile(r"동일|같습니다|기존과 같|same as|unchanged|as before", re.I)
"""A label whose value only says the terms did not change."""


def find_payment_terms(clause: str) -> Found | None:
    """Payment terms in the thread's own words: after a 'payment terms' label, else a known phrase."""
    label = PAYMENT_LABEL.search(clause)
    if label:
        rest = clause[label.end() :]
        end_match = re.search(r"(?<!\d)[.](?!\d)|\?|\n|;", rest)
        raw = rest[: end_match.start()] if end_match else rest
        value = _trim_payment(raw)
        if _SAME_AS_BEFORE.search(value):  # 'same as before (T/T …)': the terms are in the remark, if anywhere
            value = ""
        if value and _PAYMENT_VOCAB.search(value) and len(value) <= 120 and "?" not in value:
            start = label.end() + rest.index(value[:5]) if value[:5] in rest else label.end()
            return Found(value, start, start + len(value))
    phrase = PAYMENT_PHRASES.search(clause)
    if phrase:
        value = _trim_payment(phrase.group(0))
        if value:
            return Found(value, phrase.start(), phrase.start() + len(value))
    return None


def find_warranty(clause: str) -> Found | None:
    """Warranty length in months (years × 12) when the clause talks about a warranty."""
    keyword = WARRANTY_KEYWORD.search(clause)
    if not keyword:
        return None
    best: tuple[int, re.Match[str]] | None = None
    for match in _WARRANTY_NUMBER.finditer(clause):
        distance = min(abs(match.start() - keyword.end()), abs(keyword.start() - match.end()))
        if distance <= 30 and (best is None or distance < best[0]):
            best = (distance, match)
    if best is None:
        return None
    match = best[1]
    number = int(match.group("n"))
    months = number * 12 if match.group("u").lower().startswith(("y", "년")) else number
    if not 0 < months <= 240:
        return None
    return Found(months, min(match.start(), keyword.start()), max(match.end(), keyword.end()))


def find_discounts(clause: str) -> list[Found]:
    """Discount percentages stated in a clause (not deposits or VAT)."""
    result = []
    for match in DISCOUNT.finditer(clause):
        raw = next(g for g in match.group("a", "b", "c", "d") if g).replace(",", ".")  # 12,5 % → 12.5
        value = float(raw)
        if 0 < value < 100:
            result.append(Found(raw, match.start(), match.end()))
    return result


def vat_note(text: str) -> str | None:
    """'excluded', 'included' or 'exempt' when the text says how VAT stands to the price."""
    found = find_vat(text)
    return str(found.value) if found else None


def find_vat(clause: str) -> Found | None:
    """VAT status stated in a clause: 부가세 별도 / excl. VAT → excluded, 포함 / incl. → included, 면세 / 영세율 → exempt."""
    match = VAT.search(clause)
    if not match:
        return None
    status = "exempt" if match.group("exempt") else "excluded" if match.group("ex") else "included"
    return Found(status, match.start(), match.end())
