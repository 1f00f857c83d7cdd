# ruff: noqa: E501  (catalogue rows are data; one row per line reads best)
"""What synthetic negotiations are made of: industries and products, companies, people, currencies.

Prices are base prices in USD per unit; the generator converts them with rough rates and rounds the way
people write prices in that currency. Names are invented; any resemblance to real firms is accidental.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    """A product line: names and units in both languages, a neutral name for mixed threads, a price range."""

    name_ko: str
    name_en: str
    unit_ko: str
    unit_en: str
    usd_low: float
    usd_high: float
    qty_low: int
    qty_high: int

    def name(self, mode: str) -> str:
        return self.name_ko if mode == "ko" else self.name_en

    def unit(self, mode: str) -> str:
        return self.unit_ko if mode == "ko" else self.unit_en


@dataclass(frozen=True)
class Industry:
    key: str
    label_ko: str
    label_en: str
    products: tuple[Product, ...]


INDUSTRIES: tuple[Industry, ...] = (
    Industry("valves", "산업용 밸브", "industrial valves", (
        Product("스테인리스 볼밸브 DN50", "stainless steel ball valve DN50", "개", "pcs", 15, 35, 50, 2000),
        Product("게이트밸브 DN80", "gate valve DN80", "개", "pcs", 30, 90, 20, 800),
        Product("버터플라이 밸브 DN100", "butterfly valve DN100", "개", "pcs", 40, 120, 10, 500),
        Product("체크밸브 DN25", "check valve DN25", "개", "pcs", 6, 18, 100, 5000),
    )),
    Industry("electronics", "전자부품", "electronic components", (
        Product("MLCC 칩 커패시터 0603", "MLCC chip capacitor 0603", "릴", "reels", 20, 60, 10, 500),
        Product("DC-DC 컨버터 모듈", "DC-DC converter module", "개", "pcs", 3, 15, 200, 20000),
        Product("LCD 디스플레이 7인치", "7-inch LCD display", "개", "units", 18, 45, 50, 3000),
        Product("리튬이온 배터리 팩 24V", "24V lithium-ion battery pack", "개", "units", 80, 260, 10, 600),
    )),
    Industry("energy", "에너지", "energy", (
        Product("태양광 패널 450W", "450W solar panel", "장", "panels", 90, 180, 20, 2000),
        Product("하이브리드 인버터 10kW", "10kW hybrid inverter", "대", "units", 900, 2200, 2, 100),
        Product("에너지 저장 시스템 100kWh", "100kWh energy storage system", "세트", "sets", 25000, 60000, 1, 10),
        Product("태양광 케이블 6mm²", "6mm² solar cable", "m", "m", 0.6, 1.8, 500, 20000),
    )),
    Industry("textiles", "섬유", "textiles", (
        Product("면 트윌 원단", "cotton twill fabric", "야드", "yards", 2, 6, 1000, 30000),
        Product("폴리에스터 안감", "polyester lining", "야드", "yards", 0.8, 2.5, 2000, 50000),
        Product("나일론 웨빙 25mm", "25mm nylon webbing", "롤", "rolls", 12, 40, 20, 1000),
    )),
    Industry("chemicals", "화학", "chemicals", (
        Product("에폭시 수지", "epoxy resin", "kg", "kg", 3, 9, 200, 20000),
        Product("이소프로필 알코올 99%", "isopropyl alcohol 99%", "드럼", "drums", 120, 300, 4, 200),
        Product("산업용 윤활유", "industrial lubricant", "리터", "liters", 2, 7, 200, 10000),
    )),
    Industry("food", "식품 원료", "food ingredients", (
        Product("유기농 녹차 분말", "organic green tea powder", "kg", "kg", 15, 45, 50, 3000),
        Product("참기름", "sesame oil", "병", "bottles", 3, 9, 500, 20000),
        Product("김 스낵", "seaweed snack", "박스", "cartons", 20, 55, 50, 2000),
    )),
    Industry("machinery", "기계 부품", "machinery parts", (
        Product("볼베어링 6205", "ball bearing 6205", "개", "pcs", 1.2, 4.5, 500, 50000),
        Product("유압 실린더", "hydraulic cylinder", "개", "units", 150, 600, 5, 300),
        Product("감속기 모터", "gear reducer motor", "대", "units", 220, 900, 2, 200),
        Product("CNC 스핀들", "CNC spindle", "대", "units", 1200, 4500, 1, 40),
    )),
    Industry("packaging", "포장재", "packaging", (
        Product("골판지 박스 A형", "corrugated carton type A", "개", "pcs", 0.3, 1.2, 2000, 100000),
        Product("PET 병 500ml", "500ml PET bottle", "개", "pcs", 0.05, 0.2, 10000, 500000),
        Product("스트레치 필름", "stretch film", "롤", "rolls", 8, 20, 50, 3000),
    )),
    Industry("auto", "자동차 부품", "auto parts", (
        Product("브레이크 패드 세트", "brake pad set", "세트", "sets", 9, 30, 100, 5000),
        Product("LED 헤드램프", "LED headlamp", "개", "pcs", 25, 90, 50, 3000),
        Product("에어필터", "air filter", "개", "pcs", 2, 8, 500, 20000),
    )),
    Industry("medical", "의료 소모품", "medical supplies", (
        Product("니트릴 장갑", "nitrile gloves", "박스", "boxes", 4, 12, 200, 20000),
        Product("수술용 마스크", "surgical mask", "박스", "boxes", 3, 9, 500, 30000),
        Product("일회용 주사기 5ml", "5ml disposable syringe", "개", "pcs", 0.04, 0.15, 10000, 500000),
    )),
    Industry("cables", "전선·케이블", "cables", (
        Product("광케이블 12코어", "12-core fiber optic cable", "km", "km", 180, 600, 2, 200),
        Product("CAT6 랜케이블", "CAT6 LAN cable", "박스", "boxes", 40, 120, 20, 2000),
        Product("동선 케이블 2.5sq", "2.5sq copper cable", "m", "m", 0.4, 1.5, 1000, 50000),
    )),
    Industry("furniture", "사무 가구", "office furniture", (
        Product("사무용 의자", "ergonomic office chair", "개", "pcs", 60, 220, 10, 500),
        Product("높이조절 책상", "height-adjustable desk", "대", "units", 180, 550, 5, 300),
    )),
)  # fmt: skip

NEUTRAL_UNITS = {"개": "pcs", "대": "units", "장": "panels", "세트": "sets", "야드": "yards", "롤": "rolls", "드럼": "drums",
                 "리터": "liters", "병": "bottles", "박스": "boxes", "릴": "reels"}  # fmt: skip
"""Units as Korean offices write them in English-heavy (mixed) threads."""


@dataclass(frozen=True)
class Company:
    name_ko: str
    name_en: str
    domain: str


KOREAN_COMPANIES: tuple[Company, ...] = (
    Company("한빛무역", "Hanbit Trading Co., Ltd.", "hanbit-trading.co.kr"),
    Company("대양부품", "Daeyang Parts Co., Ltd.", "daeyang-parts.com"),
    Company("서울밸브", "Seoul Valve Co., Ltd.", "seoul-valve.co.kr"),
    Company("한국에너텍", "Korea Enertech Inc.", "korea-enertech.co.kr"),
    Company("동방산업", "Dongbang Industrial Co.", "dongbang-ind.co.kr"),
    Company("미래전자", "Mirae Electronics", "mirae-elec.co.kr"),
    Company("신성화학", "Shinsung Chemical Co., Ltd.", "shinsung-chem.com"),
    Company("우리식품", "Woori Foods Corp.", "woorifoods.co.kr"),
    Company("태평양섬유", "Pacific Textile Korea", "pacific-textile.kr"),
    Company("정밀기계", "Jeongmil Machinery Co.", "jeongmil-mc.co.kr"),
    Company("한결포장", "Hangyeol Packaging", "hangyeol-pack.co.kr"),
    Company("제일오토", "Jeil Auto Parts Co., Ltd.", "jeil-auto.co.kr"),
    Company("세화메디칼", "Sehwa Medical Co., Ltd.", "sehwa-medical.com"),
    Company("광명전선", "Kwangmyung Cable Co.", "km-cable.co.kr"),
    Company("누리가구", "Nuri Furniture", "nuri-furniture.co.kr"),
    Company("삼진상사", "Samjin Corporation", "samjin-corp.co.kr"),
    Company("에이스솔루션", "Ace Solutions Korea", "ace-solutions.kr"),
    Company("청운글로벌", "Cheongwoon Global Co., Ltd.", "cheongwoon-global.com"),
)  # fmt: skip

FOREIGN_COMPANIES: tuple[Company, ...] = (
    Company("", "Northwind Supply", "northwind-supply.com"),
    Company("", "Contoso Industrial Ltd.", "contoso-industrial.co.uk"),
    Company("", "Fabrikam Components GmbH", "fabrikam-components.de"),
    Company("", "Tailspin Energy Pty Ltd", "tailspin-energy.com.au"),
    Company("", "Litware Trading Inc.", "litware-trading.com"),
    Company("", "Adatum Medical LLC", "adatum-medical.com"),
    Company("", "Proseware Packaging BV", "proseware.nl"),
    Company("", "Wingtip Foods Co.", "wingtip-foods.com"),
    Company("", "Blue Yonder Textiles", "blueyonder-textiles.com"),
    Company("", "Sakura Kiki K.K.", "sakura-kiki.co.jp"),
    Company("", "Shenzhen Hongda Electronics Co., Ltd.", "hongda-elec.cn"),
    Company("", "Lucerne Machinery AG", "lucerne-machinery.ch"),
    Company("", "Coho Auto Parts Inc.", "coho-auto.com"),
    Company("", "Alpine Ski House Logistics", "alpineski-logistics.com"),
)  # fmt: skip

KOREAN_SURNAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황")
KOREAN_GIVEN = (
    "서연",
    "준호",
    "민재",
    "지우",
    "하은",
    "도윤",
    "수빈",
    "현우",
    "예린",
    "성민",
    "지훈",
    "유나",
    "태양",
    "혜진",
    "동현",
    "소영",
    "재석",
    "미경",
)
ROMAN_SURNAMES = {"김": "Kim", "이": "Lee", "박": "Park", "최": "Choi", "정": "Jung", "강": "Kang", "조": "Cho", "윤": "Yoon",
                  "장": "Jang", "임": "Lim", "한": "Han", "오": "Oh", "서": "Seo", "신": "Shin", "권": "Kwon", "황": "Hwang"}  # fmt: skip
ROMAN_GIVEN = {"서연": "seoyeon", "준호": "junho", "민재": "minjae", "지우": "jiwoo", "하은": "haeun", "도윤": "doyoon",
               "수빈": "subin", "현우": "hyunwoo", "예린": "yerin", "성민": "sungmin", "지훈": "jihoon", "유나": "yuna",
               "태양": "taeyang", "혜진": "hyejin", "동현": "donghyun", "소영": "soyoung", "재석": "jaeseok", "미경": "mikyung"}  # fmt: skip
ENGLISH_FIRST = (
    "Emily",
    "Daniel",
    "Sophie",
    "Michael",
    "Laura",
    "James",
    "Olivia",
    "Thomas",
    "Hannah",
    "Lucas",
    "Mia",
    "David",
    "Anna",
    "Robert",
    "Chloe",
    "Kenji",
    "Wei",
    "Isabel",
)
ENGLISH_LAST = (
    "Carter",
    "Miller",
    "Schmidt",
    "Brown",
    "Nguyen",
    "Rossi",
    "Tanaka",
    "Wang",
    "Dubois",
    "Wilson",
    "Novak",
    "Garcia",
    "Evans",
    "Fischer",
    "Clarke",
    "Sato",
    "Chen",
    "Moreau",
)
TITLES_KO = ("대리", "과장", "차장", "부장", "팀장", "주임", "이사")
TITLES_EN = (
    "Purchasing Manager",
    "Sales Manager",
    "Senior Sales Manager",
    "Procurement Specialist",
    "Buyer",
    "Export Manager",
    "Account Manager",
    "Head of Sourcing",
)
DEPARTMENTS_KO = ("구매팀", "영업팀", "해외영업팀", "자재팀", "구매담당", "영업본부")

# Currency: code → (USD rate, decimals as usually written)
CURRENCIES: dict[str, tuple[float, int]] = {
    "KRW": (1350.0, 0),
    "USD": (1.0, 2),
    "EUR": (0.92, 2),
    "JPY": (150.0, 0),
    "CNY": (7.2, 2),
    "GBP": (0.79, 2),
    "AUD": (1.52, 2),
}

PORTS = (
    "Busan",
    "Incheon",
    "Shanghai",
    "Rotterdam",
    "Hamburg",
    "Los Angeles",
    "Yokohama",
    "Singapore",
    "Felixstowe",
    "Sydney",
)
PORTS_KO = {"Busan": "부산", "Incheon": "인천", "Shanghai": "상하이", "Rotterdam": "로테르담", "Hamburg": "함부르크",
            "Los Angeles": "로스앤젤레스", "Yokohama": "요코하마", "Singapore": "싱가포르", "Felixstowe": "펠릭스토우", "Sydney": "시드니"}  # fmt: skip

PAYMENT_TERMS_EN = (
    "30% T/T deposit, 70% before shipment",
    "100% T/T in advance",
    "L/C at sight",
    "net 30 days",
    "net 60 days",
    "50% deposit, 50% on delivery",
    "D/P at sight",
    "payment on delivery",
)
PAYMENT_TERMS_KO = (
    "배송 시 결제",
    "선금 30%, 잔금 70% 선적 전 지급",
    "계약금 50%, 잔금 납품 후 지급",
    "월말 마감 익월 말 현금 결제",
    "전액 선불 T/T",
    "납품 후 30일 이내 현금 결제",
    "L/C at sight",
)
