"""Synthetic ConnectWise records that fit the Xero sandbox's seed (docs/sandbox-scenario.md),
for benchmarks and demos: invoices, credit memos, expenses and purchase receipts, with
the warning cases users know (rounding, adjustment, terms xref, no billing contact,
long descriptions) sprinkled in. Deterministic for a given seed; every record posts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from wisesync.events.models import (
    Address,
    Contact,
    Line,
    Person,
    RecordEvent,
    RecordType,
    Terms,
    Totals,
    Tracking,
)
from wisesync.money import round_money

D = Decimal
START = date(2026, 1, 5)
_SALES = [  # item, account, unit price, description
    ("LABOR", "200", "165.00", "Remote support"),
    ("MANAGED", "210", "1250.00", "Managed services - monthly"),
    ("PROJECT", "220", "180.00", "Project work"),
    ("HW-LAPTOP", "200", "1899.00", "Laptop"),
    ("HW-DOCK", "200", "329.00", "Docking station"),
    ("SW-M365", "200", "36.30", "Microsoft 365 Business Premium"),
]
_LOCATIONS = ["Sydney", "Melbourne", "Brisbane"]
_DEPARTMENTS = ["Managed Services", "Projects", "Hardware"]


def customer(n: int, *, billing: bool = True) -> Contact:
    """Customer ``n`` as the sandbox seeds it (``Customer 00001`` / ``C00001``)."""
    person = Person(f"Accounts Team {n}", f"accounts{n}@customer{n}.example")
    return Contact(
        source_id=str(n),
        name=f"Customer {n:05d}",
        account_number=f"C{n:05d}",
        primary_contact=person,
        billing_contact=person if billing else None,
        address=Address(f"{n} Pitt St", None, "Sydney", "NSW", "2000", "Australia"),
        phone="02 9000 0000",
    )


def _person_contact(prefix: str, n: int, name: str) -> Contact:
    person = Person(name, f"{prefix.lower()}{n}@msp.example")
    return Contact(f"{prefix}:{n}", name, f"{prefix}{n:03d}", person, person)


@dataclass
class Workload:
    """Builds records; ``customers`` is how many distinct customers invoices go to."""

    seed: int = 0
    customers: int = 200
    company: str = "acme"
    prefix: str = "WL"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _sales_lines(self, count: int, *, rounding: bool = False) -> list[Line]:
        lines = []
        for _ in range(count):
            item, account, price, desc = self.rng.choice(_SALES)
            qty = D(self.rng.choice(["1", "2", "0.5", "1.25", "3"]))
            unit = D(price)
            if rounding:
                qty = D(self.rng.randint(1, 9)) + D(self.rng.randint(1, 9999999)) / D(10**7)
                unit = D(self.rng.randint(1, 99)) + D(self.rng.randint(1, 9999999)) / D(10**7)
            amount = qty * unit if rounding else round_money(qty * unit)
            lines.append(
                Line(
                    description=desc,
                    quantity=qty,
                    unit_amount=unit,
                    line_amount=amount,
                    gl_account=account,
                    item_code=item,
                    tax_code="OUTPUT",
                    tax_amount=round_money(amount * D("0.1")),
                    tracking=Tracking(
                        location=self.rng.choice(_LOCATIONS),
                        department=self.rng.choice(_DEPARTMENTS),
                    ),
                )
            )
        return lines

    def _event(
        self,
        record_type: RecordType,
        number: str,
        contact: Contact,
        lines: list[Line],
        *,
        total: Decimal | None = None,
        terms: Terms | None = None,
        subtype: str | None = None,
    ) -> RecordEvent:
        subtotal = sum((ln.line_amount for ln in lines), D(0))
        tax = sum((ln.tax_amount for ln in lines), D(0))
        head = total if total is not None else round_money(subtotal + tax)
        n = self.n
        return RecordEvent(
            company=self.company,
            source="connectwise",
            target="xero",
            record_type=record_type,
            source_id=f"{self.prefix}-{record_type.value}-{n}",
            source_batch_ids=[str(100000 + n)],
            document_number=number,
            date=START + timedelta(days=n % 60),
            terms=terms,
            contact=contact,
            lines=lines,
            totals=Totals(round_money(subtotal), tax, head),
            subtype=subtype,
        ).seal()

    def invoice(self) -> RecordEvent:
        """An invoice; about one in six carries a warning case."""
        n = self._next()
        roll = self.rng.random()
        cust = customer(self.rng.randint(1, self.customers), billing=roll >= 0.03)
        terms = Terms("Net 30", "30", 30)
        if 0.03 <= roll < 0.08:
            terms = Terms("EOM", None, None)
        lines = self._sales_lines(self.rng.randint(1, 6), rounding=0.08 <= roll < 0.13)
        total = None
        if 0.13 <= roll < 0.16:
            subtotal = sum((ln.line_amount for ln in lines), D(0))
            tax = sum((ln.tax_amount for ln in lines), D(0))
            total = round_money(subtotal + tax) + D(self.rng.choice(["0.01", "1.50", "3.50"]))
        if 0.16 <= roll < 0.17:
            lines[0].description = "Detailed work log. " * 250
        return self._event(
            RecordType.INVOICE,
            f"{self.prefix}{n:06d}",
            cust,
            lines,
            total=total,
            terms=terms,
            subtype="standard",
        )

    def credit_memo(self) -> RecordEvent:
        """A one-line credit memo."""
        n = self._next()
        cust = customer(self.rng.randint(1, self.customers))
        return self._event(
            RecordType.CREDIT_MEMO,
            f"{self.prefix}CM{n:06d}",
            cust,
            self._sales_lines(1),
            terms=Terms("Net 30", "30", 30),
            subtype="credit_memo",
        )

    def expense(self) -> RecordEvent:
        """An expense of a technician (reimbursable, company paid or personal)."""
        n = self._next()
        member = self.rng.randint(1, 15)
        net = D(self.rng.randint(500, 25000)) / D(100)
        kind = self.rng.choice(["reimbursable", "reimbursable", "company_paid", "personal"])
        line = Line(
            description="Travel: client site visit",
            quantity=D(1),
            unit_amount=net,
            line_amount=net,
            gl_account=self.rng.choice(["429", "449", "493"]),
            item_code="EXPENSE",
            tax_code="INPUT",
            tax_amount=round_money(net * D("0.1")),
            tracking=Tracking(location=self.rng.choice(_LOCATIONS)),
        )
        contact = _person_contact("EMP", member, f"Technician {member:02d}")
        return self._event(
            RecordType.EXPENSE, f"EXP-{self.prefix}{n:06d}", contact, [line], subtype=kind
        )

    def receipt(self) -> RecordEvent:
        """A purchase receipt from a distributor."""
        n = self._next()
        vendor = self.rng.randint(1, 10)
        lines = []
        for _ in range(self.rng.randint(1, 4)):
            item, cost = self.rng.choice(
                [
                    ("HW-LAPTOP", "1450.00"),
                    ("HW-DOCK", "240.00"),
                    ("SW-AV", "4.10"),
                    ("FREIGHT", "35.00"),
                ]
            )
            qty = D(self.rng.randint(1, 10))
            amount = qty * D(cost)
            lines.append(
                Line(
                    "Stock receipt",
                    qty,
                    D(cost),
                    amount,
                    gl_account="310",
                    item_code=item,
                    tax_code="INPUT",
                    tax_amount=round_money(amount * D("0.1")),
                )
            )
        contact = _person_contact("V", vendor, f"Distributor {vendor:02d}")
        return self._event(
            RecordType.PROCUREMENT,
            f"PO-{self.prefix}{n:06d}",
            contact,
            lines,
            terms=Terms("Net 30", "30", 30),
            subtype="receipt",
        )

    def invoices(self, count: int) -> list[RecordEvent]:
        """``count`` invoices."""
        return [self.invoice() for _ in range(count)]

    def mixed(self, count: int) -> list[RecordEvent]:
        """``count`` records: 70% invoices, 8% credit memos, 12% expenses, 10% receipts."""
        out = []
        for _ in range(count):
            roll = self.rng.random()
            if roll < 0.70:
                out.append(self.invoice())
            elif roll < 0.78:
                out.append(self.credit_memo())
            elif roll < 0.90:
                out.append(self.expense())
            else:
                out.append(self.receipt())
        return out
