"""Ledger-neutral record builders for plugin tests, with one scenario per message code.

A ledger plugin's tests describe its ledger once with a :class:`Vocabulary` (an account
and a tax code it has, ones it lacks, its description limit...) and get records from a
:class:`RecordBuilder`::

    records = RecordBuilder(Vocabulary(target="mybooks", account="200", tax_code="OUTPUT", ...))
    records.record(records.line("120", "1.5"))          # a valid invoice
    records.scenario("TAX_CODE_INVALID")                # a record validate must refuse
    records.error_cases()                               # code -> record, for the suite

:data:`ERROR_SCENARIOS` and :data:`WARNING_SCENARIOS` list the message codes every ledger
target is expected to raise from the record and its reference data alone; the target
conformance suite (:mod:`wisesync.testing.conformance`) runs them. :func:`posting_result`
is the result the poster would emit for a record (for source acknowledgement tests).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal as D
from typing import Any

from wisesync.company import CompanyConfig, CompanyOptions
from wisesync.events.models import (
    Address,
    Contact,
    Line,
    Payment,
    Person,
    PostingResult,
    PostOutcome,
    RecordEvent,
    RecordType,
    Status,
    Terms,
    Totals,
    Tracking,
)

_DEFAULT: Any = object()


@dataclass(frozen=True)
class Vocabulary:
    """What the builders need to know of one ledger's reference data (its sandbox seed).

    Attributes:
        target: the ledger plugin's name (``RecordEvent.target``).
        account: an income account the ledger has; ``missing_account`` one it lacks.
        tax_code: a taxed code it has, at ``tax_rates[tax_code]`` (a fraction: 0.1);
            ``exempt_tax_code`` an untaxed one; ``missing_tax_code`` one it lacks.
        item_code: an item it has (None: the ledger posts no items).
        unknown_location: a tracking option the ledger lacks.
        description_limit: the longest line description the ledger keeps.
        adjustment_cap: the company's adjustment cap the scenarios are sized against.
        source: the plugin the records come from (a ledger, for payments).

    A payments target (payments flow from a ledger back to the source) needs only
    ``target`` and ``source``.
    """

    target: str
    account: str = ""
    missing_account: str = ""
    tax_code: str = ""
    exempt_tax_code: str = ""
    missing_tax_code: str = ""
    tax_rates: dict[str, D] = field(default_factory=dict)
    item_code: str | None = None
    unknown_location: str = "Atlantis"
    description_limit: int = 4000
    adjustment_cap: D = D("10.00")
    source: str = "connectwise"


def seed_vocabulary(target: str) -> Vocabulary:
    """The vocabulary of the seed the ledger sandboxes share (the demo's too): income
    account 200 (4999 missing), OUTPUT and INPUT taxed at 10 %, EXEMPTOUTPUT untaxed,
    GST99 missing, the item LABOR, and no tracking option Perth."""
    return Vocabulary(
        target=target,
        account="200",
        missing_account="4999",
        tax_code="OUTPUT",
        exempt_tax_code="EXEMPTOUTPUT",
        missing_tax_code="GST99",
        tax_rates={"OUTPUT": D("0.1"), "INPUT": D("0.1")},
        item_code="LABOR",
        unknown_location="Perth",
    )


def ledger_company(
    ledger: str,
    section: dict[str, Any],
    *,
    key: str = "acme",
    options: CompanyOptions | None = None,
) -> CompanyConfig:
    """A :class:`~wisesync.company.CompanyConfig` posting to ``ledger`` with its
    ``[companies.<ledger>]`` table ``section``; the company requires item codes unless
    ``options`` say otherwise."""
    return CompanyConfig(
        key=key,
        name=key.title(),
        ledger=ledger,
        options=options or CompanyOptions(require_item_code=True),
        settings={ledger: section},
    )


#: Codes ``validate`` must refuse with, from the record and reference data alone.
ERROR_SCENARIOS = (
    "GL_MAPPING_MISSING",
    "LEDGER_ACCOUNT_MISSING",
    "TAX_CODE_INVALID",
    "ADJUSTMENT_OVER_CAP",
    "RECORD_INVALID",
)
#: Codes a payments target fails a payment with when posting (it must ask the API).
PAYMENT_POST_ERRORS = ("INVOICE_NOT_FOUND", "PAYMENT_EXCEEDS_BALANCE")
#: Warnings a record posts with.
WARNING_SCENARIOS = (
    "ROUNDING_APPLIED",
    "ADJUSTMENT_APPLIED",
    "TERMS_XREF",
    "NO_BILLING_CONTACT",
    "DESCRIPTION_TRUNCATED",
    "TRACKING_MISSING",
)


class RecordBuilder:
    """Builds customers, lines and sealed records for one ledger; numbers never repeat.

    ``prefix`` starts every document number (default: a random one, so records are new to
    a ledger that outlives the builder); ``rotate_contacts`` > 0 spreads records over that
    many customers (C00001...), else every record is for customer 1.
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        company: str = "acme",
        prefix: str = "",
        rotate_contacts: int = 0,
    ):
        self.vocabulary = vocabulary
        self.company = company
        self.prefix = prefix or f"T{uuid.uuid4().hex[:5].upper()}-"
        self.rotate_contacts = rotate_contacts
        self._ids = itertools.count(1)

    def customer(self, n: int = 1, **kw: Any) -> Contact:
        """A source customer numbered like the sandboxes' seeded contacts (C00001...)."""
        base = Contact(
            source_id=str(n),
            name=f"Customer {n:05d}",
            account_number=f"C{n:05d}",
            primary_contact=Person("Pat Primary", "pat@example.com"),
            billing_contact=Person("Bill Payer", "bill@example.com"),
            address=Address("1 George St", None, "Sydney", "NSW", "2000", "Australia"),
            phone="02 9999 0000",
        )
        return replace(base, **kw)

    def line(
        self,
        amount: str = "100",
        qty: str = "1",
        *,
        account: str | None = _DEFAULT,
        item: str | None = _DEFAULT,
        tax: str | None = _DEFAULT,
        tax_amount: str | None = None,
        description: str = "Remote support",
        location: str | None = None,
        department: str | None = None,
    ) -> Line:
        """One line; ``amount`` is the unit amount, the line amount is qty x amount."""
        v = self.vocabulary
        tax = v.tax_code if tax is _DEFAULT else tax
        q, u = D(qty), D(amount)
        total = q * u
        rate = v.tax_rates.get(tax or "", D(0))
        return Line(
            description=description,
            quantity=q,
            unit_amount=u,
            line_amount=total,
            gl_account=v.account if account is _DEFAULT else account,
            item_code=v.item_code if item is _DEFAULT else item,
            tax_code=tax,
            tax_amount=D(tax_amount)
            if tax_amount is not None
            else (total * rate).quantize(D("0.01")),
            tracking=Tracking(location=location, department=department),
        )

    def record(
        self,
        *lines: Line,
        record_type: RecordType = RecordType.INVOICE,
        number: str | None = None,
        contact: Contact | None = _DEFAULT,
        total: str | None = None,
        terms: Terms | None = _DEFAULT,
        subtype: str | None = None,
        source_id: str | None = None,
        **kw: Any,
    ) -> RecordEvent:
        """A sealed record; totals from the lines unless ``total`` overrides the header."""
        n = next(self._ids)
        lines = list(lines) or [self.line()]
        subtotal = sum((ln.line_amount for ln in lines), D(0))
        tax = sum((ln.tax_amount for ln in lines), D(0))
        head = D(total) if total is not None else (subtotal + tax).quantize(D("0.01"))
        return RecordEvent(
            company=kw.pop("company", self.company),
            source=self.vocabulary.source,
            target=self.vocabulary.target,
            record_type=record_type,
            source_id=source_id or f"{record_type.value}-{self.prefix}{n}",
            document_number=number or f"{self.prefix}{n:05d}",
            date=kw.pop("date", date(2026, 1, 5)),
            terms=Terms("Net 30", "30", 30) if terms is _DEFAULT else terms,
            contact=self._contact(n) if contact is _DEFAULT else contact,
            lines=lines,
            totals=Totals(subtotal, tax, head),
            subtype=subtype,
            **kw,
        ).seal()

    def _contact(self, n: int) -> Contact:
        return self.customer(1 + n % self.rotate_contacts if self.rotate_contacts else 1)

    def valid(self, count: int) -> list[RecordEvent]:
        """``count`` invoices that post cleanly."""
        return [self.record(self.line("120", "1.5")) for _ in range(count)]

    def payment(
        self,
        invoice_number: str,
        amount: str = "1.00",
        *,
        pid: str | None = None,
        reversed: bool = False,
    ) -> RecordEvent:
        """A sealed ledger payment of ``amount`` on invoice ``invoice_number``; ``pid`` is
        the ledger payment id (default: a new one)."""
        pid = pid or f"P-{self.prefix}{next(self._ids)}"
        return RecordEvent(
            company=self.company,
            source=self.vocabulary.source,
            target=self.vocabulary.target,
            record_type=RecordType.PAYMENT,
            source_id=pid + (":reversed" if reversed else ""),
            payment=Payment(
                ledger_payment_id=pid,
                invoice_number=invoice_number,
                amount=D(amount),
                date=date(2026, 1, 5),
                reversed=reversed,
            ),
        ).seal()

    def payment_cases(
        self, invoice_number: str
    ) -> tuple[dict[str, RecordEvent], dict[str, RecordEvent]]:
        """(validate errors, post errors) for a payments target, around an open invoice."""
        invalid = {"RECORD_INVALID": self.payment(invoice_number, "0.00")}
        post = {
            "INVOICE_NOT_FOUND": self.payment(f"NO-SUCH-{self.prefix}{next(self._ids)}"),
            "PAYMENT_EXCEEDS_BALANCE": self.payment(invoice_number, "99999999.00"),
        }
        return invalid, post

    # --- one scenario per message code ------------------------------------------------

    def scenario(self, code: str) -> RecordEvent:
        """A record that makes the target raise ``code``."""
        build = _SCENARIOS.get(code)
        if build is None:
            raise KeyError(f"no scenario for {code}; known: {', '.join(sorted(_SCENARIOS))}")
        return build(self)

    def error_cases(self, codes: Iterable[str] = ERROR_SCENARIOS) -> dict[str, RecordEvent]:
        """Error code -> a record ``validate`` must refuse with it."""
        return {code: self.scenario(code) for code in codes}

    def warning_cases(self, codes: Iterable[str] = WARNING_SCENARIOS) -> dict[str, RecordEvent]:
        """Warning code -> a record that posts carrying it."""
        return {code: self.scenario(code) for code in codes}


def _over_cap(b: RecordBuilder) -> RecordEvent:
    line = b.line("100")
    return b.record(
        line, total=str(line.line_amount + line.tax_amount + 2 * b.vocabulary.adjustment_cap + 5)
    )


def _adjusted(b: RecordBuilder) -> RecordEvent:
    line = b.line("100")
    return b.record(line, total=str(line.line_amount + line.tax_amount + D("3.50")))


def _rounded(b: RecordBuilder) -> RecordEvent:
    thirds = [b.line("0.3333333", tax=b.vocabulary.exempt_tax_code) for _ in range(3)]
    return b.record(*thirds, total="1.00")


_SCENARIOS: dict[str, Callable[[RecordBuilder], RecordEvent]] = {
    "GL_MAPPING_MISSING": lambda b: b.record(b.line(account=None)),
    "LEDGER_ACCOUNT_MISSING": lambda b: b.record(b.line(account=b.vocabulary.missing_account)),
    "TAX_CODE_INVALID": lambda b: b.record(b.line(tax=b.vocabulary.missing_tax_code)),
    "ADJUSTMENT_OVER_CAP": _over_cap,
    "RECORD_INVALID": lambda b: b.record(b.line(), contact=None),
    "ROUNDING_APPLIED": _rounded,
    "ADJUSTMENT_APPLIED": _adjusted,
    "TERMS_XREF": lambda b: b.record(b.line(), terms=Terms("EOM", None, None)),
    "NO_BILLING_CONTACT": lambda b: b.record(
        b.line(), contact=b.customer(40, primary_contact=None, billing_contact=None)
    ),
    "DESCRIPTION_TRUNCATED": lambda b: b.record(
        b.line(description="d" * (b.vocabulary.description_limit + 100))
    ),
    "TRACKING_MISSING": lambda b: b.record(b.line(location=b.vocabulary.unknown_location)),
}


def posting_result(
    event: RecordEvent, status: Status = Status.POSTED, *, ledger_id: str | None = None
) -> PostingResult:
    """The result the poster would emit for ``event`` (in run ``run-1`` when it has none)."""
    from wisesync.pipeline.outcomes import result_for

    outcome = PostOutcome(event.source_id, status, ledger_id=ledger_id or f"L-{event.source_id}")
    result = result_for(event, status, [], outcome=outcome)
    result.run_id = result.run_id or "run-1"
    return result
