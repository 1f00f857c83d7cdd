"""The 견적서 HTML in a real browser: headless Chromium screenshots it, Korean glyphs included.

Needs the Debian packages ``chromium`` and ``fonts-noto-cjk`` (skips without them). Set
QUOTE_SCREENSHOT_DIR to keep the PNG for a look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from services.quote.render import render_quote
from services.quote.settings import QuoteSettings
from shared.events import FactsExtracted
from tests.services.quote.conftest import ISSUE_DATE, SLOT

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 900, 1240
BROWSER = next(filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))), None)


def _korean_font_installed() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    return bool(subprocess.run([fc_list, ":lang=ko"], capture_output=True, text=True, timeout=30).stdout.strip())


def screenshot(html_file: Path, png: Path, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Headless Chromium, isolated profile, no network chatter; returns the RGB pixels."""
    assert BROWSER is not None
    with tempfile.TemporaryDirectory(prefix="quote-chromium-") as profile:
        subprocess.run(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                html_file.as_uri(),
            ],
            capture_output=True,
            timeout=60,
            check=True,
        )
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))
    return np.asarray(pixels[:, :, :3])


@pytest.fixture(scope="module")
def browser() -> str:
    if BROWSER is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    if not _korean_font_installed():
        pytest.skip("no Korean font (Debian: apt-get install fonts-noto-cjk)")
    return BROWSER


def test_korean_quote_renders_in_chromium(browser: str, tmp_path: Path, talk_event: FactsExtracted) -> None:
    html = tmp_path / "quote.html"
    html.write_text(render_quote(talk_event, SLOT, QuoteSettings(), ISSUE_DATE).html, encoding="utf-8")
    png = tmp_path / "quote.png"
    pixels = screenshot(html, png)
    if os.environ.get("QUOTE_SCREENSHOT_DIR"):
        shutil.copy(png, Path(os.environ["QUOTE_SCREENSHOT_DIR"]) / "quote_ko.png")

    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert np.allclose(pixels[5, 5], [0xE9 / 255, 0xEC / 255, 0xF1 / 255], atol=0.02)  # the desk around the sheet
    assert np.allclose(pixels[60, WIDTH // 2 - 200], [1, 1, 1], atol=0.01)  # the white A4 sheet
    ink = (pixels.mean(axis=2) < 0.5).mean()
    assert 0.005 < ink < 0.2, f"{ink:.2%} dark pixels: a blank or broken page"
    accent = (np.abs(pixels - np.array([0x1F, 0x4E, 0x8C]) / 255).max(axis=2) < 0.06).sum()
    assert accent > 500  # the 견적서 title, the total box and the section rules were styled by the print CSS


def test_hangul_has_real_glyphs_not_boxes(browser: str, tmp_path: Path) -> None:
    """Two different Korean words must look different: missing glyphs would all be the same box."""
    font = "font-family: 'Noto Sans CJK KR', 'Noto Sans KR', sans-serif; font-size: 48px; position: absolute; top: 10px"
    page = tmp_path / "glyphs.html"
    page.write_text(
        f'<html lang="ko"><meta charset="utf-8"><body style="margin:0;background:#fff">'
        f'<div style="{font}; left: 10px">견적서</div><div style="{font}; left: 310px">가나다</div></body></html>',
        encoding="utf-8",
    )
    # Chromium draws nothing in very short windows, hence 200 px.
    pixels = screenshot(page, tmp_path / "glyphs.png", width=600, height=200)
    gray = pixels.mean(axis=2)
    left, right = gray[:, 0:300] < 0.5, gray[:, 300:600] < 0.5
    assert left.sum() > 200 and right.sum() > 200, "no Korean text was drawn"
    assert (left != right).sum() > 200, "different Hangul words rendered identically (missing glyphs)"
