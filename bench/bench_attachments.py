"""Attachment reading cost: milliseconds per file by kind, and the ratio to normalising the same mail without it.

Called by ``make bench`` (``run()``); ``python -m bench attachments`` writes bench/results/. Every mail is
the supplier's reply of the talk's thread ("첨부된 견적서를 확인해주시기 바랍니다") with one attachment,
built at run time like the tests' fixtures; ``*_ms`` is the median wall time of ``normalize_raw`` on it
with the default settings (each file read in a warm sandbox worker), ``*_inproc_ms`` the same with
``attachment_sandbox`` off, ``*_ratio`` the sandboxed time over the body-only mail's. Hostile files
(password, zip bomb, 500 pages) measure how fast they are refused or cut.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from services.extract.rules import RulesEngine
from services.ingest.attachments import sandbox
from services.ingest.attachments.limits import AttachmentLimits
from services.ingest.attachments.readers import AttachedFile
from services.ingest.normalize import normalize_raw
from services.ingest.settings import IngestSettings
from tests.support import attachment_files as files
from tests.support.outlook_files import build_msg


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    action()  # warm: imports, a started worker
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def _reply(attachment: tuple[str, str, bytes] | None) -> bytes:
    return files.ko_thread(attachment)[1]


def run(quick: bool = False) -> dict[str, float | str]:
    repeats = 3 if quick else 10
    sandboxed, inproc = IngestSettings(), IngestSettings(attachment_sandbox=False)
    kinds: dict[str, tuple[str, str, Callable[[], bytes]]] = {
        "pdf_ko": ("견적서.pdf", files.PDF, lambda: files.pdf_quote(files.KO_QUOTE)),
        "pdf_en": ("quotation.pdf", files.PDF, lambda: files.pdf_quote(files.EN_QUOTE)),
        "xlsx": ("견적서.xlsx", files.XLSX, lambda: files.xlsx_quote(files.KO_QUOTE)),
        "docx": ("견적서.docx", files.DOCX, lambda: files.docx_quote(files.KO_QUOTE)),
        "csv": ("견적서.csv", "text/csv", lambda: files.csv_quote(files.KO_QUOTE)),
        "hwpx": ("견적서.hwpx", "application/hwp+zip", lambda: files.hwpx_quote(files.KO_QUOTE)),
        "hwp": ("견적서.hwp", "application/x-hwp", lambda: files.hwp_quote(files.KO_QUOTE)),
        "tnef": (
            "winmail.dat",
            "application/ms-tnef",
            lambda: files.winmail_dat("첨부 견적서 참조", [("견적서.xlsx", files.xlsx_quote(files.KO_QUOTE))]),
        ),
        "pdf_encrypted": ("secret.pdf", files.PDF, lambda: files.encrypted_pdf(files.KO_QUOTE)),
        "xlsx_zip_bomb": ("bomb.xlsx", files.XLSX, lambda: files.zip_bomb("xlsx")),
        "pdf_500_pages": ("catalogue.pdf", files.PDF, lambda: files.many_pages_pdf(500)),
    }
    body_only = _reply(None)
    base = _median_ms(lambda: normalize_raw(body_only, sandboxed), repeats * 3)
    figures: dict[str, float | str] = {"body_only_ms": round(base, 2)}
    for name, (filename, ctype, build) in kinds.items():
        data = build()
        raw = _reply((filename, ctype, data))
        ms = _median_ms(lambda raw=raw: normalize_raw(raw, sandboxed), repeats)  # type: ignore[misc]
        figures[f"{name}_bytes"] = len(data)
        figures[f"{name}_ms"] = round(ms, 1)
        figures[f"{name}_inproc_ms"] = round(
            _median_ms(lambda raw=raw: normalize_raw(raw, inproc), repeats),  # type: ignore[misc]
            1,
        )
        figures[f"{name}_ratio"] = round(ms / base, 1)
    msg = build_msg(
        sender_name="박준호",
        sender_email=files.SUPPLIER[1],
        to=[files.BUYER],
        subject="RE: X 제품 견적 요청",
        body="첨부된 견적서를 확인해주시기 바랍니다.",
        date=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        message_id="<answer-1@daeyang-parts.co.kr>",
        attachments=(("견적서.pdf", files.PDF, files.pdf_quote(files.KO_QUOTE)),),
    )
    figures["msg_with_pdf_ms"] = round(_median_ms(lambda: normalize_raw(msg, sandboxed), repeats), 1)

    # What the sandbox costs: a cold worker (interpreter + reader imports) and a warm round trip.
    tiny = AttachedFile("q.csv", "text/csv", files.csv_quote(files.KO_QUOTE))
    pool = sandbox.WorkerPool()
    began = time.perf_counter()
    pool.read(tiny, "csv", AttachmentLimits())
    figures["worker_cold_start_ms"] = round((time.perf_counter() - began) * 1000, 1)
    figures["worker_round_trip_ms"] = round(_median_ms(lambda: pool.read(tiny, "csv", AttachmentLimits()), 20), 2)
    pool.close()

    # Extract: the rules engine on the thread with the table attached vs in the body.
    import asyncio
    from pathlib import Path

    from services.ingest.mailfiles import MailFile, assemble_offline

    engine = RulesEngine()
    for name, attachment in (("body", None), ("pdf", ("견적서.pdf", files.PDF, files.pdf_quote(files.KO_QUOTE)))):
        thread = asyncio.run(assemble_offline(MailFile(Path("t"), files.ko_thread(attachment)), inproc))
        assert thread is not None
        figures[f"extract_rules_{name}_ms"] = round(_median_ms(lambda t=thread: engine.extract_sync(t), repeats), 2)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
