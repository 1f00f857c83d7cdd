# ruff: noqa: E501  (Korean definitions are data: wrapping them mid-sentence would hurt the corpus, not help)
"""International-trade vocabulary in Korean and English: the talk's domain-adaptation and PIT material.

The talk continued pre-training on trade lectures turned into summaries, then pre-instruction-tuned on
term–definition pairs and question–options–answer items. Lecture transcripts are not ours to ship, so this
glossary (written for QuoteFlow, Incoterms 2020 wording paraphrased) is the seed of both: the dataset
builders expand it into prose for continual pre-training and into Q/A pairs for PIT.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One glossary entry with its definition in both languages and a topic for grouping."""

    term_en: str
    term_ko: str
    definition_en: str
    definition_ko: str
    topic: str


GLOSSARY: tuple[Term, ...] = (
    Term("EXW (Ex Works)", "EXW (공장인도)",
         "The seller makes the goods available at its own premises; the buyer bears all costs and risks from there, "
         "including export clearance and loading.",
         "매도인이 자신의 영업장에서 물품을 인도하는 조건으로, 수출 통관과 적재를 포함한 이후의 모든 비용과 위험을 매수인이 부담합니다.",
         "incoterms"),
    Term("FCA (Free Carrier)", "FCA (운송인인도)",
         "The seller delivers the goods, cleared for export, to the carrier named by the buyer at an agreed place; "
         "risk passes to the buyer there.",
         "매도인이 수출 통관을 마친 물품을 매수인이 지정한 운송인에게 합의된 장소에서 인도하며, 그때 위험이 매수인에게 이전됩니다.",
         "incoterms"),
    Term("FAS (Free Alongside Ship)", "FAS (선측인도)",
         "The seller delivers when the goods are placed alongside the vessel at the named port of shipment.",
         "매도인이 지정 선적항에서 본선의 선측에 물품을 놓았을 때 인도가 완료되는 해상 운송 전용 조건입니다.",
         "incoterms"),
    Term("FOB (Free On Board)", "FOB (본선인도)",
         "The seller delivers the goods on board the vessel nominated by the buyer at the named port of shipment; "
         "risk passes once the goods are on board, and the buyer pays the main freight.",
         "매도인이 지정 선적항에서 매수인이 지정한 본선에 물품을 적재하면 인도가 끝나고 위험이 이전되며, 주운임은 매수인이 부담합니다.",
         "incoterms"),
    Term("CFR (Cost and Freight)", "CFR (운임포함인도)",
         "The seller pays the cost and freight to bring the goods to the named port of destination, but risk passes "
         "when the goods are on board at the port of shipment.",
         "매도인이 목적항까지의 운임을 부담하지만, 위험은 선적항에서 물품이 본선에 적재될 때 매수인에게 이전됩니다.",
         "incoterms"),
    Term("CIF (Cost, Insurance and Freight)", "CIF (운임·보험료포함인도)",
         "Like CFR, and the seller also buys minimum cargo insurance for the buyer's risk during the sea voyage.",
         "CFR 조건에 더해 매도인이 해상 운송 중 매수인의 위험에 대비한 최소 조건의 적하보험을 부보하는 조건입니다.",
         "incoterms"),
    Term("CPT (Carriage Paid To)", "CPT (운송비지급인도)",
         "The seller pays carriage to the named destination; risk passes when the goods are handed to the first "
         "carrier. Usable with any mode of transport.",
         "매도인이 지정 목적지까지의 운송비를 지급하고, 물품을 최초 운송인에게 인도할 때 위험이 이전되는 모든 운송 방식용 조건입니다.",
         "incoterms"),
    Term("CIP (Carriage and Insurance Paid To)", "CIP (운송비·보험료지급인도)",
         "Like CPT, and the seller also insures the goods, at the higher Institute Cargo Clauses (A) level under "
         "Incoterms 2020.",
         "CPT 조건에 더해 매도인이 보험을 부보하며, 인코텀즈 2020에서는 ICC(A) 수준의 보험이 요구됩니다.",
         "incoterms"),
    Term("DAP (Delivered at Place)", "DAP (도착지인도)",
         "The seller bears all risks and costs to bring the goods to the named destination, ready for unloading; "
         "the buyer handles import clearance and duties.",
         "매도인이 지정 목적지에서 양하 준비된 상태로 물품을 인도할 때까지 모든 위험과 비용을 부담하고, 수입 통관과 관세는 매수인이 부담합니다.",
         "incoterms"),
    Term("DPU (Delivered at Place Unloaded)", "DPU (도착지양하인도)",
         "The seller delivers the goods unloaded at the named place of destination; it replaced DAT in Incoterms "
         "2020.",
         "매도인이 지정 목적지에서 물품을 양하하여 인도하는 조건으로, 인코텀즈 2020에서 DAT를 대체했습니다.",
         "incoterms"),
    Term("DDP (Delivered Duty Paid)", "DDP (관세지급인도)",
         "The seller bears every cost and risk to the buyer's door, including import clearance and duties: the "
         "maximum obligation for the seller.",
         "매도인이 수입 통관과 관세를 포함해 매수인의 문 앞까지 모든 비용과 위험을 부담하는, 매도인의 의무가 가장 큰 조건입니다.",
         "incoterms"),
    Term("Commercial invoice", "상업송장",
         "The seller's bill for the goods, stating quantity, unit price and total amount; customs uses it to assess "
         "duties.",
         "매도인이 발행하는 물품 대금 청구서로 수량, 단가, 총 금액을 포함하며 세관이 관세 산정에 사용합니다.",
         "documents"),
    Term("Packing list", "포장명세서",
         "A document listing net weight, gross weight, packing unit and number of packages; it mirrors the invoice "
         "without prices.",
         "순중량, 총중량, 포장 단위와 포장 수량을 기재한 서류로, 송장과 내용은 비슷하지만 금액 정보가 없고 포장 정보가 추가됩니다.",
         "documents"),
    Term("Bill of lading (B/L)", "선하증권 (B/L)",
         "The carrier's receipt for goods shipped by sea, evidence of the contract of carriage and a document of "
         "title that can be transferred.",
         "해상 운송인이 물품을 수령했음을 증명하는 서류로, 운송 계약의 증거이자 양도 가능한 권리증권입니다.",
         "documents"),
    Term("Air waybill (AWB)", "항공화물운송장 (AWB)",
         "The transport document for air freight; unlike a bill of lading it is not a document of title.",
         "항공 화물 운송에 쓰이는 운송 서류로, 선하증권과 달리 권리증권이 아닙니다.",
         "documents"),
    Term("Certificate of origin", "원산지증명서",
         "A document certifying the country where the goods were produced, needed for preferential tariffs under "
         "free trade agreements.",
         "물품이 생산된 국가를 증명하는 서류로, 자유무역협정의 특혜 관세를 받을 때 필요합니다.",
         "documents"),
    Term("Proforma invoice", "견적송장 (Proforma Invoice)",
         "A preliminary invoice sent before shipment that states the offered terms; buyers use it to open a letter "
         "of credit or to pay a deposit.",
         "선적 전에 제시 조건을 담아 보내는 예비 송장으로, 매수인이 신용장을 개설하거나 선금을 지급할 때 사용합니다.",
         "documents"),
    Term("Quotation", "견적서",
         "A document from the supplier to the buyer stating products, quantities, prices, delivery and payment "
         "terms, valid for a stated period.",
         "공급자가 구매자에게 제품, 수량, 가격, 납기와 결제 조건을 제시하는 문서로, 명시된 기간 동안 유효합니다.",
         "documents"),
    Term("Letter of credit (L/C)", "신용장 (L/C)",
         "A bank's undertaking to pay the seller when documents complying with the credit are presented.",
         "신용장 조건에 맞는 서류가 제시되면 은행이 매도인에게 대금 지급을 확약하는 증서입니다.",
         "payment"),
    Term("Telegraphic transfer (T/T)", "전신환 송금 (T/T)",
         "Payment by bank wire; often split into a deposit with the order and the balance before shipment.",
         "은행 전신 송금으로 대금을 지급하는 방식으로, 주문 시 선금과 선적 전 잔금으로 나누는 경우가 많습니다.",
         "payment"),
    Term("Documents against payment (D/P)", "지급인도조건 (D/P)",
         "The buyer's bank releases the shipping documents only when the buyer pays.",
         "매수인이 대금을 지급해야만 은행이 선적 서류를 인도하는 추심 결제 방식입니다.",
         "payment"),
    Term("Documents against acceptance (D/A)", "인수인도조건 (D/A)",
         "The shipping documents are released when the buyer accepts a time draft, paying at its maturity.",
         "매수인이 기한부 환어음을 인수하면 선적 서류를 인도하고, 만기일에 대금을 지급하는 방식입니다.",
         "payment"),
    Term("Open account", "외상 거래 (Open Account)",
         "Goods are shipped before payment, which is due on agreed terms such as net 30 days.",
         "물품을 먼저 선적하고 대금은 30일 후 지급 등 합의된 조건에 따라 나중에 지급하는 방식입니다.",
         "payment"),
    Term("Minimum order quantity (MOQ)", "최소 주문 수량 (MOQ)",
         "The smallest quantity a supplier accepts in one order, usually because of production or packing batches.",
         "공급자가 한 번의 주문으로 받는 최소 수량으로, 보통 생산 단위나 포장 단위 때문에 정해집니다.",
         "ordering"),
    Term("Lead time", "리드타임 (납기)",
         "The time from order confirmation to delivery, usually stated in days or weeks.",
         "주문 확정부터 납품까지 걸리는 기간으로, 보통 일 또는 주 단위로 표시합니다.",
         "ordering"),
    Term("Tiered pricing", "수량별 단가",
         "A price list where the unit price falls as the ordered quantity reaches higher brackets.",
         "주문 수량이 일정 구간에 도달할 때마다 단가가 낮아지는 가격 체계입니다.",
         "ordering"),
    Term("Purchase order (PO)", "발주서 (PO)",
         "The buyer's formal order stating products, quantities, prices and terms; once accepted it binds both "
         "sides.",
         "구매자가 제품, 수량, 가격과 조건을 명시해 발행하는 공식 주문서로, 공급자가 수락하면 양측을 구속합니다.",
         "ordering"),
    Term("Counter-offer", "반대 제안 (카운터 오퍼)",
         "A reply that changes the terms of an offer; it rejects the original offer and becomes a new offer.",
         "청약의 조건을 변경한 회신으로, 원래 청약을 거절하고 새로운 청약이 됩니다.",
         "negotiation"),
    Term("Firm offer", "확정 청약 (Firm Offer)",
         "An offer that states it cannot be withdrawn during a validity period.",
         "유효 기간 동안 철회할 수 없음을 명시한 청약입니다.",
         "negotiation"),
    Term("Volume discount", "수량 할인",
         "A reduction of the unit price granted for a larger order quantity.",
         "주문 수량이 많을 때 단가를 낮춰 주는 할인입니다.",
         "negotiation"),
    Term("Customs clearance", "통관",
         "Completing the formalities and paying the duties required to export or import goods.",
         "물품을 수출하거나 수입하기 위해 필요한 신고 절차를 마치고 관세를 납부하는 과정입니다.",
         "logistics"),
    Term("HS code", "HS 코드",
         "The Harmonized System number that classifies a product for customs tariffs and statistics.",
         "관세율과 무역 통계를 위해 물품을 분류하는 국제 통일 상품 분류 번호입니다.",
         "logistics"),
    Term("Freight forwarder", "포워더 (운송주선인)",
         "A company that arranges transport, booking and documents for shippers without necessarily owning the "
         "vehicles.",
         "화주를 대신해 운송, 선복 예약과 서류 작업을 주선하는 업체로, 운송 수단을 직접 소유하지 않을 수도 있습니다.",
         "logistics"),
    Term("Container (FCL / LCL)", "컨테이너 (FCL / LCL)",
         "FCL is a full container load for one shipper; LCL shares a container among several shippers' cargo.",
         "FCL은 한 화주가 컨테이너 하나를 단독으로 쓰는 것이고, LCL은 여러 화주의 화물을 한 컨테이너에 혼재하는 것입니다.",
         "logistics"),
    Term("Supply chain management (SCM)", "공급망 관리 (SCM)",
         "Coordinating suppliers, production, logistics, customs and deliveries so that goods flow at low cost.",
         "공급자, 생산, 물류, 통관과 배송을 조율해 물품이 낮은 비용으로 원활히 흐르도록 관리하는 것입니다.",
         "logistics"),
    Term("Transportation", "운송",
         "Moving goods between places; choosing the right mode and route is central to cutting logistics cost.",
         "물품을 장소 간에 이동시키는 것으로, 적절한 수단과 경로를 선택하는 것이 물류비 절감의 핵심입니다.",
         "logistics"),
    Term("Warranty", "품질 보증",
         "The supplier's promise to repair or replace defective goods for a stated period, e.g. 12 months.",
         "공급자가 명시된 기간(예: 12개월) 동안 결함이 있는 물품을 수리하거나 교환해 주겠다는 약속입니다.",
         "negotiation"),
    Term("Tariff", "관세",
         "A tax on imported goods, usually a percentage of the customs value determined by the HS code.",
         "수입 물품에 부과되는 세금으로, 보통 HS 코드에 따라 정해진 세율을 과세가격에 곱해 계산합니다.",
         "logistics"),
    Term("Demurrage", "체선료 (디머리지)",
         "A charge for keeping a container or vessel beyond the free time allowed at the port.",
         "항구에서 허용된 무료 기간을 넘겨 컨테이너나 선박을 사용할 때 부과되는 비용입니다.",
         "logistics"),
)  # fmt: skip


def term_label(term: Term, language: str) -> str:
    return term.term_ko if language == "ko" else term.term_en


def definition(term: Term, language: str) -> str:
    return term.definition_ko if language == "ko" else term.definition_en
