"""Would OCR of scanned quotes be practical? Debian's tesseract-ocr (+ tesseract-ocr-kor) on rendered price tables.

Not part of the pipeline (README, Ingest: scanned images are not read): this measures the decision.
The Korean and English quote PDFs of the tests are rendered to images with pdfium (300 dpi clean, and
200 dpi blurred and rotated 0.7° as a desk-scanner stand-in), then read by ``tesseract -l kor+eng``
with one thread. Figures: seconds per page, and recall of the table's data cells and of the note lines
(the share found verbatim in the OCR text). Skipped when tesseract or its Korean data is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import attachment_files as files


def _images(pdf: bytes, folder: Path, name: str) -> dict[str, Path]:
    import pypdfium2 as pdfium
    from PIL import ImageFilter

    page = pdfium.PdfDocument(pdf)[0]
    clean = folder / f"{name}_300dpi.png"
    page.render(scale=300 / 72).to_pil().convert("L").save(clean)
    scan = folder / f"{name}_scan.png"
    image = page.render(scale=200 / 72).to_pil().convert("L")
    image.rotate(0.7, expand=True, fillcolor=255).filter(ImageFilter.GaussianBlur(0.6)).save(scan)
    return {"300dpi": clean, "scan": scan}


def _squash(text: str) -> str:
    return "".join(text.split())


def run(quick: bool = False) -> dict[str, float | str]:
    tesseract = shutil.which("tesseract")
    if tesseract is None:
        return {"skipped": "tesseract not installed (apt-get install tesseract-ocr tesseract-ocr-kor)"}
    languages = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True).stdout.split()  # noqa: S603
    if "kor" not in languages:
        return {"skipped": "tesseract-ocr-kor not installed"}
    figures: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, quote in (("ko", files.KO_QUOTE), ("en", files.EN_QUOTE)):
            cells = [c for row in quote.rows for c in row[1:] if c]
            for variant, image in _images(files.pdf_quote(quote), Path(tmp), name).items():
                began = time.perf_counter()
                text = subprocess.run(  # noqa: S603 - the tesseract found above, on our own image
                    [tesseract, str(image), "stdout", "-l", "kor+eng", "--psm", "6"],
                    capture_output=True,
                    text=True,
                    env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin:/bin"},
                ).stdout
                key = f"{name}_{variant}"
                figures[f"{key}_s_per_page"] = round(time.perf_counter() - began, 2)
                found = _squash(text)
                figures[f"{key}_cell_recall"] = round(sum(_squash(c) in found for c in cells) / len(cells), 2)
                figures[f"{key}_product_recall"] = round(
                    sum(_squash(r[1]) in found for r in quote.rows) / len(quote.rows), 2
                )
                figures[f"{key}_note_recall"] = round(
                    sum(_squash(n) in found for n in quote.notes) / len(quote.notes), 2
                )
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
