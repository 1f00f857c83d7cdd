"""Tag F1 with similar tags counted as matches, SemScore, and the documented n-gram fallback."""

from __future__ import annotations

import pytest

from services.trainer.evaluation.semantic import Similarity, match_tags, ngram_similarity, semscore, tag_f1


@pytest.fixture(scope="module")
def ngrams() -> Similarity:
    return Similarity(use_model=False)


def test_ngram_similarity_is_a_cosine() -> None:
    assert ngram_similarity("신속 배송", "신속 배송") == pytest.approx(1.0)
    assert ngram_similarity("에너지 솔루션", "에너지") > ngram_similarity("에너지 솔루션", "계약")
    assert ngram_similarity("", "abc") == 0.0


def test_similar_tags_count_as_matches(ngrams: Similarity) -> None:
    # the talk's example: model tags vs target tags
    predicted = ["에너지 솔루션", "신속 배송", "지불 조건", "주문 확인", "보증", "한국 에너테크 주식회사"]
    reference = ["거래", "협상", "공급망", "에너지", "기술", "계약", "한국"]
    matched = dict(match_tags(predicted, reference, ngrams))
    assert matched["에너지 솔루션"] == "에너지"
    assert "신속 배송" not in matched


def test_tag_f1_counts(ngrams: Similarity) -> None:
    result = tag_f1([(["Shipping", "discount"], ["shipping", "negotiation"]), ([], ["trade"])], ngrams)
    assert (result.predicted, result.reference) == (2, 3)
    assert result.matched_reference == 1
    assert result.precision == pytest.approx(0.5)
    assert result.recall == pytest.approx(1 / 3)
    assert result.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_semscore_skips_empty_responses(ngrams: Similarity) -> None:
    target = "송장은 수량, 단가, 총 금액을 포함합니다"
    result = semscore([("송장은 수량과 단가를 포함합니다", target), ("", "x")], ngrams)
    assert result.scored == 1 and result.skipped_empty == 1
    assert result.mean is not None and 0.5 < result.mean < 1.0
    assert result.backend_counts == {"char-ngram": 1}
    assert "disabled" in ngrams.description


def test_packaged_model_loads_offline_and_ranks_paraphrases() -> None:
    similarity = Similarity(use_model=True)
    if similarity.model is None:
        pytest.skip(f"sentence-embedding model unavailable: {similarity.fallback_reason}")
    (close, backend), (far, _) = similarity.pairwise(
        [
            ("The invoice lists quantity and unit price.", "Quantity and unit price appear on the invoice."),
            ("The invoice lists quantity and unit price.", "We ship the valves by sea from Busan."),
        ]
    )
    assert backend == "model"
    assert close > far
    assert similarity.backend_for("배송", "shipping") == "char-ngram"  # no Hangul in MiniLM's vocabulary
