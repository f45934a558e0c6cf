"""The sandbox's parser for ConnectWise ``conditions``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wisesync_connectwise.conditions import and_, eq, in_, literal
from wisesync_connectwise.sandbox.conditions import ConditionError, compile_conditions

ROWS = [
    {
        "id": 1,
        "name": 'The "Byte" Shop',
        "total": Decimal("10.5"),
        "closedFlag": True,
        "company": {"id": 7, "identifier": "BYTE"},
        "dueDays": "30",
        "_info": {"lastUpdated": "2025-03-01T10:00:00Z"},
        "reference": None,
    },
    {
        "id": 2,
        "name": "O'Brien & Sons",
        "total": Decimal("-3"),
        "closedFlag": False,
        "company": {"id": 8, "identifier": "OBRIEN"},
        "dueDays": "14",
        "_info": {"lastUpdated": "2025-05-01T10:00:00Z"},
        "reference": "PO 1",
    },
    {
        "id": 3,
        "name": "Café Zürich",
        "total": Decimal("0"),
        "closedFlag": True,
        "company": {"id": 9, "identifier": "CAFE"},
        "dueDays": "0",
        "_info": {"lastUpdated": "2025-07-01T10:00:00Z"},
        "reference": "back\\slash",
    },
]


def ids(text: str) -> list[int]:
    predicate, _ = compile_conditions(text)
    assert predicate is not None
    return [r["id"] for r in ROWS if predicate(r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'name = "The \"Byte\" Shop"', [1]),
        ('name = "O\'Brien & Sons"', [2]),
        ('name="café zürich"', [3]),  # case-insensitive, as SQL Server compares
        ("total > 0", [1]),
        ("total <= 0", [2, 3]),
        ("total != 0", [1, 2]),
        ("closedFlag = true and total >= 0", [1, 3]),
        ("closedFlag = false or company/id = 9", [2, 3]),
        ("closedFlag = true and (company/id = 7 or company/id = 8)", [1]),
        ("company/id=7 or company/id=8 and closedFlag=true", [1]),  # and binds tighter
        ("company/id in (7, 9)", [1, 3]),
        ("company/id not in (7, 9)", [2]),
        ('company/identifier in ("byte", "CAFE")', [1, 3]),
        ('name like "%Sons"', [2]),
        ('name like "caf_ z%"', [3]),
        ('name not like "%e%"', [3]),  # accent-sensitive: é is not e
        ('name contains "byte"', [1]),
        ("_info/lastUpdated > [2025-04-01T00:00:00Z]", [2, 3]),
        ("_info/lastUpdated < [2025-04-01T00:00:00Z] OR id = 3", [1, 3]),
        ("reference = null", [1]),
        ("reference != null", [2, 3]),
        ("dueDays = 30", [1]),  # a numeric string compared with a number
        ("not closedFlag = true", [2]),
        (r'reference = "back\\slash"', [3]),
    ],
)
def test_conditions(text, expected):
    assert ids(text) == expected


def test_fields_used_are_reported():
    _, fields = compile_conditions('company/id = 7 and (name like "x%" or total > 1)')
    assert fields == {"company/id", "name", "total"}


@pytest.mark.parametrize(
    "text",
    [
        "total >",
        'name = "unterminated',
        "(total > 1",
        "total > 1)",
        "= 3",
        "total ! 3",
        "total in ()",
        "total like 3",
        "x = [not a date]",
        "total > null",
        "name not = 1",
    ],
)
def test_malformed_conditions_are_400(text):
    with pytest.raises(ConditionError) as err:
        compile_conditions(text)
    assert err.value.status == 400


def test_the_plugins_condition_builder_round_trips():
    """What the plugin's builder writes, the sandbox reads back."""
    text = and_(eq("name", 'The "Byte" Shop'), in_("company/id", [7, 8]))
    assert ids(text) == [1]
    assert ids(f"reference = {literal('back' + chr(92) + 'slash')}") == [3]


def test_empty_conditions_match_everything():
    assert compile_conditions("") == (None, set())
    assert compile_conditions(None) == (None, set())
