# ruff: noqa: E501  (phrase tables are data; one phrase per line reads best)
"""Phrases of buyer–supplier mail in Korean and English, by act and writing style, and how they get typos.

Each act has several phrasings per language; placeholders in ``{braces}`` are filled with values that are
already formatted, so typos (applied to the phrase before formatting) never touch a number or a product.
Styles: ``formal``, ``friendly``, ``brief`` (terse, abbreviations) and ``verbose`` (extra context).
"""

from __future__ import annotations

import random
import re

STYLES = ("formal", "friendly", "brief", "verbose")

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "greet": {
        "ko": ("안녕하세요, {their_name}님.", "{their_name} {their_title}님, 안녕하세요.", "안녕하십니까, {their_name}님.", "{their_name}님께,"),
        "en": ("Dear {their_name},", "Hello {their_first},", "Hi {their_first},", "Dear Mr./Ms. {their_last},", "Good morning {their_first},"),
    },
    "greet_company": {
        "ko": ("{their_company} 담당자님께,", "안녕하세요, {their_company} 영업 담당자님."),
        "en": ("Dear {their_company} team,", "Hello {their_company} sales team,"),
    },
    "intro": {
        "ko": ("{my_company} {my_dept} {my_name}입니다.", "저는 {my_company}에서 구매를 담당하고 있는 {my_name}입니다."),
        "en": ("My name is {my_name} and I handle purchasing at {my_company}.", "This is {my_name} from {my_company}."),
    },
    "context": {
        "ko": ("저희는 올해 생산 라인을 확장하고 있어 안정적인 공급처를 찾고 있습니다.", "기존 거래처의 납기 문제로 새로운 공급처를 검토 중입니다.", "고객사 프로젝트 일정에 맞춰 자재를 준비하고 있습니다."),
        "en": ("We are expanding our production line this year and are looking for a reliable source.", "Our current supplier has had delivery problems, so we are evaluating alternatives.", "This is for a customer project with a tight schedule."),
    },
    "inquiry_price": {
        "ko": ("귀사의 제품에 대해 더 많은 정보를 알고 싶습니다. 특히 아래 품목의 가격과 배송 기간에 대해 알려주시면 감사하겠습니다.", "아래 품목의 단가와 납기를 알려주실 수 있을까요?", "다음 제품 구매를 검토 중입니다. 가격과 납기 문의드립니다."),
        "en": ("We are interested in the items below. Could you let us know your price and lead time?", "Could you share your best price and delivery time for the following?", "We are looking to purchase the following and would like to know your price and lead time."),
    },
    "inquiry_quote": {
        "ko": ("아래 품목에 대한 견적서를 요청드립니다.", "다음 품목의 견적을 부탁드립니다. 견적서로 보내주시면 감사하겠습니다.", "아래 제품에 대해 견적서 송부 부탁드립니다."),
        "en": ("Please send us a quotation for the items below.", "Could you quote us for the following items? A formal quotation would be appreciated.", "We would like to request a quote for:"),
    },
    "inline_price": {
        "ko": ("가격과 배송 기간을 알려주시면 감사하겠습니다.", "단가와 납기 문의드립니다."),
        "en": ("Could you let us know your price and lead time?", "What would be your best price and delivery time?"),
    },
    "inline_quote": {
        "ko": ("견적서를 보내주시면 감사하겠습니다.", "견적 부탁드립니다."),
        "en": ("Please send us a quotation.", "Could you quote us for this?"),
    },
    "inquiry_brief": {
        "ko": ("아래 품목 가격, 납기 문의드립니다.",),
        "en": ("Pls advise price + lead time for:", "Need price and LT for the below."),
    },
    "budget": {
        "ko": ("저희 예산은 {budget} 정도입니다.", "예산은 {budget}(으)로 잡혀 있습니다.", "참고로 이번 건의 예산은 {budget}입니다."),
        "en": ("Our budget for this order is around {budget}.", "We have a budget of {budget} for this purchase.", "For reference, our budget is {budget}."),
    },
    "need_date": {
        "ko": ("{date}까지 납품이 필요합니다.", "늦어도 {date}까지는 받아야 합니다."),
        "en": ("We need the goods by {date}.", "Delivery is needed by {date} at the latest."),
    },
    "ask_terms": {
        "ko": ("결제 조건과 보증 기간도 함께 알려주세요.", "최소 주문 수량이 있다면 알려주세요."),
        "en": ("Please also let us know your payment terms and warranty.", "Is there a minimum order quantity?"),
    },
    "offer_intro": {
        "ko": ("문의 주셔서 감사합니다. 요청하신 품목에 대해 아래와 같이 제안드립니다.", "안녕하세요. 문의하신 내용 회신드립니다.", "관심 가져 주셔서 감사합니다. 조건은 다음과 같습니다."),
        "en": ("Thank you for your inquiry. Please find our offer below.", "Thanks for reaching out. Here is our offer:", "Thank you for your interest in our products. Our terms are as follows."),
    },
    "offer_price": {
        "ko": ("{product}의 가격은 {per_unit} {price}입니다.", "{product}: {per_unit} {price}", "{product} 단가는 {price}입니다."),
        "en": ("{product}: {price} per {unit_one}.", "Our price for the {product} is {price} per {unit_one}.", "{product} - {price}/{unit_one}"),
    },
    "offer_price_qty": {
        "ko": ("{product} {qty} 기준 단가는 {price}입니다.",),
        "en": ("For {qty} of {product}, the unit price is {price}.",),
    },
    "table_intro": {
        "ko": ("품목별 단가는 아래 표를 참고해 주세요.", "견적 내역은 다음과 같습니다."),
        "en": ("Please see the price table below.", "Details of our offer:"),
    },
    "tiers": {
        "ko": ("{product} 수량별 단가: {tiers}",),
        "en": ("Unit prices for {product} by quantity: {tiers}.",),
    },
    "tier_pick": {
        "ko": ("요청하신 {qty} 기준으로는 {per_unit} {price}입니다.",),
        "en": ("At your quantity of {qty} the unit price is {price}.",),
    },
    "moq": {
        "ko": ("최소 주문 수량은 {moq}입니다.", "MOQ는 {moq}입니다."),
        "en": ("MOQ is {moq}.", "Minimum order quantity: {moq}.", "Our minimum order is {moq}."),
    },
    "lead": {
        "ko": ("배송 기간은 주문 후 약 {lead} 정도 소요됩니다.", "납기는 발주 후 {lead}입니다.", "주문 후 {lead} 이내 출고 가능합니다."),
        "en": ("Lead time is {lead} after order.", "Delivery takes about {lead} from order confirmation.", "We can ship within {lead} of receiving your PO."),
    },
    "lead_brief": {
        "ko": ("납기: 발주 후 {lead}",),
        "en": ("LT: {lead} after PO",),
    },
    "incoterm": {
        "ko": ("가격은 {incoterm} {place} 조건입니다.", "인도 조건은 {incoterm} {place}입니다."),
        "en": ("Prices are {incoterm} {place}.", "Terms of delivery: {incoterm} {place}.", "All prices {incoterm} {place}."),
    },
    "payment": {
        "ko": ("결제 조건: {payment}", "결제 조건은 다음과 같습니다: {payment}"),
        "en": ("Payment terms: {payment}.", "Payment: {payment}."),
    },
    "warranty": {
        "ko": ("보증 기간은 {warranty}입니다.", "품질 보증: {warranty}"),
        "en": ("Warranty: {warranty}.", "All goods are covered by a warranty of {warranty}."),
    },
    "shipping": {
        "ko": ("발송은 {ship}(으)로 진행됩니다.", "배송 방법: {ship}"),
        "en": ("Goods will be shipped {ship}.", "Shipping: {ship}."),
    },
    "delivery_date": {
        "ko": ("{date}까지 납품 가능합니다.", "도착 예정일은 {date}입니다."),
        "en": ("We can deliver by {date}.", "Estimated arrival: {date}."),
    },
    "validity": {
        "ko": ("본 견적은 30일간 유효합니다.", "상기 가격은 이번 달 말까지 유효합니다."),
        "en": ("This offer is valid for 30 days.", "Prices are valid until the end of this month."),
    },
    "competitor": {
        "ko": ("참고로 다른 업체에서는 {price}에 제안을 받았습니다.",),
        "en": ("For reference, another supplier has offered us {price} for a similar product.",),
    },
    "discount_request": {
        "ko": ("가격을 조금 조정할 수 있을까요? 할인이 가능한지 알고 싶습니다.", "단가 조정이 가능할지 검토 부탁드립니다."),
        "en": ("Is there any flexibility on the price?", "Could you offer us a better price?"),
    },
    "discount_request_qty": {
        "ko": ("{qty}(을)를 주문하면 할인이 가능한지 알고 싶습니다.", "수량을 {qty}(으)로 늘리면 할인이 가능할까요?"),
        "en": ("Could you offer a discount if we order {qty}?", "If we increase the order to {qty}, can you give us a discount?"),
    },
    "discount_given": {
        "ko": ("{scope} {d}% 할인을 제공해드릴 수 있습니다. 이 경우 {per_unit} {net}(이)가 됩니다.", "{scope} {d}% 할인된 {net}에 드리겠습니다."),
        "en": ("{scope} we can offer a {d}% discount, which brings the unit price to {net}.", "{scope} we can give you {d}% off, i.e. {net} per {unit_one}."),
    },
    "discount_given_pct_only": {
        "ko": ("{scope} 견적 금액에서 {d}% 할인해 드리겠습니다.",),
        "en": ("{scope} we can take {d}% off the quoted price.",),
    },
    "same_terms": {
        "ko": ("배송 기간은 동일하게 유지됩니다.", "나머지 조건은 동일합니다."),
        "en": ("All other terms remain the same.", "Lead time stays the same."),
    },
    "refuse_discount": {
        "ko": ("죄송하지만 현재 가격이 최선의 가격입니다.", "아쉽지만 추가 할인은 어렵습니다."),
        "en": ("I'm afraid our prices are already at the lowest level.", "Unfortunately we cannot reduce the price any further."),
    },
    "sweetener_warranty": {
        "ko": ("대신 보증 기간을 {warranty}(으)로 연장해 드리겠습니다.",),
        "en": ("Instead, we can extend the warranty to {warranty}.",),
    },
    "counter": {
        "ko": ("{product} 단가를 {price}(으)로 맞춰주실 수 있을까요?", "{per_unit} {price}이면 바로 진행하겠습니다."),
        "en": ("Could you do {price} per {unit_one} for the {product}?", "If you can meet {price}, we can go ahead."),
    },
    "accept_counter": {
        "ko": ("검토 결과 {price}(으)로 진행 가능합니다.", "내부 협의 후 요청하신 {price}에 맞춰 드리기로 했습니다."),
        "en": ("We can accept {price} per {unit_one}.", "After checking internally, {price} works for us."),
    },
    "reject_counter": {
        "ko": ("죄송하지만 {price}(은)는 어렵습니다. 기존 가격인 {old}(이)가 최선입니다.",),
        "en": ("Unfortunately we cannot go down to {price}; {old} is our best price.", "{price} is below our cost, so we have to stay at {old}."),
    },
    "meet_middle": {
        "ko": ("{price}(은)는 어렵지만 {mid}까지는 가능합니다.",),
        "en": ("We can't do {price}, but we can meet you at {mid} per {unit_one}.",),
    },
    "quantity_change": {
        "ko": ("{product} 수량을 {qty}(으)로 변경하고 싶습니다.", "주문 수량을 {qty}(으)로 조정하겠습니다."),
        "en": ("We would like to change the quantity of {product} to {qty}.", "Please update the quantity to {qty}."),
    },
    "quantity_confirm": {
        "ko": ("수량을 {qty}(으)로 수정했습니다. 단가는 {price}입니다.",),
        "en": ("Noted, quantity updated to {qty}; the unit price is {price}.", "Updated: {qty} at {price} per {unit_one}."),
    },
    "lead_request": {
        "ko": ("배송 기간을 {lead}(으)로 단축할 수 있을까요?",),
        "en": ("Could you shorten the lead time to {lead}?",),
    },
    "lead_accept": {
        "ko": ("네, {lead} 내 납품 가능하도록 일정 조정하겠습니다.",),
        "en": ("Yes, we can deliver within {lead}.",),
    },
    "lead_reject": {
        "ko": ("생산 일정상 {old}(이)가 최선입니다.",),
        "en": ("Due to our production schedule, {old} is the best we can do.",),
    },
    "payment_request": {
        "ko": ("결제 조건을 {payment}(으)로 변경 가능할까요?",),
        "en": ("Would {payment} be acceptable as payment terms?",),
    },
    "payment_accept": {
        "ko": ("네, 결제는 {payment} 조건으로 진행하겠습니다.",),
        "en": ("Yes, {payment} is fine with us.",),
    },
    "payment_reject": {
        "ko": ("죄송하지만 결제 조건은 기존대로 {old} 조건을 유지해야 합니다.",),
        "en": ("Sorry, we have to keep the payment terms as {old}.",),
    },
    "shipping_request": {
        "ko": ("{ship}(으)로 보내주실 수 있을까요?",),
        "en": ("Can you ship {ship} instead?",),
    },
    "shipping_accept": {
        "ko": ("네, {ship}(으)로 발송하겠습니다.",),
        "en": ("Sure, we will ship {ship}.",),
    },
    "quote_request": {
        "ko": ("최종 조건으로 견적서를 보내주시면 감사하겠습니다. 확인 후 바로 주문하겠습니다.", "위 조건으로 정식 견적서 부탁드립니다."),
        "en": ("Please send us a formal quotation with the final terms so we can issue the PO.", "Could you send the quotation with these terms?"),
    },
    "final_quote": {
        "ko": ("첨부된 견적서를 확인해주시기 바랍니다. 기타 문의 사항이 있으시면 언제든지 연락 주십시오.", "요청하신 견적서를 첨부하여 보내드립니다."),
        "en": ("Please find attached our quotation. Let me know if you have any questions.", "Attached is our formal quotation as discussed."),
    },
    "recap": {
        "ko": ("최종 조건 정리:",),
        "en": ("To recap the final terms:",),
    },
    "order_confirm": {
        "ko": ("감사합니다. 발주서는 곧 보내드리겠습니다.", "확인했습니다. 내부 결재 후 주문하겠습니다."),
        "en": ("Thank you, we will send the PO shortly.", "Received, thanks. We will proceed with the order."),
    },
    "ack_only": {
        "ko": ("문의 감사합니다. 담당 부서와 확인 후 회신드리겠습니다.",),
        "en": ("Thank you for your inquiry, we will come back to you with our offer shortly.",),
    },
    "follow_up": {
        "ko": ("지난번 문의 건 관련하여 회신 부탁드립니다.", "아래 메일 확인 부탁드립니다."),
        "en": ("Just following up on my email below.", "Any update on this?"),
    },
    "resend": {
        "ko": ("지난번 보내드린 제안을 다시 전달드립니다. 확인 부탁드립니다.",),
        "en": ("Forwarding our offer again in case it got lost.", "Resending our offer below for your reference."),
    },
    "close": {
        "ko": ("감사합니다.", "좋은 하루 되세요.", "검토 부탁드립니다.", "회신 기다리겠습니다."),
        "en": ("Best regards,", "Kind regards,", "Thanks,", "Regards,", "Many thanks,"),
    },
}  # fmt: skip

SCOPE_QTY = {"ko": "{qty} 주문 시", "en": "For {qty},"}
SCOPE_ALL = {"ko": "전 품목", "en": "On all items"}
SCOPE_SAME = {"ko": "이 경우", "en": "In that case"}


# --------------------------------------------------------------------------- Korean particles

_PARTICLE = re.compile(r"(\S)\((으)\)로|(\S)\((이)\)가|(\S)\((은)\)는|(\S)\((을)\)를")
_DIGIT_BATCHIM = {
    "0": True,
    "1": True,
    "2": False,
    "3": True,
    "4": False,
    "5": False,
    "6": True,
    "7": True,
    "8": True,
    "9": False,
}
_DIGIT_RIEUL = {"1", "7", "8"}


def _final_consonant(char: str) -> tuple[bool, bool]:
    """(has a final consonant, that consonant is ㄹ) for the sound of the last character."""
    if "\uac00" <= char <= "\ud7a3":
        final = (ord(char) - 0xAC00) % 28
        return final != 0, final == 8
    if char.isdigit():
        return _DIGIT_BATCHIM[char], char in _DIGIT_RIEUL
    if char.lower() in "lmnr":
        return True, char.lower() == "l"
    return False, False


def resolve_particles(text: str) -> str:
    """'(으)로', '(이)가', '(은)는', '(을)를' after a value become the particle its last sound takes."""

    def pick(match: re.Match[str]) -> str:
        before = match.group(1) or match.group(3) or match.group(5) or match.group(7)
        has_final, rieul = _final_consonant(before)
        if match.group(2):
            return before + ("으로" if has_final and not rieul else "로")
        if match.group(4):
            return before + ("이" if has_final else "가")
        if match.group(6):
            return before + ("은" if has_final else "는")
        return before + ("을" if has_final else "를")

    return _PARTICLE.sub(pick, text)


# --------------------------------------------------------------------------- typos

_KOREAN_TYPOS = (
    ("습니다", "습니닫"),
    ("감사합니다", "감사함니다"),
    ("됩니다", "됍니다"),
    ("부탁드립니다", "부탁드림니다"),
    ("안녕하세요", "안녕하세여"),
    ("해주세요", "해주세용"),
)
_PLACEHOLDER = re.compile(r"(\{[a-z_]+\})")


def _english_typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 2)
    kind = rng.random()
    if kind < 0.4:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind < 0.7:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def add_typos(phrase: str, rng: random.Random, rate: float) -> tuple[str, int]:
    """The phrase with typos outside its placeholders; returns it and how many typos were made."""
    if rate <= 0:
        return phrase, 0
    made = 0
    pieces = _PLACEHOLDER.split(phrase)
    for index, piece in enumerate(pieces):
        if index % 2 == 1:
            continue
        if re.search(r"[\uac00-\ud7a3]", piece):
            for right, wrong in _KOREAN_TYPOS:
                if right in piece and rng.random() < rate * 3:
                    piece = piece.replace(right, wrong, 1)
                    made += 1
            if " " in piece and rng.random() < rate * 2:
                spaces = [m.start() for m in re.finditer(" ", piece)]
                cut = rng.choice(spaces)
                piece = piece[:cut] + piece[cut + 1 :]
                made += 1
        else:
            words = piece.split(" ")
            for w, word in enumerate(words):
                if rng.random() < rate:
                    typo = _english_typo(word, rng)
                    made += typo != word
                    words[w] = typo
            piece = " ".join(words)
        pieces[index] = piece
    return "".join(pieces), made
