"""Ingest normalization speed: messages per second on synthetic and fixture mail, threading included.

Called by ``make bench`` (``run()``); ``python bench/bench_ingest.py`` prints the figures.
The corpus mixes synthetic Korean/English messages (UTF-8, EUC-KR, CP949 under
ks_c_5601-1987, HTML price tables, quoted history, signatures, attachments) with the
hand-written fixtures, the examples and, when present, talon's replies and CPython's
email test corpus.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import json
import random
import statistics
import sysconfig
import time
from pathlib import Path

from services.ingest.mailfiles import read_mail_files
from services.ingest.normalize import BadEmail, normalize_raw
from services.ingest.settings import IngestSettings
from services.ingest.threads import ThreadRepository
from shared.store import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "ingest"
TALON = ROOT.parent / "shared" / "corpora" / "talon" / "tests" / "fixtures"

_KO_LINES = [
    "안녕하세요, 대양부품 담당자님.",
    "X 제품 {qty}개에 대한 견적을 요청드립니다.",
    "납기는 {weeks}주 이내를 희망합니다.",
    "단가는 개당 {price:,}원이며 최소 주문 수량은 50개입니다.",
    "결제 조건은 배송 시 결제입니다.",
]
_EN_LINES = [
    "Hello Daniel,",
    "We are looking for {qty} pcs of stainless steel ball valves DN50.",
    "Our price is USD {usd:.2f} per piece, FOB Busan.",
    "Lead time is {weeks} weeks after order.",
    "Payment: 30% T/T deposit, 70% before shipment.",
]


def _b(text: str) -> str:
    return f"=?utf-8?B?{base64.b64encode(text.encode()).decode()}?="


def synthetic_message(index: int, rng: random.Random) -> bytes:
    """One synthetic buyer/supplier message in one of five shapes."""
    korean = index % 2 == 0
    values: dict[str, float] = {
        "qty": rng.randint(10, 900),
        "weeks": rng.randint(1, 8),
        "price": rng.randint(9, 99) * 500,
    }
    values["usd"] = rng.uniform(5, 90)
    lines = [line.format(**values) for line in (_KO_LINES if korean else _EN_LINES)]
    body = "\n".join(lines)
    quoted = "\n".join("> " + line for line in lines[:3])
    shape = index % 5
    sender = (
        "=?utf-8?b?67CV7KSA7Zi4?= <junho.park@daeyang-parts.com>" if korean else "Daniel Lee <dl@seoul-valve.co.kr>"
    )
    head = (
        f"From: {sender}\r\nTo: buyer{index % 7}@hanbit-trading.co.kr\r\n"
        f"Subject: {_b('RE: X 제품 견적 요청') if korean else 'RE: Inquiry: valves'}\r\n"
        f"Date: Mon, 02 Mar 2026 {9 + index % 10:02d}:00:00 +0900\r\nMessage-ID: <syn-{index}@bench>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    signature = (
        "\n\n박준호 과장\n대양부품㈜\nTel. 02-1234-5678" if korean else "\n\nBest regards,\nDaniel Lee\nSeoul Valve"
    )
    if shape == 0:
        payload = body + signature + "\n\n2026년 3월 2일 (월) 오전 9:00, 김서연 <k@h.kr>님이 작성:\n" + quoted
        return (
            head + 'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        ).encode() + (base64.encodebytes(payload.encode()))
    if shape == 1:
        label = "ks_c_5601-1987" if korean else "iso-8859-1"
        codec = "cp949" if korean else "latin-1"
        payload = (
            body.replace("X 제품", "똠 제품") + signature + "\n\n-----Original Message-----\nFrom: k@h.kr\nSent: x\n"
        )
        return (head + f"Content-Type: text/plain; charset={label}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode(
            "ascii"
        ) + payload.encode(codec, "replace")
    if shape == 2:
        rows = "".join(
            f"<tr><td>품목 {i}</td><td>{rng.randint(1, 500)}</td><td>{rng.randint(1, 99) * 100:,}원</td></tr>"
            for i in range(rng.randint(3, 15))
        )
        html = f"<html><body><p>{'<br>'.join(lines)}</p><table>{rows}</table><p>감사합니다.<br>박준호</p></body></html>"
        return (head + 'Content-Type: text/html; charset="utf-8"\r\n\r\n').encode() + html.encode()
    if shape == 3:
        boundary = f"b{index}"
        attachment = base64.encodebytes(rng.randbytes(rng.randint(1_000, 40_000))).decode()
        return (
            head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f'--{boundary}\r\nContent-Type: multipart/alternative; boundary="a{boundary}"\r\n\r\n'
            f"--a{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}{signature}\r\n"
            f"--a{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{'<br>'.join(lines)}</p>\r\n"
            f"--a{boundary}--\r\n--{boundary}\r\nContent-Type: application/pdf\r\n"
            f"Content-Disposition: attachment; filename*=UTF-8''%EA%B2%AC%EC%A0%81.pdf\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{attachment}--{boundary}--\r\n"
        ).encode()
    event_body = body + signature + "\n\n---------- Forwarded message ---------\nFrom: k@h.kr\nSubject: x\n\nold"
    return json.dumps({"kind": "email", "from": "k@h.kr", "message_id": f"<j{index}@b>", "text": event_body}).encode()


def corpus(synthetic: int, seed: int = 7) -> dict[str, list[bytes]]:
    """Raw messages by source (JSON events are skipped: the handler parses those itself)."""
    rng = random.Random(seed)
    generated = [synthetic_message(i, rng) for i in range(synthetic)]
    fixtures = [p.read_bytes() for p in sorted(FIXTURES.rglob("*.eml"))]
    examples = [m for f in read_mail_files([ROOT / "examples"]) for m in f.messages]
    talon = [p.read_bytes() for p in sorted((TALON / "standard_replies").glob("*.eml"))] if TALON.is_dir() else []
    cpython = [
        Path(p).read_bytes()
        for p in sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/test/test_email/data/msg_*.txt"))
    ]
    return {
        "synthetic": [m for m in generated if not m.startswith(b"{")],
        "fixtures": fixtures + examples,
        "talon": talon,
        "cpython": cpython,
    }


def _throughput(messages: list[bytes], settings: IngestSettings, min_seconds: float) -> tuple[float, list[float], int]:
    """Messages per second over repeated passes, per-message latencies (s), rejected count per pass."""
    latencies: list[float] = []
    rejected = 0
    passes = 0
    start = time.perf_counter()
    while True:
        rejected = 0
        for raw in messages:
            began = time.perf_counter()
            try:
                normalize_raw(raw, settings)
            except BadEmail:
                rejected += 1
            latencies.append(time.perf_counter() - began)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    return passes * len(messages) / elapsed, latencies, rejected


async def _assemble_rate(messages: list[bytes], settings: IngestSettings) -> float:
    repository = ThreadRepository(MemoryStore(), settings)
    start = time.perf_counter()
    for arrival, raw in enumerate(messages):
        try:
            incoming = normalize_raw(raw, settings, arrival=arrival)
        except BadEmail:
            continue
        if await repository.is_duplicate(incoming):
            continue
        thread = await repository.assemble(incoming)
        await repository.commit(incoming, thread)
    return len(messages) / (time.perf_counter() - start)


def run(quick: bool = False) -> dict[str, float | str]:
    """Normalization throughput by source and overall, latency percentiles, threading rate, a 1 MB HTML mail."""
    settings = IngestSettings()
    sources = corpus(100 if quick else 500)
    min_seconds = 0.3 if quick else 1.5
    figures: dict[str, float | str] = {}
    everything: list[bytes] = []
    for name, messages in sources.items():
        if not messages:
            figures[f"{name}_messages"] = 0
            continue
        rate, _, rejected = _throughput(messages, settings, min_seconds)
        figures[f"{name}_messages"] = len(messages)
        figures[f"{name}_msgs_per_s"] = round(rate, 1)
        figures[f"{name}_rejected"] = rejected
        everything.extend(messages)
    rate, latencies, rejected = _throughput(everything, settings, min_seconds)
    latencies.sort()
    figures["all_messages"] = len(everything)
    figures["all_msgs_per_s"] = round(rate, 1)
    figures["all_rejected_per_pass"] = rejected
    figures["latency_p50_ms"] = round(statistics.median(latencies) * 1000, 3)
    figures["latency_p95_ms"] = round(latencies[int(len(latencies) * 0.95)] * 1000, 3)
    figures["latency_max_ms"] = round(latencies[-1] * 1000, 3)
    figures["thread_assembly_msgs_per_s"] = round(asyncio.run(_assemble_rate(sources["synthetic"], settings)), 1)
    rows = "".join(f"<tr><td>item {i}</td><td>{i}</td><td>{i * 100}원</td></tr>" for i in range(12_000))
    big = (
        b"From: a@example.com\r\nMessage-ID: <big@bench>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        + f"<table>{rows}</table>".encode()
    )
    began = time.perf_counter()
    normalize_raw(big, settings)
    figures["html_1mb_table_ms"] = round((time.perf_counter() - began) * 1000, 1)
    figures["html_1mb_table_bytes"] = len(big)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
