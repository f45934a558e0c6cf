"""Condition strings: quoting, escaping, dates, lists; nothing can break out of a literal."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from wisesync_connectwise.conditions import and_, compare, eq, in_, literal, or_


def test_strings_are_double_quoted_and_escaped():
    assert literal("Finance Hold") == '"Finance Hold"'
    assert literal("O'Brien & Sons") == '"O\'Brien & Sons"'
    assert literal('say "hi"') == '"say \\"hi\\""'
    assert literal("back\\slash") == '"back\\\\slash"'
    # A value trying to close the quote and add a clause stays one literal.
    evil = '" or id>0 or name="'
    assert eq("name", evil) == 'name = "\\" or id>0 or name=\\""'


def test_numbers_bools_null_and_dates():
    assert literal(42) == "42"
    assert literal(Decimal("12.3400000")) == "12.3400000"
    assert literal(True) == "true" and literal(False) == "false"
    assert literal(None) == "null"
    aest = timezone(timedelta(hours=10))
    assert literal(datetime(2025, 4, 1, 10, 0, tzinfo=aest)) == "[2025-04-01T00:00:00Z]"
    assert literal(datetime(2025, 4, 1, tzinfo=UTC)) == "[2025-04-01T00:00:00Z]"
    assert literal(date(2025, 4, 1)) == "[2025-04-01T00:00:00Z]"


def test_floats_and_naive_datetimes_are_refused():
    with pytest.raises(TypeError):
        literal(1.5)
    with pytest.raises(ValueError):
        literal(datetime(2025, 1, 1))


def test_lists_and_combinators():
    assert in_("id", [3, 2, 4]) == "id in (3,2,4)"
    assert in_("batchIdentifier", ["a", 'b"']) == 'batchIdentifier in ("a","b\\"")'
    assert and_(eq("closedFlag", False), None, "") == "closedFlag = false"
    assert and_("a = 1", or_("b = 2", "c = 3")) == "a = 1 and (b = 2 or c = 3)"
    with pytest.raises(ValueError):
        in_("id", [])


def test_field_paths_are_checked():
    assert compare("company/identifier", "=", "ACME") == 'company/identifier = "ACME"'
    with pytest.raises(ValueError):
        eq("id) or (1", 1)
    with pytest.raises(ValueError):
        compare("id", "; drop", 1)
