"""Money: Decimal end to end, exact JSON, ledger rounding, canonical text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wisesync import money
from wisesync.money import MoneyError, canonical, fmt, round_money, to_decimal


@pytest.mark.parametrize(
    "text",
    [
        "1.2345678",
        "-0.0000001",
        "-98765.4321000",
        "123456789012345678901234567890.1234567",
        "0.10",
    ],
)
def test_json_number_round_trip_is_exact(text: str) -> None:
    document = f'{{"amount": {text}, "lines": [{{"q": {text}}}]}}'
    parsed = money.loads(document)
    assert isinstance(parsed["amount"], Decimal)
    assert parsed["amount"] == Decimal(text)
    # the same digits, trailing zeros included: no float anywhere on the way
    assert parsed["amount"].as_tuple() == Decimal(text).as_tuple()
    again = money.loads(money.dumps(parsed))
    assert again == parsed
    assert again["lines"][0]["q"].as_tuple() == Decimal(text).as_tuple()
    assert money.loads(document) == money.loads(money.dumps(money.loads(document)))


def test_loads_accepts_bytes_and_keeps_integers_integers() -> None:
    parsed = money.loads(b'{"n": 3, "x": 0.1}')
    assert parsed == {"n": 3, "x": Decimal("0.1")}
    assert type(parsed["n"]) is int
    # 0.1 as a float would print 0.1000000000000000055511151231257827...
    assert Decimal(parsed["x"]) * 3 == Decimal("0.3")


def test_dumps_writes_decimals_as_json_numbers_not_strings() -> None:
    assert money.dumps({"a": Decimal("-12.3456789")}) == '{"a": -12.3456789}'
    assert money.dumps([Decimal("1.10"), Decimal("-0.50")]) == "[1.10, -0.50]"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"a": Decimal("1E-7")}, '{"a": 0.0000001}'),
        ({"a": Decimal("1E+2")}, '{"a": 100}'),
        ([Decimal("0E-8"), Decimal("2.5")], "[0.00000000, 2.5]"),
        # a string holding "E-" takes the careful path too, and stays as it was
        ({"ref": "INV-E-1", "a": Decimal("1.5E-7")}, '{"ref": "INV-E-1", "a": 0.00000015}'),
        ({"ref": "INV-E-1", "a": Decimal("12.30")}, '{"ref": "INV-E-1", "a": 12.30}'),
    ],
)
def test_dumps_never_writes_an_exponent(document: object, expected: str) -> None:
    assert money.dumps(document) == expected


def test_dumps_of_a_float_free_document_never_rounds_large_amounts() -> None:
    big = Decimal("98765432109876543210987654321.1234567")  # 36 significant digits
    assert money.loads(money.dumps({"x": big}))["x"].as_tuple() == big.as_tuple()


def test_float_is_refused_with_a_helpful_message() -> None:
    with pytest.raises(MoneyError) as info:
        to_decimal(0.1, field="lines[0].unit_amount")
    text = str(info.value)
    assert "lines[0].unit_amount" in text
    assert "float" in text
    assert "wisesync.money.loads" in text  # says how to fix it
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Decimal("0")),
        ("", Decimal("0")),
        (" 12.50 ", Decimal("12.50")),
        (7, Decimal("7")),
        ("-0.0000001", Decimal("-0.0000001")),
        (Decimal("3.10"), Decimal("3.10")),
    ],
)
def test_to_decimal_accepts_api_values(value: object, expected: Decimal) -> None:
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert result == expected
    assert str(result) == str(expected)


@pytest.mark.parametrize("value", [True, "12,50", "abc", [1]])
def test_to_decimal_refuses_non_amounts_naming_the_field(value: object) -> None:
    with pytest.raises(MoneyError, match=r"^total: "):
        to_decimal(value, field="total")


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        ("2.345", 2, "2.35"),
        ("-2.345", 2, "-2.35"),
        ("2.344", 2, "2.34"),
        ("-2.344", 2, "-2.34"),
        ("0.005", 2, "0.01"),
        ("-0.005", 2, "-0.01"),
        ("2.5", 0, "3"),  # banker's rounding would give 2
        ("-2.5", 0, "-3"),
        ("0.125", 2, "0.13"),  # banker's rounding would give 0.12
        ("1.23455", 4, "1.2346"),
        ("10", 2, "10.00"),
    ],
)
def test_round_money_rounds_half_away_from_zero(value: str, places: int, expected: str) -> None:
    result = round_money(Decimal(value), places)
    assert str(result) == expected


def test_round_money_defaults_to_cents() -> None:
    assert str(round_money(Decimal("19.999"))) == "20.00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.00", "1"),
        ("1.0", "1"),
        ("1", "1"),
        ("1.10", "1.1"),
        ("-0.00", "0"),
        ("0", "0"),
        ("1E+2", "100"),
        ("0.0000001", "0.0000001"),
        ("-12.3400", "-12.34"),
        ("123456789012345678901234567890.1234567", "123456789012345678901234567890.1234567"),
    ],
)
def test_canonical_has_no_exponent_and_no_trailing_zeros(value: str, expected: str) -> None:
    assert canonical(Decimal(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), ("1", "1.00"), ("1.5", "1.50"), ("1.2345", "1.2345"), ("1E+3", "1000.00")],
)
def test_fmt_shows_at_least_two_decimals_without_exponent(value: str | None, expected: str) -> None:
    assert fmt(None if value is None else Decimal(value)) == expected
