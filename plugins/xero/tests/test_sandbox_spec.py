"""The sandbox's compiled spec check agrees with jsonschema on the official spec."""

from __future__ import annotations

import copy
import random
from decimal import Decimal
from typing import Any

import pytest

from wisesync_xero.sandbox import spec

SCHEMAS = [
    "Invoices",
    "CreditNotes",
    "Contacts",
    "Payments",
    "Payment",
    "PaymentDelete",
    "Account",
    "Accounts",
    "Allocations",
    "Items",
]

INVOICE = {
    "Type": "ACCREC",
    "Contact": {"ContactID": "15976e62-37ad-4065-8bba-d8c5c264e078", "Name": "A"},
    "Date": "2024-01-31",
    "DueDate": "/Date(1518685950940+0000)/",
    "LineAmountTypes": "Exclusive",
    "Status": "AUTHORISED",
    "InvoiceNumber": "INV-1",
    "Url": "https://example.com/x",
    "LineItems": [
        {
            "Description": "x",
            "Quantity": Decimal("1.5"),
            "UnitAmount": Decimal("10.1234"),
            "AccountCode": "200",
            "TaxType": "OUTPUT",
            "TaxAmount": Decimal("1.52"),
            "Tracking": [{"Name": "Location", "Option": "Sydney"}],
        }
    ],
}
SAMPLES: dict[str, Any] = {
    "Invoices": {"Invoices": [INVOICE]},
    "CreditNotes": {
        "CreditNotes": [
            {
                **{k: v for k, v in INVOICE.items() if k not in ("InvoiceNumber", "Url")},
                "Type": "ACCRECCREDIT",
                "CreditNoteNumber": "CN-1",
            }
        ]
    },
    "Contacts": {"Contacts": [{"Name": "A", "ContactNumber": "C1", "EmailAddress": "a@b.c"}]},
    "Payments": {
        "Payments": [
            {"Invoice": {"InvoiceNumber": "INV-1"}, "Account": {"Code": "090"}, "Amount": 5}
        ]
    },
    "Payment": {"Invoice": {"InvoiceID": "15976e62-37ad-4065-8bba-d8c5c264e078"}, "Amount": 5},
    "PaymentDelete": {"Status": "DELETED"},
    "Account": {"Code": "4999", "Name": "Misc", "Type": "REVENUE"},
    "Accounts": {"Accounts": [{"Status": "ARCHIVED"}]},
    "Allocations": {
        "Allocations": [
            {
                "Invoice": {"InvoiceID": INVOICE["Contact"]["ContactID"]},
                "Amount": 1,
                "Date": "2024-01-01",
            }
        ]
    },
    "Items": {"Items": [{"Code": "X", "SalesDetails": {"UnitPrice": Decimal("1.25")}}]},
}

WEIRD = ["", "x", "not-a-uuid", "2024/01/31", 3, Decimal("2.5"), True, None, [], {}, "A" * 300]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _mutate(body: Any, rng: random.Random) -> Any:
    body = copy.deepcopy(body)
    path = rng.choice(_paths(body)[1:])
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    action = rng.random()
    if action < 0.7:
        parent[path[-1]] = rng.choice(WEIRD)
    elif isinstance(parent, dict) and action < 0.85:
        parent[rng.choice(["Bogus", "lineItems", "HasErrors", "Status"])] = rng.choice(WEIRD)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    return body


def _jsonschema_valid(name: str, body: Any) -> bool:
    return not any(True for _ in spec.validator(name).iter_errors(body))


@pytest.mark.parametrize("name", SCHEMAS)
def test_fast_check_agrees_with_jsonschema_on_mutated_bodies(name):
    rng = random.Random(name)
    fast = spec.fast_validator(name)
    assert fast(SAMPLES[name]) and _jsonschema_valid(name, SAMPLES[name])
    for _ in range(300):
        body = _mutate(SAMPLES[name], rng)
        assert fast(body) == _jsonschema_valid(name, body), body


def test_spec_examples_are_judged_the_same_by_both():
    document = spec.load_spec()
    checked = 0
    for (method, path), name in spec.request_schemas().items():
        op = next(
            op
            for p, item in document["paths"].items()
            if p.lower() == path
            for m, op in item.items()
            if m.upper() == method
        )
        example = op["requestBody"].get("content", {}).get("application/json", {}).get("example")
        if isinstance(example, str):
            try:
                from wisesync import money

                example = money.loads(example)
            except ValueError:
                continue
        if example is None:
            continue
        checked += 1
        assert spec.fast_validator(name)(example) == _jsonschema_valid(name, example), path
    assert checked > 20


def test_every_schema_compiles():
    for name in spec.load_spec()["components"]["schemas"]:
        assert callable(spec.fast_validator(name))


def test_contact_payment_terms_are_checked_against_the_term_type_enum():
    # what the Xero target writes on a contact (wisesync_xero.payment_terms)
    check = spec.fast_validator("Contacts")

    def contact(terms: dict) -> dict:
        return {"Contacts": [{"ContactID": "15976e62-37ad-4065-8bba-d8c5c264e078", **terms}]}

    for kind in ("DAYSAFTERBILLDATE", "DAYSAFTERBILLMONTH", "OFCURRENTMONTH", "OFFOLLOWINGMONTH"):
        assert check(contact({"PaymentTerms": {"Sales": {"Day": 20, "Type": kind}}}))
    assert not check(contact({"PaymentTerms": {"Sales": {"Day": 20, "Type": "ENDOFMONTH"}}}))
    assert not check(
        contact({"PaymentTerms": {"Bills": {"Day": "twenty", "Type": "OFCURRENTMONTH"}}})
    )
