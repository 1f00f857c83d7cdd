"""Language of a message: ko, en or mixed, by the share of Hangul among letters.

URLs, addresses and signature-like tokens are ignored so an English mail with a Korean
company name stays ``en`` and a Korean mail quoting a part number stays ``ko``.
"""

from __future__ import annotations

import re

from shared.events import Language

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_LATIN = re.compile(r"[A-Za-z]")
_NOISE = re.compile(r"(?:https?://|www\.)\S+|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


def detect_language(text: str) -> Language:
    """ko, en or mixed; Hangul syllables count three times a Latin letter (one syllable ≈ one short word part)."""
    text = _NOISE.sub(" ", text or "")
    hangul = len(_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    if hangul == 0 and latin == 0:
        return "en"
    share = hangul / (hangul + latin / 3)
    if share > 0.7:
        return "ko"
    if share < 0.15:
        return "en"
    return "mixed"
