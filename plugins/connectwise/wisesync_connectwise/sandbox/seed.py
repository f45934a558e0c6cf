"""A seeded, deterministic ConnectWise tenant: a realistic Australian MSP.

``generate(seed, invoices=, expenses=, procurement=, customers=, cases=)``
builds a :class:`~.state.State`; the same arguments always give the same data
(``random.Random(seed)``, no clock, no ``hash()``). With ``cases=True`` (the
default) the first records are the named edge cases of
``docs/sandbox-scenario.md`` and are listed in ``state.cases`` (case name ->
invoice number, expense id or procurement id); the rest are ordinary, clean
records. :func:`demo` is the small preset with every case.

The reference data (locations, GL caption and mappings, terms, statuses, tax codes,
items, members, vendors) and the word lists for generated names are data, in
``data/tenant.toml``; the chart of accounts, tax xrefs, item codes and tracking options
match the Xero sandbox's seed (``docs/sandbox-scenario.md``). The named cases are data
too, in ``data/cases.toml`` (customers, lines, amounts, in seeding order); code builds
them and the generated records. ``split_records(N)`` gives the counts of an N-record
tenant.
"""

from __future__ import annotations

import random
import tomllib
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from wisesync.money import round_money

from .state import (
    SEGMENTS,
    ZERO,
    BillingStatus,
    BillingTerm,
    Company,
    Contact,
    Expense,
    GLAccount,
    GLCaption,
    Invoice,
    InvoiceLine,
    Item,
    Member,
    Place,
    Procurement,
    ProcurementLine,
    State,
    TaxCode,
    now_iso,
)
from .views.expenses import ExpenseViews

#: the expense bill an expense joins (its member's week), as the export groups them
_bill_key = ExpenseViews.bill_key

D = Decimal
START = date(2025, 1, 6)
Q7 = D("0.0000001")

#: The named cases, in seeding order (``data/cases.toml``).
CASES = tomllib.loads((Path(__file__).with_name("data") / "cases.toml").read_text("utf-8"))
#: Invoice cases (name -> what it exercises); every one is seeded when ``cases=True``.
INVOICE_CASES = {c["case"]: c["description"] for c in CASES["invoices"]}
EXPENSE_CASES = {c["case"]: c["description"] for c in CASES["expenses"] if "case" in c}
PROCUREMENT_CASES = {c["case"]: c["description"] for c in CASES["procurement"]}

#: The tenant's reference data and word lists (``data/tenant.toml``).
TENANT = tomllib.loads((Path(__file__).with_name("data") / "tenant.toml").read_text("utf-8"))
_NAMES = TENANT["names"]
_PREFIX, _TRADE, _SUFFIX = _NAMES["prefix"], _NAMES["trade"], _NAMES["suffix"]
_FIRST, _LAST, _STREETS = _NAMES["first"], _NAMES["last"], _NAMES["streets"]
_CITIES = [tuple(c) for c in _NAMES["cities"]]
_TIME_NOTES = _NAMES["time_notes"]


def _q(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(D(places), rounding=ROUND_HALF_UP)


class _Builder:
    """Builds one tenant; kept as an object so helpers share the RNG and the state."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.s = State()
        self.invoice_seq = 10001
        self.contact_seq = 500
        self.case_bills: set[tuple[int, Any]] = set()  # (member, Monday) of the case bills

    # --- reference data -------------------------------------------------------------

    def reference(self) -> None:
        """Reference data from ``data/tenant.toml`` (the owner company is built here)."""
        s, data = self.s, TENANT
        for i, name in enumerate(data["locations"], start=1):
            s.locations[i] = Place(i, name, name[:3].upper())
        for i, (name, ident) in enumerate(data["departments"], start=10):
            s.departments[i] = Place(i, name, ident)
        captions = [name for name, _ in data["caption"]] + [""] * SEGMENTS
        types = [kind for _, kind in data["caption"]] + ["Account"] * SEGMENTS
        cogs = [data["cogs_caption"]] + [""] * (SEGMENTS - 1)
        s.caption = GLCaption(1, captions[:SEGMENTS], types[:SEGMENTS], cogs)
        for i, (name, days, xref, default) in enumerate(data["terms"], start=1):
            s.terms[i] = BillingTerm(i, name, days, xref, default)
        for i, (name, closed, default, sent) in enumerate(data["statuses"], start=1):
            s.statuses[i] = BillingStatus(i, name, closed, default, sent, sort_order=i)
        for i, (ident, desc, xref, rate, exempt) in enumerate(data["tax_codes"], start=1):
            s.tax_codes[i] = TaxCode(i, ident, desc, xref, D(rate), exempt)
        self.tax = {t.identifier: t.id for t in s.tax_codes.values()}

        mapped_types = {k: (v[0], v[1]) for k, v in data["mapped_types"].items()}
        for i, row in enumerate(data["gl_mappings"], start=1):
            npid = row.get("non_product_id", "")
            segments = [row.get("account", ""), row.get("location", ""), row.get("department", "")]
            segments += [npid] + [""] * (SEGMENTS - 4)
            s.gl_accounts[i] = GLAccount(
                id=i,
                gl_type=row["gl_type"],
                mapped_type=mapped_types[row["mapped_type"]],
                mapped_record=(100 + i, row["record"]),
                segments=segments,
                cogs=[row.get("cogs", "")] + [""] * (SEGMENTS - 1),
                product_id=npid or None,
                inventory=row.get("inventory") or None,
                sales_code=None,
                description=row["description"],
            )
            s.mapping_ids[row["key"]] = i
        m = s.mapping_ids
        s.ar_account_id, s.ap_account_id = m["ar"], m["ap"]
        s.tax_account_id, s.purchase_tax_account_id = m["sales_tax"], m["purchase_tax"]

        for i, (code, desc, price, cost, mapping, category) in enumerate(data["items"], start=201):
            s.items[i] = Item(i, code, desc, D(price), D(cost), m[mapping], category)
        self.item = {it.identifier: it.id for it in s.items.values()}
        for i, (ident, first, last) in enumerate(data["members"], start=1):
            s.members[i] = Member(
                i, ident, first, last, f"EMP-{ident.upper()}", f"{ident}@demomsp.com.au"
            )

        owner = Company(
            2,
            "DemoMSP",
            "WiseSync Demo MSP Pty Ltd",
            account_number="OWNER",
            address_line1="1 Market St",
            city="Sydney",
            state="NSW",
            zip="2000",
            terms_id=1,
            tax_code_id=self.tax["GST"],
            types=["Owner"],
            site_id=2,
        )
        s.companies[owner.id] = owner
        self.vendor_ids = []
        for i, (ident, name, acct) in enumerate(TENANT["vendors"], start=50):
            vendor = Company(
                i,
                ident,
                name,
                account_number=acct,
                city="Sydney",
                state="NSW",
                terms_id=1,
                tax_code_id=self.tax["GSTIN"],
                is_vendor=True,
                vendor_identifier=acct,
                types=["Vendor"],
                site_id=i,
            )
            s.companies[vendor.id] = vendor
            self._contact(vendor, primary=True, billing=True)
            self.vendor_ids.append(vendor.id)

    # --- companies ------------------------------------------------------------------

    def _contact(self, company: Company, *, primary: bool, billing: bool) -> Contact:
        rng = self.rng
        self.contact_seq += 1
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = "".join(ch for ch in company.identifier.lower() if ch.isalnum())[:16] or "example"
        email = f"{first.lower()}.{last.lower().replace(chr(39), '')}@{domain}.com.au"
        contact = Contact(
            self.contact_seq,
            company.id,
            first,
            last,
            title="Accounts" if billing and not primary else "Office Manager",
            email=email.encode("ascii", "ignore").decode(),
            phone=f"02 9{rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            default_flag=primary,
            default_billing_flag=billing,
        )
        self.s.contacts[contact.id] = contact
        if primary:
            company.default_contact_id = contact.id
        if billing:
            company.billing_contact_id = contact.id
        return contact

    def customer(
        self,
        index: int,
        name: str | None = None,
        *,
        contacts: str = "both",
        terms: str | None = None,
        currency: str = "AUD",
    ) -> Company:
        rng = self.rng
        if name is None:
            name = f"{rng.choice(_PREFIX)} {rng.choice(_TRADE)} {rng.choice(_SUFFIX)}"
        ident = "".join(ch for ch in name if ch.isalnum())[:24] + f"{index:03d}"
        city, region, postcode = rng.choice(_CITIES)
        term_ids = {t.name: t.id for t in self.s.terms.values()}
        term_id = term_ids[
            terms or rng.choice(["Net 30", "Net 30", "Net 30", "Net 14", "Due on receipt"])
        ]
        company = Company(
            id=100 + index,
            identifier=ident,
            name=name,
            account_number=f"C{index:05d}",
            address_line1=f"{rng.randint(1, 400)} {rng.choice(_STREETS)}",
            city=city,
            state=region,
            zip=postcode,
            phone=f"02 {rng.randint(8000, 9999)} {rng.randint(1000, 9999)}",
            website=None,
            terms_id=term_id,
            tax_code_id=self.tax["GST"],
            tax_identifier=f"{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
            site_id=1000 + index,
            currency=currency,
        )
        self.s.companies[company.id] = company
        if contacts == "both":
            same = rng.random() < 0.5
            self._contact(company, primary=True, billing=same)
            if not same:
                self._contact(company, primary=False, billing=True)
        elif contacts == "primary":
            self._contact(company, primary=True, billing=False)
        elif contacts == "billing":
            self._contact(company, primary=False, billing=True)
        billing = self.s.contacts.get(company.billing_contact_id or -1)
        company.invoice_to_email = billing.email if billing else None
        return company

    # --- invoices -------------------------------------------------------------------

    def _line(
        self,
        kind: str,
        memo: str,
        qty: Decimal,
        price: Decimal,
        mapping: str,
        item: str | None = None,
        taxable: bool = True,
        total: Decimal | None = None,
    ) -> InvoiceLine:
        s = self.s
        item_id = self.item[item] if item else None
        gl_account_id = s.items[item_id].gl_account_id if item_id else s.mapping_ids[mapping]
        cost = s.items[item_id].cost if item_id else D(0)
        return InvoiceLine(
            gl_id=s.gl_id(),
            kind=kind,
            memo=memo,
            quantity=qty,
            price=price,
            total=round_money(qty * price) if total is None else total,
            gl_account_id=gl_account_id,
            item_id=item_id,
            taxable=taxable,
            cost=cost,
            uom="Hour" if kind == "time" else "Each",
        )

    def _random_lines(self, inv_type: str, count: int) -> list[InvoiceLine]:
        rng = self.rng
        lines = []
        for _ in range(count):
            pick = rng.random()
            if inv_type == "Agreement" or pick < 0.2:
                users = D(rng.randint(3, 60))
                if rng.random() < 0.5:
                    lines.append(
                        self._line(
                            "agreement",
                            "Managed services agreement - monthly fee",
                            D(1),
                            D(rng.choice([990, 1450, 2200, 3600])),
                            "managed",
                        )
                    )
                else:
                    code = rng.choice(["SW-M365", "SW-AV"])
                    price = self.s.items[self.item[code]].price
                    lines.append(
                        self._line(
                            "product",
                            self.s.items[self.item[code]].description,
                            users,
                            price,
                            "software",
                            code,
                        )
                    )
            elif pick < 0.65:
                hours = D(rng.randint(1, 24)) * D("0.25")
                role = rng.choice(["labor", "labor", "project"])
                rate = D("165") if role == "labor" else D("185")
                lines.append(self._line("time", rng.choice(_TIME_NOTES), hours, rate, role))
            elif pick < 0.9:
                code = rng.choice(["HW-LAPTOP", "HW-DOCK"])
                item = self.s.items[self.item[code]]
                lines.append(
                    self._line(
                        "product",
                        item.description,
                        D(rng.randint(1, 5)),
                        item.price,
                        "hardware",
                        code,
                    )
                )
            else:
                amount = D(rng.randint(2000, 30000)) / 100
                lines.append(
                    self._line(
                        "expense",
                        "Travel: parking and tolls (on-site visit)",
                        D(1),
                        amount,
                        "billable_expense",
                    )
                )
        return lines

    def invoice(
        self,
        company: Company,
        inv_type: str,
        lines: list[InvoiceLine],
        *,
        status: str = "Closed",
        tax: str | None = None,
        adjust: Decimal = ZERO,
        tax_only: Decimal | None = None,
        day: int | None = None,
        case: str | None = None,
    ) -> Invoice:
        s = self.s
        number = str(self.invoice_seq)
        self.invoice_seq += 1
        if inv_type == "CreditMemo":
            for line in lines:
                line.quantity = -abs(line.quantity)
                line.total = -abs(line.total)
        when = START + timedelta(days=self.rng.randint(0, 150) if day is None else day)
        location = self.rng.choice([1, 1, 2, 3])
        inv = Invoice(
            id=39000 + int(number) - 10000,
            number=number,
            type=inv_type,
            status_id=next(st.id for st in s.statuses.values() if st.name == status),
            company_id=company.id,
            date=when,
            terms_id=company.terms_id,
            tax_code_id=self.tax[tax] if tax else company.tax_code_id,
            location_id=location,
            department_id=10 if inv_type == "Agreement" else self.rng.choice([10, 11, 12]),
            gl_ar_id=s.gl_id(),
            gl_tax_id=0,
            lines=lines,
            adjust=adjust,
            tax_only=tax_only,
            reference=f"Ticket #{self.rng.randint(20000, 99999)}"
            if inv_type == "Standard"
            else None,
            customer_po=f"PO{self.rng.randint(1000, 9999)}" if self.rng.random() < 0.2 else None,
            apply_to_type="Agreement" if inv_type == "Agreement" else "Ticket",
            date_closed=when,
            updated=f"{when.isoformat()}T09:00:00Z",
        )
        # the AR id comes first, the tax line's id after the lines' ids
        inv.gl_tax_id = s.gl_id()
        s.add_invoice(inv)
        if case:
            s.cases[case] = number
        return inv

    def rounding_lines(self, count: int) -> list[InvoiceLine]:
        """7-decimal lines whose CW total no ledger reproduces.

        CW's line total is ``round(qty * round(price, 2), 2)`` here, which differs
        both from ``round(qty * price, 2)`` (a ledger taking 7 decimals, QBO's
        rule) and from the same product at 4 decimals (Xero's precision).
        """
        rng = self.rng
        lines = []
        while len(lines) < count:
            qty = _q(D(rng.randint(10_000_000, 99_999_999)) / D(10_000_000), "0.0000001")
            price = _q(D(rng.randint(100_000_000, 9_999_999_999)) / D(10_000_000), "0.0000001")
            cw_total = round_money(qty * round_money(price))
            exact = round_money(qty * price)
            ledger = round_money(_q(qty, "0.0001") * _q(price, "0.0001"))
            if cw_total not in (exact, ledger):
                lines.append(
                    self._line(
                        "time",
                        "Remote monitoring, pro-rata (7dp)",
                        qty,
                        price,
                        "labor",
                        total=cw_total,
                    )
                )
        return lines

    def invoice_cases(self, customers: list[Company], index: int) -> int:
        """Seed ``CASES["invoices"]`` (their own customers appended to ``customers``);
        returns the next free customer index."""
        named = {"plain": customers[0]}
        for n, spec in enumerate(CASES["case_customers"]):
            options = {k: spec[k] for k in ("contacts", "terms", "currency") if k in spec}
            main = self.rng
            if spec.get("own_random"):  # added later: leave the tenant's random stream as it was
                self.rng = random.Random(spec["key"])
            try:
                named[spec["key"]] = self.customer(index + n, spec["name"], **options)
            finally:
                self.rng = main
            self.s.case_customers[spec["key"]] = named[spec["key"]].id
        extra = [c for key, c in named.items() if key != "plain"]
        customers.extend(extra)
        for spec in CASES["invoices"]:
            self._case_invoice(spec, named[spec["customer"]])
        return index + len(extra)

    def _case_invoice(self, spec: dict, company: Company) -> Invoice:
        main = self.rng
        if spec.get("own_random"):  # added later: leave the tenant's random stream as it was
            self.rng = random.Random(spec["case"])
        try:
            return self.invoice(
                company,
                spec["type"],
                self._case_lines(spec),
                status=spec.get("status", "Closed"),
                tax=spec.get("tax"),
                adjust=D(spec.get("adjust", "0")),
                tax_only=D(spec["tax_only"]) if "tax_only" in spec else None,
                case=spec["case"],
            )
        finally:
            self.rng = main

    def _case_lines(self, spec: dict) -> list[InvoiceLine]:
        if "random_lines" in spec:
            return self._random_lines(spec["type"], spec["random_lines"])
        if "rounding_lines" in spec:
            return self.rounding_lines(spec["rounding_lines"])
        if spec.get("long_description"):
            text = (
                "Network refresh: " + "replaced core switch, re-patched comms rack, "
                "documented VLANs and updated the as-built diagram. "
            ) * 40
            return [self._line("time", text[:4500], D(6), D(185), "project")]
        return [
            self._line(
                ln["kind"],
                ln["memo"],
                D(ln["quantity"]),
                D(ln["price"]),
                ln["mapping"],
                ln.get("item"),
                taxable=ln.get("taxable", True),
            )
            for ln in spec["lines"]
        ]

    # --- expenses -------------------------------------------------------------------

    def expense(
        self,
        classification: str,
        type_name: str,
        mapping: str,
        amount: Decimal,
        *,
        taxed: bool = True,
        billable: bool = False,
        company_id: int = 2,
        member_id: int | None = None,
        notes: str = "",
        day: int | None = None,
        as_bill: bool = False,
        case: str | None = None,
    ) -> Expense:
        s, rng = self.s, self.rng
        gl = s.gl_id()
        offset = s.gl_id() if classification == "NonReimbursable" else None
        tax = round_money(amount * D("0.1")) if taxed else D(0)
        when = START + timedelta(days=rng.randint(0, 150) if day is None else day)
        exp = Expense(
            id=gl,
            detail_id=80000 + len(s.expenses) + 1,
            offset_gl_id=offset,
            member_id=member_id or rng.choice(list(s.members)),
            company_id=company_id,
            classification=classification,
            type_name=type_name,
            date=when,
            amount=amount,
            tax=tax,
            billable=billable,
            gl_account_id=s.mapping_ids[mapping],
            offset_account_id=s.mapping_ids["exp_offset"]
            if classification != "Reimbursable"
            else None,
            tax_code_id=self.tax["GSTIN"] if taxed else self.tax["FREEXP"],
            location_id=1,
            department_id=10,
            notes=notes or f"{type_name} - {when.isoformat()}",
            payment_method="Cash" if classification == "Reimbursable" else "Company Credit Card",
            as_bill=as_bill,
            updated=f"{when.isoformat()}T17:00:00Z",
        )
        s.add_expense(exp)
        if case:
            s.cases[case] = str(exp.id)
        return exp

    def random_expense(self, customers: list[Company]) -> Expense:
        rng = self.rng
        kind = rng.choices(["Reimbursable", "NonReimbursable", "Personal"], [70, 25, 5])[0]
        type_name, mapping, taxed = rng.choice(
            [
                ("Mileage", "exp_motor", False),
                ("Meals", "exp_meals", True),
                ("Parking", "exp_motor", True),
                ("Airfare", "exp_travel", True),
                ("Software", "exp_general", True),
                ("Accommodation", "exp_travel", True),
            ]
        )
        billable = mapping == "exp_travel" and rng.random() < 0.6
        company = rng.choice(customers).id if billable else 2
        amount = D(rng.randint(800, 90000)) / 100
        as_bill = kind == "Reimbursable" and rng.random() < 0.2
        exp = self.expense(
            kind,
            type_name,
            mapping,
            amount,
            taxed=taxed,
            billable=billable,
            company_id=company,
            as_bill=as_bill,
        )
        # a named case's expense bill stays the case's own expenses
        exp.as_bill = as_bill and _bill_key(exp) not in self.case_bills
        return exp

    def expense_cases(self, customers: list[Company]) -> None:
        """Seed ``CASES["expenses"]``."""
        for spec in CASES["expenses"]:
            exp = self.expense(
                spec["classification"],
                spec["type"],
                spec["mapping"],
                D(spec["amount"]),
                billable=spec.get("billable", False),
                company_id=customers[0].id if spec.get("customer") == "first" else 2,
                member_id=spec["member"],
                notes=spec["notes"],
                day=spec.get("day"),
                as_bill=spec.get("as_bill", False),
                case=spec.get("case"),
            )
            if exp.as_bill:
                self.case_bills.add(_bill_key(exp))

    # --- procurement ----------------------------------------------------------------

    def procurement(
        self,
        kind: str,
        lines: list[tuple[str, Decimal, Decimal]],
        *,
        freight: Decimal = ZERO,
        reason: str | None = None,
        case: str | None = None,
    ) -> Procurement:
        s, rng = self.s, self.rng
        built = []
        for n, (code, qty, cost) in enumerate(lines, start=1):
            item = s.items[self.item[code]]
            mapping = {
                "Adjustment": s.mapping_ids["inv_adjust"],
                "Transfer": s.mapping_ids["inventory_melbourne"],
            }.get(kind, item.gl_account_id)
            built.append(
                ProcurementLine(
                    s.gl_id(),
                    item.id,
                    item.description,
                    qty,
                    cost,
                    round_money(qty * cost),
                    mapping,
                    n,
                )
            )
        po_id = 7000 + len(s.procurement) + 1
        when = START + timedelta(days=rng.randint(0, 150))
        purchase = kind == "Purchase"
        transfer = kind == "Transfer"
        prefix = "TRF" if transfer else "ADJ"
        record = Procurement(
            id=built[0].gl_id,
            kind=kind,
            document_number=str(po_id) if purchase else f"{prefix}{po_id}",
            po_id=po_id,
            packing_slip=f"PS{po_id}" if purchase else "",
            vendor_id=rng.choice(self.vendor_ids) if purchase else None,
            date=when,
            lines=built,
            terms_id=1 if purchase else None,
            tax_code_id=self.tax["GSTIN"] if purchase else None,
            location_id=1,
            department_id=12,
            ap_account_id=s.ap_account_id if purchase else None,
            freight=freight,
            freight_gl_id=s.gl_id() if freight else None,
            freight_account_id=s.mapping_ids["freight"] if freight else None,
            tax_gl_id=s.gl_id() if purchase else None,
            tax_account_id=s.purchase_tax_account_id if purchase else None,
            vendor_invoice_number=f"INV-{rng.randint(100000, 999999)}" if purchase else None,
            vendor_invoice_date=when if purchase else None,
            adjustment_account_id=s.mapping_ids["inventory"] if not purchase else None,
            offset_gl_id=s.gl_id() if transfer else None,
            transfer_from="SYDNEY" if transfer else None,
            transfer_to="MELBOURNE" if transfer else None,
            reason=reason,
            updated=f"{when.isoformat()}T11:00:00Z",
        )
        s.add_procurement(record)
        if case:
            s.cases[case] = str(record.id)
        return record

    def random_procurement(self) -> Procurement:
        rng = self.rng
        pick = rng.random()
        if pick < 0.05:
            code = rng.choice(["HW-LAPTOP", "HW-DOCK"])
            cost = self.s.items[self.item[code]].cost
            return self.procurement(
                "Transfer", [(code, D(rng.randint(1, 5)), cost)], reason="Stock rebalancing"
            )
        if pick < 0.2:
            code = rng.choice(["HW-LAPTOP", "HW-DOCK"])
            cost = self.s.items[self.item[code]].cost
            return self.procurement(
                "Adjustment", [(code, D(-rng.randint(1, 3)), cost)], reason="Stocktake variance"
            )
        lines = []
        for _ in range(rng.randint(1, 4)):
            code = rng.choice(["HW-LAPTOP", "HW-DOCK", "SW-M365", "SW-AV"])
            lines.append((code, D(rng.randint(1, 20)), self.s.items[self.item[code]].cost))
        freight = D(rng.choice([0, 0, 0, 25, 45, 89])) + (D("0.95") if rng.random() < 0.3 else 0)
        return self.procurement("Purchase", lines, freight=freight if freight > 1 else D(0))

    def procurement_cases(self) -> None:
        """Seed ``CASES["procurement"]`` (a line's empty cost is the item's own)."""
        items = self.s.items
        for spec in CASES["procurement"]:
            lines = [
                (code, D(qty), D(cost) if cost else items[self.item[code]].cost)
                for code, qty, cost in spec["lines"]
            ]
            self.procurement(
                spec["kind"],
                lines,
                freight=D(spec.get("freight", "0")),
                reason=spec.get("reason"),
                case=spec["case"],
            )


def split_records(records: int) -> dict[str, int]:
    """The record counts of a tenant of ``records`` unposted records in all: 70% invoices,
    15% expenses, 15% procurement, a customer per 25 records (at least 20)."""
    invoices = round(records * 0.7)
    expenses = round(records * 0.15)
    return {
        "invoices": invoices,
        "expenses": expenses,
        "procurement": max(records - invoices - expenses, 0),
        "customers": max(20, records // 25),
    }


def generate(
    seed: int = 0,
    *,
    invoices: int = 40,
    expenses: int = 15,
    procurement: int = 10,
    customers: int = 20,
    cases: bool = True,
) -> State:
    """Build a tenant. Counts are totals (cases included); ``cases`` seeds every named case.

    Invoice numbers start at 10001, invoice ids at 39001, GL entry ids at 1000. For a
    tenant of N records in all, pass ``**split_records(N)``.
    """
    b = _Builder(seed)
    b.reference()
    companies = [b.customer(i) for i in range(1, max(customers, 1) + 1)]
    index = len(companies) + 1
    if cases:
        b.invoice_cases(companies, index)
        b.expense_cases(companies)
        b.procurement_cases()
    rng = b.rng
    while len(b.s.invoices) < invoices:
        company = rng.choice(companies)
        inv_type = rng.choices(
            ["Standard", "Agreement", "Miscellaneous", "CreditMemo", "Progress", "DownPayment"],
            [58, 25, 9, 5, 2, 1],
        )[0]
        count = 1 if inv_type == "CreditMemo" else rng.choice([1, 1, 2, 2, 3, 4, 6])
        status = "Closed" if rng.random() < 0.97 else "New"
        b.invoice(company, inv_type, b._random_lines(inv_type, count), status=status)
    while len(b.s.expenses) < expenses:
        b.random_expense(companies)
    while len(b.s.procurement) < procurement:
        b.random_procurement()
    return b.s


def demo(seed: int = 0) -> State:
    """The demo tenant: every case plus a few ordinary records of each type."""
    return generate(seed, invoices=40, expenses=12, procurement=8, customers=12, cases=True)


def phase_two(state: State) -> list[str]:
    """Apply the seed's phase two (cases.toml ``[[phase_two_changes]]`` and
    ``[[phase_two_invoices]]``) to a seeded ``state``: what happens in ConnectWise after a
    first sync. Returns the new invoices' case names (already applied: nothing)."""
    if any(spec["case"] in state.cases for spec in CASES["phase_two_invoices"]):
        return []
    for spec in CASES["phase_two_changes"]:
        company = state.companies[state.case_customers[spec["customer"]]]
        for key in ("address_line1", "city", "state", "zip", "phone", "tax_identifier"):
            if key in spec:
                setattr(company, key, spec[key])
        if "billing_email" in spec:
            company.invoice_to_email = spec["billing_email"]
            billing = state.contacts.get(company.billing_contact_id or -1)
            if billing is not None:
                billing.email = spec["billing_email"]
                billing.updated = now_iso()
        company.updated = now_iso()
    state.touch_reference()
    b = _Builder(0)
    b.s = state
    b.tax = {t.identifier: t.id for t in state.tax_codes.values()}
    b.item = {it.identifier: it.id for it in state.items.values()}
    b.invoice_seq = max(int(n) for n in state.invoice_numbers if n.isdigit()) + 1
    made = []
    for spec in CASES["phase_two_invoices"]:
        company = state.companies[state.case_customers[spec["customer"]]]
        b._case_invoice({**spec, "own_random": True}, company)
        made.append(spec["case"])
    return made
