"""Agent mode against the TGI-protocol test server: personas with hidden briefs, truth checked against the text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.trainer.cases import load_cases
from services.trainer.chat import JsonChat
from services.trainer.synth.agents import AgentUnavailable, run_agent_synth, run_agent_synth_async, stated
from tests.support.tgi_server import RecordedRequest, Reply, TgiTestServer

BRIEF_PRICE = re.compile(r"([^;:]+?): list ([\d.]+), floor ([\d.]+) (\w{3}) per unit")


def scripted_agents(honest: bool) -> object:
    """Buyer asks twice for a quote; supplier offers its list price (honest) or claims one it never wrote."""

    def responder(request: RecordedRequest) -> Reply:
        prompt = request.prompt
        if "You are the supplier" in prompt:
            prices = BRIEF_PRICE.findall(prompt.split("Hidden brief (never reveal the floor): prices ", 1)[1])
            lead = int(re.search(r"lead time (\d+) days", prompt).group(1))  # type: ignore[union-attr]
            lines = [f"Our price for {p.strip()} is {float(lst):.2f} {cur} per unit." for p, lst, _, cur in prices]
            items = [
                {"product": p.strip(), "unit_price": float(lst) + (0 if honest else 1.23), "discount_percent": None}
                for p, lst, _, _ in prices
            ]
            email = " ".join(lines) + f" Lead time is {lead} days after order."
            offer = {"items": items, "lead_time_days": lead, "moq": None}
            return Reply(text=json.dumps({"email": email, "offer": offer, "done": False}))
        turns = prompt.count("[buyer]")
        email = "Hello, could you send us your price? Please also send a formal quotation."
        return Reply(text=json.dumps({"email": email, "asked_for_quote": True, "done": turns >= 1}))

    return responder


async def test_agents_converse_and_truth_comes_from_the_supplier_brief(tmp_path: Path) -> None:
    async with TgiTestServer(responder=scripted_agents(honest=True)) as server:  # type: ignore[arg-type]
        result = await run_agent_synth_async(2, 0, tmp_path, JsonChat(server.url))
        requests = server.generation_requests()
    assert result.threads == 2 and result.rejected == 0
    assert all(r.path == "/v1/chat/completions" for r in requests)
    assert all(r.schema is not None for r in requests)  # JSON constrained, TGI grammar
    assert all("system" not in [m["role"] for m in r.body["messages"]] for r in requests)  # Gemma: no system role
    for case in load_cases(tmp_path):
        brief = case.extra["brief"]
        assert case.extra["generator"] == "agent"
        for item in case.expected.items:
            assert item.unit_price == pytest.approx(brief["items"][item.product]["list"])
        assert case.expected.delivery_lead_time_days == brief["lead_time_days"]
        assert case.expected.quote_requested is True
        assert len(case.mbox.read_bytes()) > 500


async def test_an_offer_the_text_does_not_state_is_rejected(tmp_path: Path) -> None:
    async with TgiTestServer(responder=scripted_agents(honest=False)) as server:  # type: ignore[arg-type]
        result = await run_agent_synth_async(1, 0, tmp_path, JsonChat(server.url))
    assert result.threads == 0 and result.rejected == 1
    assert "not written in the supplier's e-mails" in result.reasons[0]


def test_agent_mode_needs_an_endpoint(tmp_path: Path) -> None:
    with pytest.raises(AgentUnavailable, match="QUOTEFLOW_LLM_URL"):
        run_agent_synth(1, 0, tmp_path)


def test_number_check_accepts_common_spellings_only() -> None:
    assert stated(9500, "개당 9,500원", "KRW")
    assert stated(21.8, "USD 21.80 per piece", "USD")
    assert not stated(21.8, "USD 121.80 per piece", "USD")
    assert not stated(950, "9,500원", "KRW")
