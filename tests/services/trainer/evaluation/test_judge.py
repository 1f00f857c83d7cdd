"""LLM judge (truthfulness 1–5) and FineSurE against the TGI-protocol test server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.trainer.chat import JsonChat
from services.trainer.evaluation.judge import finesure, key_fact_sentences, split_sentences, truthfulness
from services.trainer.evaluation.runner import evaluate
from services.trainer.synth.writer import write_dataset
from shared.events import KeyFacts, LineItem
from tests.support.tgi_server import RecordedRequest, Reply, TgiTestServer, serving_in_thread


def judge_responder(request: RecordedRequest) -> Reply:
    """A judge that gives 4/5, finds sentence 1 unfaithful, and sees fact i stated in sentence i."""
    properties = (request.schema or {}).get("properties", {})
    if "score" in properties:
        return Reply(text=json.dumps({"score": 4, "reason": "mostly consistent with the target"}))
    sentences = re.findall(r"^(\d+)\. ", request.prompt.split("Summary sentences:", 1)[1], re.MULTILINE)
    if "sentences" in properties:
        verdicts = [{"index": int(i), "faithful": i != "1"} for i in sentences]
        return Reply(text=json.dumps({"sentences": verdicts}))
    facts = re.findall(r"^(\d+)\. ", request.prompt.split("Key facts:", 1)[1].split("Summary sentences:")[0], re.M)
    count = len(sentences)
    aligned = [{"index": int(i), "sentences": [int(i)] if int(i) < count else []} for i in facts]
    return Reply(text=json.dumps({"facts": aligned}))


async def test_truthfulness_and_finesure_scores() -> None:
    async with TgiTestServer(responder=judge_responder) as server:
        chat = JsonChat(server.url)
        target, response = "물류비 절감에 중요한 역할을 합니다.", "운송은 물류의 핵심입니다."
        score, reason = await truthfulness(chat, "Q: 운송의 역할?", target, response)
        facts = key_fact_sentences(KeyFacts(items=[LineItem(product="X", quantity=100, unit_price=9500)], moq=50))
        summary = "X 100개 주문. 단가 9,500원. 최소 주문 수량 50개. 감사 인사."
        measured = await finesure(chat, "thread text", summary, facts)
        await chat.close()
    assert (score, reason) == (4, "mostly consistent with the target")
    assert facts == ["X: quantity 100", "X: unit price 9500", "minimum order quantity: 50.0"]
    assert measured == {"faithfulness": 0.75, "completeness": 1.0, "conciseness": 0.75}


def test_split_sentences() -> None:
    assert split_sentences("1. 초기 문의:\n• 발신자: 김서연.\n• 가격 문의. 견적 요청.") == [
        "초기 문의:",
        "발신자: 김서연.",
        "가격 문의.",
        "견적 요청.",
    ]


@pytest.fixture
def judge_server() -> Iterator[str]:
    with serving_in_thread(TgiTestServer(responder=judge_responder)) as url:
        yield url


def test_eval_runs_the_judge_when_an_llm_is_configured(
    judge_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUOTEFLOW_LLM_URL", judge_server)
    write_dataset(3, 5, tmp_path, progress=False, workers=1)
    run = evaluate(tmp_path, ["rules"], workers=1, use_model=False, judge_sample=2)
    assert run.metrics["llm_judge"].startswith("ran on http://127.0.0.1")
    judge = run.metrics["engines"]["rules"].get("judge")
    if judge is None:
        pytest.skip("the rules engine produced no summaries to judge")
    assert judge["judged"] >= 1 and judge["truthfulness"] == 4
    assert 0.0 <= judge["faithfulness"] <= 1.0
