"""The negotiation resolver over typed statements: each act's effect on the term on the table."""

from __future__ import annotations

from services.extract.rules.negotiation import Act, Decision, PriceStatement, Source, Statement, Track

SOURCE = (Source("m", 0, 1, "x"),)


def price(value: float, role: str, order: int, currency: str | None = None, negated: bool = False) -> PriceStatement:
    return PriceStatement(value, role, order, SOURCE, negated=negated, currency=currency)


def resolved(track: Track[PriceStatement], decisions: dict[int, Decision], suppliers: set[int]) -> float | None:
    chosen = track.resolve(decisions, suppliers)
    return None if chosen is None else float(chosen.value)


def test_a_counter_offer_is_a_term_only_once_the_supplier_accepts() -> None:
    track: Track[PriceStatement] = Track(buyer_may_establish=False)
    track.add(price(10, "supplier", 0))
    track.add(price(8, "buyer", 1))
    assert resolved(track, {}, {0}) == 10
    assert resolved(track, {2: "accept"}, {0, 2}) == 8
    assert resolved(track, {2: "reject"}, {0, 2}) == 10


def test_meeting_halfway_keeps_the_kind_of_statement() -> None:
    track: Track[PriceStatement] = Track(buyer_may_establish=False)
    track.add(price(10, "supplier", 0, currency="USD"))
    track.add(price(8, "buyer", 1))
    chosen = track.resolve({2: "halfway"}, {0, 2})
    assert isinstance(chosen, PriceStatement) and chosen.value == 9 and chosen.order == 2


def test_the_supplier_restating_the_counter_offer_negated_declines_it() -> None:
    track: Track[PriceStatement] = Track(buyer_may_establish=False)
    track.add(price(10, "supplier", 0))
    track.add(price(8, "buyer", 1))
    track.add(price(8, "supplier", 2, negated=True))
    assert resolved(track, {}, {0, 2}) == 10


def test_explicit_acts_correct_choose_and_drop() -> None:
    track: Track[Statement] = Track(buyer_may_establish=False)

    def value() -> object:
        chosen = track.resolve({}, {0, 1})
        return None if chosen is None else chosen.value

    track.add(Statement(10, "supplier", 0, SOURCE))
    track.add(Statement(12, "supplier", 1, SOURCE, act=Act.CORRECTION))
    assert value() == 12
    track.add(Statement(11, "buyer", 2, SOURCE, act=Act.OPTION_CHOICE))
    assert value() == 11
    track.add(Statement(None, "buyer", 3, SOURCE, act=Act.ITEM_DROPPED))
    assert value() is None
