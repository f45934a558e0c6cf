"""Fuzz: ConnectWise responses mutated (wrong types, missing and null fields, odd dates,
percent strings, huge and tiny numbers, 17-digit floats, unknown enums, duplicate ids).

Each record either yields an event whose lines + tax equal its total (journals: sum to
zero) with the header's total, or is held alone with a code; the run never crashes and
no record goes missing. The unmutated tenants are valid against ConnectWise's published
schema, so the mutations start from what ConnectWise really sends.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from decimal import Decimal
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wisesync.events.models import RecordEvent
from wisesync.messages import CATALOG
from wisesync.money import round_money
from wisesync.protocols import Held
from wisesync_connectwise import holds, samples
from wisesync_connectwise.sandbox.schema import document as schema_document

D = Decimal
ALL = ["invoice", "credit_memo", "expense", "procurement"]
#: the one copy of the published schema: the sandbox's (its hash is checked there)
SCHEMA = schema_document()
HOLD_CODES = {
    "SOURCE_FIELD_INVALID",
    "SOURCE_TOTALS_MISMATCH",
    "SOURCE_RECORD_GONE",
    "SOURCE_RECORD_COMBINED",
}
#: Outcome counts over every example of the session (printed by the last test).
TALLY: Counter[str] = Counter()

ODD = [
    "5/1/2014 5:21:58 AM",
    "2025-13-45T00:00:00Z",
    "yesterday",
    "20.00%",
    "",
    "  ",
    "NaN",
    "Infinity",
    "1e400",
    "ZZ",
    "CreditMemoX",
    "-0",
]
NUMBERS = [
    D("1E+20"),
    D("1E-12"),
    D("0.1000000000000000055511151231257827"),  # a float's 17+ significant digits
    D("12.345678901234567"),
    D("-99999999999999.99"),
    D(0),
    -1,
    2**40,
]
ODD_VALUES: list[Any] = [None, True, [], {}, [1, 2], {"id": "x"}, *ODD, *NUMBERS]


def base_tenant(seed: int) -> samples.Tenant:
    """A tenant with one record of every kind (ids offset by ``seed``)."""
    n = seed * 10 + 1
    u1, i1 = samples.invoice(n, [(D("2.5"), D(165)), (D(1), D("99.99"))])
    u2, i2 = samples.invoice(n + 1, [(D(3), D("10.10"))], credit=True)
    u3, e3 = samples.expense(n + 2, D("110"), D("10"))
    u4, _ = samples.expense(n + 3, D("50"), D(0))
    u5, _ = samples.expense(n + 4, D("25.5"), D(0))
    bill = samples.expense_bill(n + 900, [(n + 3, D(50)), (n + 4, D("25.5"))])
    u6, p6 = samples.purchase(n + 5, [(D(50), D("0.25")), (D(2), D("12.5"))], freight=D(5))
    u7, a7 = samples.adjustment(n + 6, [(3, D("4.5")), (-1, D(10))])
    u8, t8 = samples.transfer(n + 7, D(2), D("7.25"))
    return samples.Tenant(
        invoices=[(u1, i1), (u2, i2)],
        expenses=[(u3, e3)],
        bills=[([u4, u5], bill)],
        procurement=[(u6, "purchase", p6), (u7, "adjustment", a7), (u8, "transfer", t8)],
        customers=[{"company": samples.company_ref(10), "currency": samples.currency()}],
    )


def test_the_unmutated_tenant_is_published_shape():
    tenant = base_tenant(0)
    client = samples.TenantClient(tenant)
    export = client.post_json(
        "x", {"exportInvoicesFlag": True, "exportExpensesFlag": True, "exportProductsFlag": True}
    ).body
    for payload, name in [
        (export, "GLExport"),
        *((u, "UnpostedInvoice") for u, _ in tenant.invoices),
        *((u, "UnpostedExpense") for u in tenant.unposted("unpostedexpenses")),
        *((u, "UnpostedProcurement") for u, _, _ in tenant.procurement),
    ]:
        doc = json.loads(json.dumps(payload, default=float))
        schema = {"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]}
        jsonschema.Draft202012Validator(schema).validate(doc)
    got = run(tenant)
    assert sum(isinstance(x, RecordEvent) for x in got) == 7  # the bill's second expense:
    assert [x.code for x in got if isinstance(x, Held)] == ["SOURCE_RECORD_COMBINED"]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key / index path inside ``node``."""
    out = []
    if isinstance(node, tuple):  # a (row, entry) pair: mutate inside, not the pair
        for i, v in enumerate(node):
            out.extend(paths(v, (*prefix, i)))
    elif isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out.extend(paths(v, (*prefix, i)))
    return out


def mutate(root: Any, path: tuple, how: str, value: Any) -> None:
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if how == "delete":
        if isinstance(parent, dict):
            parent.pop(key, None)
        else:
            parent.pop(key)
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = copy.deepcopy(value)  # never share the sample objects between examples


def records(tenant: samples.Tenant) -> list[Any]:
    """The mutable parts: each (unposted row, export entry) pair, the lists themselves."""
    return [
        *tenant.invoices,
        *tenant.expenses,
        *tenant.bills,
        *[(u, e) for u, _, e in tenant.procurement],
    ]


def run(tenant: samples.Tenant) -> list[RecordEvent | Held]:
    return samples.extract(tenant)


def expected_ids(tenant: samples.Tenant) -> set[str]:
    """Ids of the (mutated) unposted rows that still have a readable id."""
    out = set()
    rows = [
        *((u, ("billingLogId", "id")) for u, _ in tenant.invoices),
        *((u, ("id",)) for u in tenant.unposted("unpostedexpenses")),
        *((u, ("id",)) for u, _, _ in tenant.procurement),
    ]
    for row, keys in rows:
        if not isinstance(row, dict):
            continue  # reported as row-<n>, held SOURCE_FIELD_INVALID
        key = next((k for k in keys if row.get(k) is not None), keys[-1])
        value = row.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out.add(str(value))
    return out


def header_total(kind: str, row: dict, entry: Any) -> Decimal | None:
    """The ConnectWise header total of a record as the ledger shows it, when readable."""
    raw = entry.get("total") if isinstance(entry, dict) else None
    if raw is None and isinstance(row, dict):
        raw = row.get("total")
    if not isinstance(raw, (int, Decimal)) or isinstance(raw, bool):
        return None
    return round_money(D(raw) * (-1 if kind == "credit" else 1), 2)


def check_event(e: RecordEvent) -> None:
    lines = sum((x.line_amount for x in e.lines), D(0))
    tax = sum((x.tax_amount for x in e.lines), D(0))
    if e.subtype in ("adjustment", "transfer"):
        assert lines == 0 and e.totals.tax == 0
        assert e.totals.total == sum((x.line_amount for x in e.lines if x.line_amount > 0), D(0))
    else:
        assert lines + tax == e.totals.total, e
        assert lines == e.totals.subtotal and tax == e.totals.tax
    for m in e.source_messages:
        assert m.code in CATALOG


EXPORT_PARTS = [
    "transactions",
    "customers",
    "expenses",
    "expenseBills",
    "purchaseTransactions",
    "adjustmentTransactions",
    "inventoryTransfers",
]
MUTATIONS = st.sampled_from(["replace", "delete", "null", "duplicate", "odd", "number"])


#: ``CW_FUZZ_EXAMPLES=5000`` for a longer, randomised hunt; the suite runs a fixed 400.
EXAMPLES = int(os.environ.get("CW_FUZZ_EXAMPLES", "0"))


@settings(
    max_examples=EXAMPLES or 400,
    derandomize=not EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(data=st.data(), seed=st.integers(0, 50))
def test_mutated_responses_never_crash_or_misstate_an_amount(data, seed):
    tenant = base_tenant(seed)
    kinds = {}
    for u, t in tenant.invoices:
        kinds[str(u["billingLogId"])] = (
            "credit" if u["invoiceType"] == "CreditMemo" else "inv",
            u,
            t,
        )
    for u, _, e in tenant.procurement:
        kinds[str(u["id"])] = ("proc", u, e)
    parts = records(tenant)
    touched = data.draw(st.lists(st.integers(0, len(parts) - 1), min_size=1, max_size=4))
    for index in touched:
        target = parts[index]
        where = paths(target)
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(where))
            how = data.draw(MUTATIONS)
            value = {
                "replace": data.draw(st.sampled_from(ODD_VALUES)),
                "null": None,
                "odd": data.draw(st.sampled_from(ODD)),
                "number": data.draw(st.sampled_from(NUMBERS)),
            }.get(how)
            try:
                mutate(target, path, how, value)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation removed or replaced the path's parent
            where = paths(target)
            if not where:
                break
    if data.draw(st.integers(0, 9)) == 0:  # a whole export part broken
        part = data.draw(st.sampled_from(EXPORT_PARTS))
        tenant.overrides[part] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
    if data.draw(st.booleans()):  # a duplicated unposted row
        tenant.invoices.append(copy.deepcopy(tenant.invoices[0]))
    before = holds.UNEXPECTED["count"]
    got = run(tenant)  # never raises
    assert holds.UNEXPECTED["count"] == before, "a record was held by the catch-all (a bug)"
    ids = [(str(x.record_type), x.source_id) for x in got]
    for item in got:
        if isinstance(item, Held):
            assert item.code in HOLD_CODES and item.text
            TALLY[f"held {item.code}"] += 1
            continue
        check_event(item)
        TALLY["event"] += 1
        kind = kinds.get(item.source_id)
        if kind and item.subtype not in ("adjustment", "transfer"):
            expected = header_total(kind[0], kind[1], kind[2])
            if expected is not None:
                assert item.totals.total == expected
    reported = {x.source_id for x in got}
    for row in expected_ids(tenant):
        assert row in reported, f"unposted row {row} went missing without a word"
    TALLY["records"] += len(got)
    TALLY["mutated records"] += len(set(touched))
    TALLY["examples"] += 1
    assert len(ids) == len(set(ids)), "a record was reported twice"


def test_zz_report_fuzz_tally(capsys):
    """Prints the outcome counts of the fuzz examples run in this session."""
    with capsys.disabled():
        print("\nfuzz tally:", json.dumps(dict(sorted(TALLY.items()))))
    assert TALLY["examples"] > 0 and TALLY["event"] > 0
