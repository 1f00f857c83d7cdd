"""Peak RSS of `quoteflow extract` on a Korean and an English example, each in a fresh process.

Korean text makes the rules engine load kiwipiepy (keywords), whose model dominates the
process; English text never loads it. The Korean run is measured twice: with the Kiwi
options extract uses (``services.extract.rules.tags.KIWI_OPTIONS``) and with kiwipiepy's
defaults, to show what the options save. Peak RSS comes from ``wait4`` of each child.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KOREAN = REPO / "examples" / "talk-x-product.mbox"
ENGLISH = REPO / "examples" / "valves-en.mbox"

# Runs the CLI after optionally replacing the Kiwi options (argv[1]: JSON, "" keeps extract's own).
_CHILD = """
import json, sys
from services.extract.rules import tags
if sys.argv[1]:
    tags.KIWI_OPTIONS = json.loads(sys.argv[1])
from services.cli import main
sys.argv = ["quoteflow", "extract", sys.argv[2]]
main()
"""


def peak_rss_mb(path: Path, kiwi_options: str = "") -> float:
    """Peak resident set size (MB) of one `quoteflow extract PATH` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _CHILD, kiwi_options, str(path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"quoteflow extract {path.name} exited with {child.returncode}")
    return round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB


def run(quick: bool = False) -> dict[str, float | str]:
    english = peak_rss_mb(ENGLISH)
    korean = peak_rss_mb(KOREAN)
    korean_defaults = peak_rss_mb(KOREAN, "{}")
    return {
        "peak_rss_mb_extract_en": english,
        "peak_rss_mb_extract_ko": korean,
        "peak_rss_mb_extract_ko_kiwi_defaults": korean_defaults,
        "ko_over_en": round(korean / english, 2),
        "ko_kiwi_defaults_over_en": round(korean_defaults / english, 2),
        "ko_kiwi_defaults_over_ko": round(korean_defaults / korean, 2),
    }
