"""Parties: who is buyer and who is supplier, with names and companies from headers, greetings and signatures."""

# ruff: noqa: E501 -- pattern tables read best one alternative per line, unwrapped.

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from services.extract.rules.money import CURRENCY_TOKEN
from services.extract.rules.tables import priced_table
from services.extract.rules.text import CLOSING, NAME_LINE, MessageView
from services.extract.rules.vocabulary import LEGAL_FORMS, PUBLIC_MAIL_DOMAINS
from shared.events import ConfidenceSource

COMPANY_SUFFIX = re.compile(
    r"\(주\)|㈜|주식회사|\(유\)|유한회사|Co\.,?\s?Ltd\.?|\bCo\.|\bLtd\.?|\bInc\.?|\bCorp\.?|Corporation|\bLLC\b|GmbH|\bLimited\b|\bPLC\b|S\.A\.|\bAG\b|Pte\.?"
    r"|S\.r\.l\.|\bSRL\b|S\.p\.A\.|B\.V\.|N\.V\.|\bAB\b|\bAS\b|A/S|\bOy\b|\bPty\b|Ltda\.?|\bSAS\b|\bSARL\b|Sàrl|\bJSC\b|\bSIA\b|S\.L\.|\bKG\b|\bLLP\b|Sdn Bhd"
    r"|\bCompany\b|Industries|Industrial|Trading|Group|Solutions|Supply|Supplies|Systems|Technologies|Technology|\bTech\b|Electronics|Manufacturing|Enterprises?|Partners|Logistics|Textiles?|Energy"
    r"|[가-힣]+(?:상사|무역|산업|전자|부품|테크|텍|물산|공업|화학|제약|건설|에너지|시스템|솔루션|유통|섬유|기계|통상|코리아|정밀|전기|소재|금속|화학|바이오|식품|물류|엔지니어링|메디칼|메디컬)"
)
TITLE_LINE = re.compile(
    r"manager|director|head of|sales|purchas|procurement|buyer|officer|engineer|specialist|representative|assistant|president|CEO|CFO|COO|VP\b|executive|coordinator|team"
    r"|과장|부장|대리|팀장|차장|이사|대표|사원|주임|매니저|실장|상무|전무|사장|담당|구매팀|영업팀|구매부|영업부|본부",
    re.I,
)
_NOT_COMPANY = re.compile(
    r"@|https?://|www\.|\d{2,}[-.) ]\d{3,}|tel|phone|fax|mobile|cell|전화|휴대|팩스|ISO\s?\d|cert|인증|address|주소|street|road|\bSt\.|\bRd\b|Ave|Suite|Floor|Bldg"
    r"|-ro\b|-gil\b|로\s?\d|길\s?\d|\d+층|[가-힣]+[시구동]\s|^\d",
    re.I,
)
_GREETING_KO = re.compile(
    r"(?P<company>[가-힣A-Za-z0-9()㈜& ]{2,30}?)\s?(?:의\s|에서\s(?:[가-힣]+(?:을|를)\s)?담당(?:하고 있는|하는)\s)?(?:[가-힣]{1,6}(?:팀|부|본부)\s)?(?P<name>[가-힣]{2,4})\s?"
    r"(?:과장|부장|대리|팀장|차장|이사|대표|사원|주임|매니저|실장|상무|전무|사장)?\s?(?:입니다|이라고 합니다|라고 합니다)"
)
_GREETING_EN = re.compile(
    r"(?:this is|I am|I'm|my name is)\s+(?P<name>[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)(?:,?\s[a-z ]{0,30}?)?\s+(?:from|at|with|of)\s+"
    r"(?P<company>[A-Z][\w&\-]*(?:,?\s(?:[A-Z][\w&\-]*|Co\.,?|Ltd\.?|Inc\.?|&))*)",
)
ASK = re.compile(
    r"please (?:send|quote|provide|advise|offer|let)|could you|can you|would you|we are looking for|we're looking for|we need|we would like to (?:order|purchase|buy|get)"
    r"|interested in|inquiry|enquiry|request for quot|RFQ|our budget|we plan to (?:order|buy|purchase)"
    r"|문의|견적(?:서)?(?:를|을)? ?(?:요청|부탁|보내(?! ?드)|받)|알려 ?주|구매(?:하고|를 희망|할|하려)|주문(?:하고|하려|을 희망|하겠)|필요합니다|예산|발주 예정|검토 중",
    re.I,
)
OFFER = re.compile(
    r"we can offer|we offer|our (?:best )?price|our quotation|quotation attached|attached (?:is |please find )?our|please find (?:attached )?our|we can supply|we can provide"
    r"|we can give|we are pleased to|our lead time|we can deliver|we can ship|thank you for your (?:inquiry|enquiry|interest|order)"
    r"|저희|당사|제공(?:해|하)|드릴 수|드리겠|공급 가능|공급해|단가는|견적(?:서)?(?:를|을)? ?(?:첨부|보내 ?드|송부)|첨부(?:된|한|해 ?드린|드린) ?견적서|문의(?:해 주셔서|주셔서) 감사",
    re.I,
)


_PRICE_WRITTEN = re.compile(rf"\d.{{0,3}}(?:{CURRENCY_TOKEN})")
"""A number with a currency next to it: a message that states prices is more likely the supplier's."""


@dataclass
class PartyFacts:
    """A party with the message and span each value came from (span None = from headers or signature)."""

    name: str | None = None
    company: str | None = None
    email: str | None = None
    name_source: tuple[str, int, int, str] | None = None
    company_source: tuple[str, int, int, str] | None = None
    email_source: tuple[str, int, int, str] | None = None
    name_found_in: ConfidenceSource = "label"
    company_found_in: ConfidenceSource = "label"
    email_found_in: ConfidenceSource = "label"
    """How each value was found: a header or a company form is a label; a line the engine picks is inferred."""


def party_key(view: MessageView) -> str:
    """Senders from one (non-public) mail domain belong to one party."""
    email = (view.sender_email or "").lower()
    domain = email.rpartition("@")[2]
    if domain and domain not in PUBLIC_MAIL_DOMAINS:
        return domain
    return email or (view.sender_name or "").lower() or f"anon-{view.index}"


def clean_person_name(raw: str | None) -> str | None:
    """Display name without quotes, bracketed remarks, company or title parts."""
    if not raw:
        return None
    name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", raw).strip(" \"'")
    name = re.split(r"\s[|/·–-]\s|,\s(?=[A-Z][a-z]+\s?(?:Co|Ltd|Inc|Corp))", name)[0].strip()
    if (
        not name
        or "@" in name
        or re.fullmatch(r"(?i)(?:sales|info|purchasing|procurement|admin|support|no-?reply|구매팀|영업팀)\b.*", name)
    ):
        return None
    return name


def _company_in_line(line: str) -> str | None:
    for part in re.split(r"\s[|/·]\s|\s[-–]\s|,\s(?!Ltd|Inc|LLC)", line):
        part = part.strip(" ,")
        if part and COMPANY_SUFFIX.search(part) and not _NOT_COMPANY.search(part) and len(part) <= 50:
            part = re.sub(r"^(?:[A-Za-z ]*(?:Manager|Director|Sales|Officer)\s(?:at|of)\s)", "", part)
            return part
    return None


_DEPARTMENT_TAIL = re.compile(
    r"(?:\s+(?:[가-힣A-Za-z0-9]{0,8}(?:팀|본부|부서|사업부|담당|실|과장|부장|대리|차장|팀장|이사|매니저)|구매|영업|자재|(?:Sales|Purchasing|Procurement|Export)\b.*))+$"
)


_LEGAL_FORM = re.compile("|".join(LEGAL_FORMS))
_LEGAL_FORM_END = re.compile(rf"^(?P<company>.+?(?:{'|'.join(LEGAL_FORMS)}))\s+\S.*$")
_TITLE_BEFORE_COMMA = re.compile(
    r"^(?:[A-Z][a-z]+\s){0,3}(?:Lead|Manager|Director|Head|Officer|Buyer|Engineer|Coordinator|Specialist|Executive|Assistant|Purchasing|Procurement|Sales)\b[^,]*,\s(?=\S)"
)


def clean_company(company: str) -> str:
    """Company without a title, department or person ('한빛무역 구매팀' → '한빛무역', '대양(주) 영업부 과장 박준호' → '대양(주)')."""
    cleaned = _TITLE_BEFORE_COMMA.sub("", company.strip())
    legal = _LEGAL_FORM_END.match(cleaned)
    if legal:
        cleaned = legal.group("company")
    cleaned = _DEPARTMENT_TAIL.sub("", cleaned).strip(" ,|/·")
    return cleaned or company.strip()


def company_from_signature(signature: str, sender_name: str | None) -> tuple[str, int, int] | None:
    """The company in a signature block: a line with a company form, else the short line after the name."""
    lines = []
    offset = 0
    for line in signature.split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    content = [(o, line.strip(), line) for o, line in lines if line.strip() and not CLOSING.match(line)]
    for o, stripped, line in content:
        company = _company_in_line(stripped)
        if company:
            start = o + line.index(company)
            return company, start, start + len(company)
    first_token = (sender_name or "").split()[0] if sender_name and sender_name.split() else "\0"
    seen_name = False
    for o, stripped, line in content:
        if not seen_name and (NAME_LINE.match(stripped) or first_token in stripped):
            seen_name = True
            continue
        if (
            seen_name
            and len(stripped) <= 40
            and not TITLE_LINE.search(stripped)
            and not _NOT_COMPANY.search(stripped)
            and not re.search(r"\d{3,}", stripped)
            and not NAME_LINE.fullmatch(stripped)
        ) or (seen_name and re.fullmatch(r"[가-힣]{4,12}", stripped)):
            if re.fullmatch(r"[가-힣]{2,3}", stripped):
                continue
            start = o + line.index(stripped)
            return stripped, start, start + len(stripped)
    return None


def _fuller_form(company: str, view: MessageView) -> str | None:
    """The same company as written in the sender's signature or header, with its legal form ('(주)', 'Ltd')."""
    written = []
    if view.signature:
        found = company_from_signature(view.signature, view.sender_name)
        if found:
            written.append(found[0])
    if view.sender_company:
        written.append(view.sender_company)
    for candidate in written:
        cleaned = clean_company(candidate)
        if (
            cleaned != company
            and company in cleaned
            and _LEGAL_FORM.search(cleaned)
            and len(cleaned) <= len(company) + 12
        ):
            return cleaned
    return None


def _signature_source(company: str) -> ConfidenceSource:
    """A signature line with a company form reads like a label; another line after the name is inferred."""
    return "label" if COMPANY_SUFFIX.search(company) else "inferred"


_LEADING_CLAUSE = re.compile(
    r"^(?:\S+\s)*\S*(?:던|했던|드렸던|드린|하신|주신|에서|에게|께서|오전에|오후에|어제|오늘|지난번|방금)\s(?=\S)"
)
"""Words before a company in a greeting that describe the call or mail, not the company ('오늘 통화드렸던 …')."""


def company_from_greeting(body: str, sender_name: str | None) -> tuple[str, int, int] | None:
    """'한빛무역 김서연입니다' / 'This is Emily from Northwind Supply'."""
    body = body[:400]
    if not re.search(r"입니다|합니다|this is|I am|I'm|my name", body, re.I):
        return None
    for match in _GREETING_KO.finditer(body):
        company = match.group("company").strip(" ,.")
        company = re.sub(r"^(?:안녕하세요|안녕하십니까|반갑습니다|저는|네)[,.!\s]*", "", company).strip()
        company = re.sub(r"\s?(?:의|에서|에)$", "", company)
        company = _LEADING_CLAUSE.sub("", company)
        if company and (COMPANY_SUFFIX.search(company) or (sender_name and match.group("name") == sender_name)):
            start = match.start("company") + match.group("company").find(company)
            return company, start, start + len(company)
    english = _GREETING_EN.search(body)
    if english:
        match = english
        company = match.group("company").rstrip(" ,.")
        if (
            company.endswith(("Co., Ltd", "Ltd", "Inc", "Co"))
            and body[match.end("company") : match.end("company") + 1] == "."
        ):
            company += "."
        return company, match.start("company"), match.start("company") + len(company)
    return None


def infer_roles(views: list[MessageView]) -> dict[str, str]:
    """Role per party key: keep ingest's roles unless the content clearly says otherwise."""
    given: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    score: dict[str, int] = defaultdict(int)
    for view in views:
        key = party_key(view)
        if view.attachment is not None:  # a document, not a message: only a priced table says who sent it
            if priced_table(view.text):
                score[key] += 2  # a quote form or price list is what a supplier sends
            continue
        given[key][view.role] += 1
        body = view.body
        score[key] += 2 * len(OFFER.findall(body)) - 2 * len(ASK.findall(body))
        if _PRICE_WRITTEN.search(body) and not re.search(r"\?|budget|예산|target|could you do|희망", body, re.I):
            score[key] += 1
    keys = list(dict.fromkeys(party_key(v) for v in views))
    roles: dict[str, str] = {}
    for key in keys:
        counts = given[key]
        roles[key] = (
            max(("buyer", "supplier"), key=lambda r: counts.get(r, 0))
            if any(counts.get(r) for r in ("buyer", "supplier"))
            else "unknown"
        )
    buyers = [k for k in keys if roles[k] == "buyer"]
    suppliers = [k for k in keys if roles[k] == "supplier"]
    if len(keys) == 1:
        key = keys[0]
        if (
            roles[key] == "unknown"
            or (roles[key] == "buyer" and score[key] >= 3)
            or (roles[key] == "supplier" and score[key] <= -3)
        ):
            roles[key] = "supplier" if score[key] > 0 else "buyer"
        return roles
    if buyers and suppliers:
        best_supplier = max(keys, key=lambda k: score[k])
        worst = min(keys, key=lambda k: score[k])
        if roles[best_supplier] == "buyer" and roles[worst] == "supplier" and score[best_supplier] - score[worst] >= 4:
            for key in keys:
                roles[key] = (
                    "supplier" if roles[key] == "buyer" else "buyer" if roles[key] == "supplier" else roles[key]
                )
    for key in keys:
        if roles[key] == "unknown":
            if not buyers and not suppliers:
                roles[key] = (
                    "supplier"
                    if score[key] == max(score[k] for k in keys) and score[key] > min(score[k] for k in keys)
                    else "buyer"
                )
            else:
                roles[key] = (
                    "supplier"
                    if buyers and not suppliers
                    else "buyer"
                    if suppliers and not buyers
                    else ("supplier" if score[key] > 0 else "buyer")
                )
    if len(set(roles.values())) == 1 and len(keys) > 1:
        ordered = sorted(keys, key=lambda k: score[k])
        roles[ordered[-1]] = "supplier"
        roles[ordered[0]] = "buyer"
    return roles


def build_party(views: list[MessageView]) -> PartyFacts | None:
    """The party's representative: the sender who wrote most (the first on ties), with their company."""
    if not views:
        return None
    counts: dict[str, int] = defaultdict(int)
    for view in views:
        counts[(view.sender_email or view.sender_name or "").lower()] += 1
    chosen_key = max(
        counts,
        key=lambda k: (
            counts[k],
            -next(i for i, v in enumerate(views) if (v.sender_email or v.sender_name or "").lower() == k),
        ),
    )
    chosen = [v for v in views if (v.sender_email or v.sender_name or "").lower() == chosen_key]
    first = chosen[0]
    party = PartyFacts()
    name = clean_person_name(first.sender_name)
    if name:
        party.name = name
        party.name_source = (first.message_id, 0, 0, f"From: {first.sender_name}")
    if first.sender_email:
        party.email = first.sender_email
        party.email_source = (first.message_id, 0, 0, f"From: <{first.sender_email}>")
    for view in chosen + [v for v in views if v not in chosen]:
        if view is not first and view.sender_email and view.sender_email != first.sender_email and party.company:
            break
        signature_in_text = view.text[view.body_end :] if view.body_end < len(view.text) else ""
        if party.name is None and signature_in_text:
            for line in signature_in_text.split("\n"):
                if NAME_LINE.match(line.strip()) and not CLOSING.match(line):
                    raw = re.sub(r"\s?(?:드림|올림|배상)$", "", line.strip().lstrip("- "))
                    party.name = raw
                    start = view.text.index(raw, view.body_end)
                    party.name_source = (view.message_id, start, start + len(raw), raw)
                    party.name_found_in = "inferred"  # a name-like line of the signature
                    break
        if party.company:
            continue
        found = company_from_signature(signature_in_text, view.sender_name) if signature_in_text else None
        if found:
            company, start, _end = found
            company = clean_company(company)
            party.company = company
            party.company_source = (
                view.message_id,
                view.body_end + start,
                view.body_end + start + len(company),
                company,
            )
            party.company_found_in = _signature_source(found[0])
            continue
        found = company_from_greeting(view.body, view.sender_name)
        if found:
            company, start, _end = found
            company = clean_company(company)
            fuller = _fuller_form(company, view)
            if fuller is not None:  # '에어텍코리아 배성진입니다' … signed '에어텍코리아(주) 영업2팀'
                party.company = fuller
                party.company_source = (view.message_id, 0, 0, f"signature: {fuller}")
                party.company_found_in = "label"
                continue
            party.company = company
            party.company_source = (view.message_id, view.base + start, view.base + start + len(company), company)
            party.company_found_in = "sentence"  # 'This is Emily from Northwind Supply'
            continue
        if view.signature:
            found = company_from_signature(view.signature, view.sender_name)
            if found:
                party.company = clean_company(found[0])
                party.company_source = (view.message_id, 0, 0, f"signature: {found[0]}")
                party.company_found_in = _signature_source(found[0])
                continue
        if view.sender_company:
            party.company = view.sender_company
            party.company_source = (view.message_id, 0, 0, f"sender company: {view.sender_company}")
    return party
