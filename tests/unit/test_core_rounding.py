"""The ledger-neutral rounding and capped-adjustment algorithm, under two ledgers' rules."""

from __future__ import annotations

from decimal import Decimal as D

from wisesync.rounding import RoundingRule, SourceLine, balance, ledger_line

FOUR_DP = RoundingRule(quantity_dp=4, unit_dp=4, negative_quantity=False)
SEVEN_DP = RoundingRule(quantity_dp=7, unit_dp=7, negative_quantity=True)


def test_the_rule_decides_the_decimals_kept_and_so_the_rounding_line() -> None:
    line = SourceLine(D("1.5"), D("33.3333333"), D("49.99999995"))
    four = balance([line], None, FOUR_DP)
    seven = balance([line], None, SEVEN_DP)
    assert four.lines[0].unit_amount == D("33.3333") and four.lines[0].line_amount == D("50.00")
    assert seven.lines[0].unit_amount == D("33.3333333")
    assert four.rounding == D("0.00") and seven.ledger_total == D("50.00")


def test_negative_quantities_follow_the_rule() -> None:
    line = SourceLine(D("-2"), D("10"), D("-20"))
    four = ledger_line(line, FOUR_DP, inclusive=False)
    seven = ledger_line(line, SEVEN_DP, inclusive=False)
    assert (four.quantity, four.unit_amount, four.line_amount) == (D("2"), D("-10"), D("-20"))
    assert (seven.quantity, seven.unit_amount, seven.line_amount) == (D("-2"), D("10"), D("-20"))


def test_per_line_tax_gap_is_an_adjustment_within_the_cap_and_refused_over_it() -> None:
    lines = [SourceLine(D("1"), D("0.05"), D("0.05"), D("10"))] * 3  # 3 x 0.005 tax -> 0.03
    within = balance(lines, D("0.17"), SEVEN_DP)  # the source taxed the subtotal: 0.015 -> 0.02
    assert within.ledger_tax == D("0.03") and within.adjustment == D("-0.01")
    assert not within.over_cap and within.ledger_total == D("0.17")
    over = balance(lines, D("5.00"), SEVEN_DP, cap=D("1.00"))
    assert over.over_cap and over.ledger_total == D("0.18") and over.source_total == D("5.00")
    uncapped = balance(lines, D("5.00"), SEVEN_DP, cap=D("0"))
    assert not uncapped.over_cap and uncapped.adjustment == D("4.82")
