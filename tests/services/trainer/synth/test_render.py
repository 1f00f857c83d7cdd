"""The split generator: a pure renderer over a thread whose truth is final, and an explicit table of acts."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from services.trainer.synth import acts
from services.trainer.synth.acts import ACTS, ActKind, negotiate
from services.trainer.synth.builder import ThreadBuilder
from services.trainer.synth.generator import build_thread, generate_thread
from services.trainer.synth.render import render_thread
from services.trainer.synth.truth import key_facts, summary, tags

# Indices of seed 0 cover every thread kind, HTML, forwards, EUC-KR and quote requests made in the subject.
INDICES = range(40)


@pytest.mark.parametrize("index", INDICES)
def test_rendering_is_pure(index: int) -> None:
    thread = build_thread(0, index)
    before = copy.deepcopy(thread)
    facts_before = key_facts(thread).model_dump(mode="json")

    first = render_thread(thread)
    second = render_thread(thread)

    assert first == second
    assert len(first) == len(thread.drafts)
    assert thread == before  # drafts, mails, terms, events, typos: nothing changed
    assert dataclasses.asdict(thread.terms) == dataclasses.asdict(before.terms)
    assert key_facts(thread).model_dump(mode="json") == facts_before


def test_the_truth_is_final_before_rendering() -> None:
    """A quotation request in the subject is part of the truth as soon as the thread is built, not once rendered."""
    threads = [build_thread(0, i) for i in INDICES]
    in_subject = [t for t in threads if "quote_request_in_subject" in t.events]
    assert in_subject, "seed 0 should have a subject asking for a quotation among its first threads"
    for thread in in_subject:
        assert thread.terms.quote_requested
        assert key_facts(thread).quote_requested
        assert thread.mails[0].subject == thread.base_subject


@pytest.mark.parametrize("index", range(12))
def test_generate_thread_is_render_of_build(index: int) -> None:
    thread = build_thread(3, index)
    facts = key_facts(thread)
    generated = generate_thread(3, index)
    assert generated.messages == render_thread(thread)
    assert generated.expected["expected"] == facts.model_dump(mode="json")
    assert generated.expected["summary"] == summary(thread, facts)
    assert generated.expected["tags"] == tags(thread, facts)


def test_every_act_kind_has_a_handler() -> None:
    assert set(ACTS) == set(ActKind)
    for kind in ActKind:
        assert callable(ACTS[kind].play), kind
        assert ACTS[kind].weight > 0, kind
    assert acts.PRICE_ACTS.issubset(ActKind)


def test_negotiate_dispatches_through_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    played: list[ActKind] = []

    def recorder(kind: ActKind) -> acts.Act:
        return acts.Act(play=lambda builder: played.append(kind), weight=ACTS[kind].weight)

    monkeypatch.setattr(acts, "ACTS", {kind: recorder(kind) for kind in ActKind})
    builder = ThreadBuilder(0, 1)
    negotiate(builder, 3)

    assert len(played) == len(set(played)) == 3
    assert builder.events == [kind.value for kind in played]
    assert len(acts.PRICE_ACTS & set(played)) <= 2
