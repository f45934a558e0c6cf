"""The rounding maths: what Xero computes, and the rounding / adjustment lines."""

from decimal import Decimal as D

import pytest

from wisesync_xero.rounding import SourceLine, balance, ledger_line, line_amount, line_tax, q4


def test_q4_rounds_half_away_from_zero():
    assert q4(D("1.23455")) == D("1.2346")
    assert q4(D("-1.23455")) == D("-1.2346")
    assert q4(D("0.3333333")) == D("0.3333")


def test_line_amount_uses_four_decimal_inputs_and_two_decimal_result():
    # 3 x 0.3333333 is 0.9999999 in ConnectWise; Xero sees 3 x 0.3333 = 0.9999 -> 1.00
    assert line_amount(D("3"), D("0.3333333")) == D("1.00")
    # 7 x 1.2345678: Xero 7 x 1.2346 = 8.6422 -> 8.64 (CW: 8.6419746 -> 8.64)
    assert line_amount(D("7"), D("1.2345678")) == D("8.64")
    assert line_amount(D("2"), D("2.165")) == D("4.33")


def test_line_tax_exclusive_and_inclusive():
    assert line_tax(D("10.05"), D("10"), inclusive=False) == D("1.01")  # 1.005 -> 1.01
    assert line_tax(D("110.00"), D("10"), inclusive=True) == D("10.00")
    assert line_tax(D("10.00"), D("0"), inclusive=False) == D("0")
    assert line_tax(D("-10.05"), D("10"), inclusive=False) == D("-1.01")


def test_xero_documented_example_per_line_tax_differs_from_subtotal_tax():
    """Xero's rounding guide: per-line tax at 15% on three lines gives 11.44, not 11.45."""
    lines = [SourceLine(D("1"), D("25.43"), D("25.43"), D("15")) for _ in range(3)]
    # per line 3.8145 -> 3.81 each = 11.43; subtotal 76.29 * 15% = 11.4435 -> 11.44
    bal = balance(lines, D("87.73"))  # a source that taxed the subtotal: 76.29 + 11.44
    assert bal.ledger_tax == D("11.43")
    assert bal.rounding == 0
    assert bal.adjustment == D("0.01")
    assert not bal.over_cap
    assert bal.ledger_total == D("87.73")


def test_balanced_document_needs_nothing():
    lines = [
        SourceLine(D("2"), D("50"), D("100"), D("10")),
        SourceLine(D("1"), D("19.99"), D("19.99"), D("10")),
    ]
    bal = balance(lines, D("131.99"))
    assert (bal.rounding, bal.adjustment, bal.over_cap) == (0, 0, False)
    assert bal.ledger_total == D("131.99")
    assert bal.ledger_tax == D("12.00")


def test_seven_decimal_lines_get_a_rounding_line():
    # ConnectWise: 3 lines of 1 x 0.3333333 = 0.9999999 total -> 1.00.
    # Xero: each line 0.3333 -> 0.33, sum 0.99. Rounding line +0.01.
    lines = [SourceLine(D("1"), D("0.3333333"), D("0.3333333")) for _ in range(3)]
    bal = balance(lines, D("1.00"))
    assert [ln.line_amount for ln in bal.lines] == [D("0.33")] * 3
    assert bal.rounding == D("0.01")
    assert bal.adjustment == 0
    assert bal.ledger_total == D("1.00")


def test_rounding_then_adjustment_when_header_total_differs():
    lines = [SourceLine(D("1"), D("0.3333333"), D("0.3333333")) for _ in range(3)]
    bal = balance(lines, D("6.00"))
    assert bal.rounding == D("0.01")
    assert bal.adjustment == D("5.00")
    assert bal.ledger_total == D("6.00")


def test_adjustment_within_cap_and_exactly_at_cap():
    lines = [SourceLine(D("1"), D("100"), D("100"))]
    assert balance(lines, D("110.00")).adjustment == D("10.00")
    assert not balance(lines, D("110.00")).over_cap
    assert balance(lines, D("90.00")).adjustment == D("-10.00")
    assert not balance(lines, D("90.00")).over_cap


def test_adjustment_over_cap_fails_and_keeps_the_needed_amount():
    lines = [SourceLine(D("1"), D("100"), D("100"))]
    bal = balance(lines, D("110.01"))
    assert bal.over_cap
    assert bal.adjustment == D("10.01")
    assert bal.ledger_total == D("100.00")  # what Xero would compute without a fix


def test_cap_zero_means_no_limit():
    lines = [SourceLine(D("1"), D("100"), D("100"))]
    bal = balance(lines, D("1100"), cap=D("0"))
    assert not bal.over_cap
    assert bal.adjustment == D("1000.00")


def test_custom_cap():
    lines = [SourceLine(D("1"), D("100"), D("100"))]
    assert balance(lines, D("100.60"), cap=D("0.50")).over_cap
    assert not balance(lines, D("100.50"), cap=D("0.50")).over_cap


def test_zero_total_document():
    bal = balance([SourceLine(D("1"), D("0"), D("0"), D("10"))], D("0"))
    assert (bal.rounding, bal.adjustment, bal.ledger_total, bal.over_cap) == (0, 0, 0, False)
    # zero total made of a charge and a discount line
    bal = balance(
        [SourceLine(D("1"), D("50"), D("50")), SourceLine(D("1"), D("-50"), D("-50"))], D("0")
    )
    assert bal.ledger_total == 0 and not bal.adjustment


def test_no_source_total_means_the_lines_decide():
    lines = [SourceLine(D("1"), D("10"), D("10"), D("10"))]
    bal = balance(lines, None)
    assert bal.ledger_total == D("11.00") and bal.adjustment == 0


def test_inclusive_amounts_total_is_sum_of_lines():
    lines = [SourceLine(D("1"), D("110"), D("110"), D("10"))]
    bal = balance(lines, D("110"), inclusive=True)
    assert bal.ledger_tax == D("10.00")
    assert bal.ledger_total == D("110.00")
    assert bal.adjustment == 0


def test_line_total_not_qty_times_price_rederives_unit():
    # a discounted line: 3 x 40 but CW line total 100 -> send 3 x 33.3333 = 99.9999 -> 100.00
    ll = ledger_line(SourceLine(D("3"), D("40"), D("100")), inclusive=False)
    assert ll.quantity == D("3.0000") and ll.unit_amount == D("33.3333")
    assert ll.line_amount == D("100.00")


def test_zero_quantity_with_amount_becomes_one_unit():
    ll = ledger_line(SourceLine(D("0"), D("0"), D("75.5")), inclusive=False)
    assert (ll.quantity, ll.unit_amount, ll.line_amount) == (D("1.0000"), D("75.5000"), D("75.50"))


def test_negative_quantity_is_sent_positive_with_negative_unit():
    ll = ledger_line(SourceLine(D("-2"), D("10"), D("-20")), inclusive=False)
    assert (ll.quantity, ll.unit_amount, ll.line_amount) == (
        D("2.0000"),
        D("-10.0000"),
        D("-20.00"),
    )


@pytest.mark.parametrize(
    "qty,price",
    [("1.2345678", "9.8765432"), ("0.5", "0.0000001"), ("1000", "0.061171"), ("3", "33.3333333")],
)
def test_rounding_line_always_restores_the_cw_line_total(qty, price):
    q, p = D(qty), D(price)
    lines = [SourceLine(q, p, q * p, D("10")) for _ in range(4)]
    bal = balance(lines, None)
    cw = sum(q * p for _ in range(4))
    assert sum(ln.line_amount for ln in bal.lines) + bal.rounding == cw.quantize(D("0.01"))


def test_only_decimal_arithmetic():
    bal = balance([SourceLine(D("1"), D("1"), D("1"), D("10"))], D("1.10"))
    for value in (bal.rounding, bal.adjustment, bal.ledger_total, bal.ledger_tax):
        assert isinstance(value, D)
