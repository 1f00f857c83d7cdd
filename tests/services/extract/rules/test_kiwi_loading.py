"""kiwipiepy (hundreds of MB) is loaded only for Korean text, once per process, with the lean options."""

from __future__ import annotations

import subprocess
import sys
import threading
import types
from typing import Any, ClassVar

import pytest

from services.extract.rules import tags
from tests.conftest import REPO


class _FakeKiwi:
    """Stands in for kiwipiepy.Kiwi: records how it was built, tags every word as a noun."""

    built: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        _FakeKiwi.built.append(options)

    def tokenize(self, text: str) -> list[types.SimpleNamespace]:
        return [types.SimpleNamespace(form=word, tag="NNG") for word in text.split()]


@pytest.fixture
def fake_kiwi(monkeypatch: pytest.MonkeyPatch) -> type[_FakeKiwi]:
    _FakeKiwi.built = []
    monkeypatch.setitem(sys.modules, "kiwipiepy", types.SimpleNamespace(Kiwi=_FakeKiwi))
    monkeypatch.setattr(tags._Kiwi, "_instance", None)
    monkeypatch.setattr(tags._Kiwi, "_failed", False)
    return _FakeKiwi


def test_kiwi_is_built_once_with_the_lean_options_and_shared_by_threads(fake_kiwi: type[_FakeKiwi]) -> None:
    results: list[list[str]] = []
    workers = [threading.Thread(target=lambda: results.append(tags.korean_nouns("산업용 펌프"))) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [["산업용", "펌프"]] * 8
    assert fake_kiwi.built == [tags.KIWI_OPTIONS]
    # No multi-word dictionary (about 190 MB) and no worker pool (tokenize runs in the calling thread).
    assert tags.KIWI_OPTIONS == {"load_multi_dict": False, "num_workers": 0}


def test_the_lean_options_are_accepted_by_the_installed_kiwipiepy() -> None:
    pytest.importorskip("kiwipiepy")
    script = (
        "from services.extract.rules import tags\n"
        "print(tags.korean_nouns('한국에너텍 산업용 펌프 견적'))\n"
        "print(tags._Kiwi._instance is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    nouns, loaded = done.stdout.splitlines()
    assert "펌프" in nouns and "한국에너텍" in nouns
    assert loaded == "True" and "kiwipiepy unavailable" not in done.stderr


def test_english_threads_never_load_kiwipiepy() -> None:
    script = (
        "import sys, asyncio\n"
        "from pathlib import Path\n"
        "from services.extract.rules import RulesEngine\n"
        "from services.ingest.mailfiles import assemble_offline, read_mail_files\n"
        "from services.ingest.settings import IngestSettings\n"
        "[file] = read_mail_files([Path('examples/valves-en.mbox')])\n"
        "thread = asyncio.run(assemble_offline(file, IngestSettings()))\n"
        "print(len(RulesEngine().extract_sync(thread).tags) > 0)\n"
        "print('kiwipiepy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.splitlines() == ["True", "False"]
