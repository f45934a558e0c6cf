"""QBO's business rules for writes, and its Fault bodies.

:func:`check_write` returns the Errors QBO would answer for a create or update (empty:
accepted); :func:`compute` fills what QBO computes (line Ids, SubTotalLine, TotalAmt,
Balance, tax, DueDate). Codes and texts follow the fact sheet (qbo.md section 8):
2020 required field, 2050 string length, 2500 invalid reference, 610 inactive
reference, 5010 stale SyncToken, 6000 unbalanced journal, 6070 Amount != Qty x
UnitPrice, 6100 US line tax code, 6140 duplicate DocNumber, 6240 duplicate name.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .billpayment import check_bill_payment
from .seed import tax_rate_of
from .state import NAME_FIELD, NAME_LIST, PURCHASES, SALES, Company

CENT = Decimal("0.01")
DOC_NUMBER_MAX = 21
INACTIVE_DETAIL = (
    "Something you're trying to use has been made inactive. Check the fields with accounts, "
    "customers, items, vendors or employees."
)
#: reference field -> (entity, the element word QBO's 2500 detail uses)
REFS = {
    "CustomerRef": ("Customer", "Names"),
    "VendorRef": ("Vendor", "Names"),
    "ItemRef": ("Item", "Item"),
    "AccountRef": ("Account", "Accounts"),
    "IncomeAccountRef": ("Account", "Accounts"),
    "ExpenseAccountRef": ("Account", "Accounts"),
    "APAccountRef": ("Account", "Accounts"),
    "ARAccountRef": ("Account", "Accounts"),
    "DepositToAccountRef": ("Account", "Accounts"),
    "ClassRef": ("Class", "Klasses"),
    "DepartmentRef": ("Department", "Departments"),
    "SalesTermRef": ("Term", "Terms"),
    "PaymentMethodRef": ("PaymentMethod", "PaymentMethods"),
}
#: required top-level fields per entity
REQUIRED = {
    "Invoice": ("CustomerRef", "Line"),
    "CreditMemo": ("CustomerRef", "Line"),
    "Bill": ("VendorRef", "Line"),
    "VendorCredit": ("VendorRef", "Line"),
    "JournalEntry": ("Line",),
    "Payment": ("CustomerRef", "TotalAmt"),
    "BillPayment": ("VendorRef", "TotalAmt", "PayType"),
    "Item": ("Name",),
    "Account": ("Name",),
}


def error(code: str, message: str, detail: str = "", element: str = "") -> dict[str, str]:
    """One ``Fault.Error`` entry."""
    return {"Message": message, "Detail": detail or message, "code": code, "element": element}


def fault(errors: list[dict[str, str]], type_: str = "ValidationFault") -> dict[str, Any]:
    """A ``Fault`` object (the body has it under ``"Fault"`` with ``time``)."""
    return {"Error": errors, "type": type_}


def stale(current: dict[str, Any]) -> dict[str, str]:
    """5010 for an update that sent an old SyncToken."""
    return error(
        "5010",
        "Stale Object Error",
        "Stale Object Error : You and API API were working on this at the same time. "
        "API API finished before you did, so your work was not saved.",
    )


def money(value: Any) -> Decimal | None:
    """A money/number field as Decimal (None when absent or empty, as python-quickbooks
    sends ``""`` for unset fields)."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def check_write(
    company: Company,
    entity: str,
    body: dict[str, Any],
    *,
    existing: dict[str, Any] | None = None,
    allow_duplicate: bool = False,
) -> list[dict[str, str]]:
    """The Errors QBO would return for writing ``body`` (``existing``: an update)."""
    errors: list[dict[str, str]] = []
    for name in REQUIRED.get(entity, ()):
        if existing is None and body.get(name) in (None, "", []):
            errors.append(
                error(
                    "2020",
                    "Required param missing, need to supply the required value for the API",
                    f"Required parameter {name} is missing in the request",
                    name,
                )
            )
    if errors:
        return errors
    errors += _refs(company, body)
    for line in body.get("Line") or []:
        errors += _refs(company, line)
        for detail_key, detail in line.items():
            if detail_key.endswith("Detail") and isinstance(detail, dict):
                errors += _refs(company, detail)
                errors += _amount_rule(line, detail)
                errors += _line_tax(company, detail)
    if errors:
        return errors
    if entity in NAME_FIELD:
        errors += _unique_name(company, entity, body, existing)
    number = body.get("DocNumber")
    if number:
        if len(str(number)) > DOC_NUMBER_MAX:
            errors.append(
                error(
                    "2050",
                    "String length is either shorter or longer than supported by specification",
                    f"String length specified does not match the supported length. "
                    f"Min:0 Max:{DOC_NUMBER_MAX} supplied length:{len(str(number))}",
                    "DocNumber",
                )
            )
        elif not allow_duplicate:
            errors += _duplicate_number(company, entity, body, existing)
    if entity == "JournalEntry":
        errors += _balanced(body)
    if entity == "Term":
        errors += check_term(body, existing)
    if entity == "BillPayment":
        errors += check_bill_payment(company, body, error)
    if company.multicurrency and existing is None:
        errors += _currency(company, entity, body)
    return errors


TERM_NAME_MAX = 31
#: Term fields and their documented ranges (qbo.md section 2, "Term")
TERM_RANGES = {"DueDays": (0, 999), "DayOfMonthDue": (1, 31), "DueNextMonthDays": (0, 999)}


def check_term(body: dict[str, Any], existing: dict[str, Any] | None) -> list[dict[str, str]]:
    """A Term as QBO describes it: Name (at most 31 characters), and either DueDays or
    DayOfMonthDue (not both), each within its range. The system sets Type."""
    merged = {**(existing or {}), **body}
    errors = []
    name = str(merged.get("Name") or "")
    if not name or len(name) > TERM_NAME_MAX:
        errors.append(
            error(
                "2050",
                "String length is either shorter or longer than supported by specification",
                f"Name: Min:1 Max:{TERM_NAME_MAX} supplied length:{len(name)}",
                "Name",
            )
        )
    for key, (low, high) in TERM_RANGES.items():
        value = merged.get(key)
        if value is not None and not (str(value).isdigit() and low <= int(value) <= high):
            errors.append(
                error("2010", "Request has invalid or unsupported property", f"{key}: {value}", key)
            )
    if (merged.get("DueDays") is None) == (merged.get("DayOfMonthDue") is None):
        errors.append(
            error(
                "2020",
                "Required param missing, need to supply the required value for the API",
                "Give a Term either DueDays or DayOfMonthDue",
                "DueDays",
            )
        )
    return errors


def term_type(body: dict[str, Any]) -> str:
    """The Type QBO sets on a Term: STANDARD with DueDays, else DATE_DRIVEN."""
    return "STANDARD" if body.get("DueDays") is not None else "DATE_DRIVEN"


#: a document's party reference, by the entity that carries it
_PARTY = {
    "Invoice": ("CustomerRef", "Customer"),
    "CreditMemo": ("CustomerRef", "Customer"),
    "Bill": ("VendorRef", "Vendor"),
    "VendorCredit": ("VendorRef", "Vendor"),
}


def _currency(company: Company, entity: str, body: dict[str, Any]) -> list[dict[str, str]]:
    """Multi-currency: a currency the company has not added is refused, and a customer's or
    vendor's documents are in that party's currency (set when it is created, home
    currency by default). QBO's rule (a transaction is in its party's currency) is
    documented by Intuit's help; the code and texts here are unconfirmed."""
    currency = str((body.get("CurrencyRef") or {}).get("value") or company.home_currency)
    if entity not in _PARTY and entity not in ("Customer", "Vendor"):
        return []
    if currency not in company.currencies:
        return [
            error(
                "6000",
                "A business validation error has occurred while processing your request",
                f"Business Validation Error: {currency} is not in this company's currency list.",
                "CurrencyRef",
            )
        ]
    if entity not in _PARTY:
        return []
    key, party_entity = _PARTY[entity]
    party = company.get(party_entity, (body.get(key) or {}).get("value")) or {}
    own = str((party.get("CurrencyRef") or {}).get("value") or company.home_currency)
    if own != currency:
        return [
            error(
                "6000",
                "A business validation error has occurred while processing your request",
                f"Business Validation Error: the transaction is in {currency} but the "
                f"{party_entity.lower()} works in {own}; a transaction must be in the "
                f"currency of its {party_entity.lower()}.",
                "CurrencyRef",
            )
        ]
    return []


def _refs(company: Company, obj: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for key, (target, word) in REFS.items():
        ref = obj.get(key)
        if not isinstance(ref, dict) or not ref.get("value"):
            continue
        if key == "CustomerRef" and company.get("Customer", ref["value"]) is None:
            # a Bill line's CustomerRef may name a customer; a name list entry of any kind
            row = None
        else:
            row = company.get(target, ref["value"])
        if row is None:
            out.append(
                error(
                    "2500",
                    "Invalid Reference Id",
                    f"Invalid Reference Id : {word} element id {ref['value']} not found",
                    key,
                )
            )
        elif row.get("Active") is False:
            out.append(error("610", "Object Not Found", INACTIVE_DETAIL, key))
    return out


def references(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every reference of ``body`` (top level, lines, line details) as (field, entity, id)."""
    objects = [body]
    for line in body.get("Line") or []:
        if isinstance(line, dict):
            objects.append(line)
            objects += [d for k, d in line.items() if k.endswith("Detail") and isinstance(d, dict)]
    out = []
    for obj in objects:
        for key, (target, _) in REFS.items():
            ref = obj.get(key)
            if isinstance(ref, dict) and ref.get("value"):
                out.append((key, target, str(ref["value"])))
    return out


def same_batch_reference(
    body: dict[str, Any], created: set[tuple[str, str]]
) -> dict[str, str] | None:
    """2500 for an item of a batch that refers to an entity created by another item of the
    same batch: QBO's batch reference says such items are independent ("a customer created
    in a batch cannot be referenced by an invoice in the same batch"). The code and text
    QBO answers with are unconfirmed: the sandbox answers as for an unknown reference."""
    for key, target, value in references(body):
        if (target, value) in created:
            return error(
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : {REFS[key][1]} element id {value} not found",
                key,
            )
    return None


def _amount_rule(line: dict[str, Any], detail: dict[str, Any]) -> list[dict[str, str]]:
    """6070: Amount must be round(Qty x UnitPrice, 2) when both are given (python-quickbooks
    leaves them 0 and QBO accepts that)."""
    qty, price, amount = money(detail.get("Qty")), money(detail.get("UnitPrice")), None
    amount = money(line.get("Amount"))
    if not qty or not price or amount is None:
        return []
    if (qty * price).quantize(CENT, ROUND_HALF_UP) != amount:
        return [
            error(
                "6070",
                "Amount calculation incorrect in the request",
                f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
                "Amount",
            )
        ]
    return []


def _line_tax(company: Company, detail: dict[str, Any]) -> list[dict[str, str]]:
    ref = detail.get("TaxCodeRef")
    if not isinstance(ref, dict) or not ref.get("value"):
        return []
    value = str(ref["value"])
    if company.country == "US":
        if value not in ("TAX", "NON"):
            return [
                error(
                    "6100",
                    "Invalid Line TaxCode in the request",
                    "Valid Line TaxCodes for US should be TAX or NON",
                    "TaxCodeRef",
                )
            ]
        return []
    if company.get("TaxCode", value) is None:
        return [
            error(
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : TaxCode element id {value} not found",
                "TaxCodeRef",
            )
        ]
    return []


def _unique_name(
    company: Company, entity: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> list[dict[str, str]]:
    field = NAME_FIELD[entity]
    name = body.get(field) or (existing or {}).get(field)
    if not name and entity in NAME_LIST:
        parts = [body.get(k) for k in ("GivenName", "FamilyName") if body.get(k)]
        name = " ".join(parts) or body.get("CompanyName")
        if name:
            body[field] = name
    if not name:
        return []
    space = NAME_LIST if entity in NAME_LIST else (entity,)
    for other in space:
        for row in company.all(other):
            same = existing is not None and other == entity and row["Id"] == existing["Id"]
            if not same and str(row.get(field, "")).lower() == str(name).lower():
                return [
                    error(
                        "6240",
                        "Duplicate Name Exists Error",
                        f"The name supplied already exists. : Another customer, vendor or "
                        f"employee is already using this name. Please use a different name. "
                        f"Id={row['Id']}",
                        field,
                    )
                ]
    return []


def _duplicate_number(
    company: Company, entity: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> list[dict[str, str]]:
    """6140: sales forms share one number space [partly confirmed]; a bill number repeats
    only for another vendor, and only while WarnDuplicateBillNumber is on."""
    number = str(body["DocNumber"])
    if entity in SALES:
        space: tuple[str, ...] = SALES
    elif entity in PURCHASES and company.warn_duplicate_bill_number:
        space = (entity,)
    elif entity == "JournalEntry":
        space = ("JournalEntry",)
    else:
        return []
    vendor = (body.get("VendorRef") or {}).get("value")
    for other in space:
        for row in company.all(other):
            if existing is not None and row["Id"] == existing["Id"]:
                continue
            if str(row.get("DocNumber", "")) != number:
                continue
            if entity in PURCHASES and (row.get("VendorRef") or {}).get("value") != vendor:
                continue
            kind = {"CreditMemo": "Credit Memo", "SalesReceipt": "Sales Receipt"}.get(other, other)
            return [
                error(
                    "6140",
                    "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={number} is assigned to "
                    f"TxnType={kind} with TxnId={row['Id']}",
                    "DocNumber",
                )
            ]
    return []


def _balanced(body: dict[str, Any]) -> list[dict[str, str]]:
    """Journal lines must balance (code 6000; the detail text is unconfirmed)."""
    total = Decimal("0")
    for line in body.get("Line") or []:
        detail = line.get("JournalEntryLineDetail") or {}
        amount = money(line.get("Amount")) or Decimal("0")
        total += amount if detail.get("PostingType") == "Debit" else -amount
    if total != 0:
        return [
            error(
                "6000",
                "A business validation error has occurred while processing your request",
                "Business Validation Error: Transactions must be balanced. "
                f"The debits and credits differ by {abs(total)}.",
            )
        ]
    return []


def compute(company: Company, entity: str, row: dict[str, Any]) -> dict[str, Any]:
    """Fill QBO's computed fields of a transaction (in place); returns ``row``."""
    if row.get("TxnDate") == "":
        row.pop("TxnDate")
    row.setdefault("TxnDate", company.wall.now().date().isoformat())  # QBO: the server date
    if entity == "JournalEntry":
        row["TotalAmt"] = sum(
            (
                money(line.get("Amount")) or Decimal("0")
                for line in row.get("Line") or []
                if (line.get("JournalEntryLineDetail") or {}).get("PostingType") == "Debit"
            ),
            Decimal("0"),
        )
    if entity not in (*SALES, *PURCHASES):
        if entity in ("Payment", "BillPayment"):
            row["TotalAmt"] = money(row.get("TotalAmt")) or Decimal("0")
        return row
    lines = [
        line for line in row.get("Line") or [] if line.get("DetailType") != "SubTotalLineDetail"
    ]
    subtotal, tax = Decimal("0"), Decimal("0")
    for number, line in enumerate(lines, start=1):
        line["Id"] = str(number)
        line["LineNum"] = number
        amount = money(line.get("Amount")) or Decimal("0")
        line["Amount"] = amount
        sign = -1 if line.get("DetailType") == "DiscountLineDetail" else 1
        subtotal += sign * amount
        tax += _tax_of(company, line, amount, sales=entity in SALES)
    detail = row.get("TxnTaxDetail") or {}
    override = money(detail.get("TotalTax")) if isinstance(detail, dict) else None
    total_tax = override if override is not None else tax
    if entity in SALES or total_tax:
        row["TxnTaxDetail"] = {
            **(detail if isinstance(detail, dict) else {}),
            "TotalTax": total_tax,
        }
    inclusive = row.get("GlobalTaxCalculation") == "TaxInclusive"
    total = subtotal if inclusive else subtotal + total_tax
    if entity in SALES:
        lines.append(
            {"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        )
    row["Line"] = lines
    row["TotalAmt"] = total
    if entity in ("Invoice", "Bill"):
        row["Balance"] = total - _paid(company, entity, row)
    if row.get("DueDate") == "":
        row.pop("DueDate")
    if "DueDate" not in row and entity in ("Invoice", "Bill"):
        row["DueDate"] = _due(company, row)
    if company.multicurrency:
        row.setdefault("CurrencyRef", {"value": company.home_currency})
        row.setdefault("ExchangeRate", Decimal("1"))
    return row


def _tax_of(company: Company, line: dict[str, Any], amount: Decimal, *, sales: bool) -> Decimal:
    for key, detail in line.items():
        if not key.endswith("LineDetail") or not isinstance(detail, dict):
            continue
        code = str((detail.get("TaxCodeRef") or {}).get("value") or "")
        if company.country == "US":
            rate = company.sales_tax_rate if code == "TAX" else Decimal("0")
        else:
            rate = tax_rate_of(company, code, sales=sales) or Decimal("0")
        return (amount * rate / 100).quantize(CENT, ROUND_HALF_UP)
    return Decimal("0")


def _paid(company: Company, entity: str, row: dict[str, Any]) -> Decimal:
    payer = "Payment" if entity == "Invoice" else "BillPayment"
    paid = Decimal("0")
    for payment in company.all(payer):
        for line in payment.get("Line") or []:
            for link in line.get("LinkedTxn") or []:
                if link.get("TxnId") == row.get("Id") and link.get("TxnType") == entity:
                    paid += money(line.get("Amount")) or Decimal("0")
    return paid


def _due(company: Company, row: dict[str, Any]) -> str:
    term = company.get("Term", (row.get("SalesTermRef") or {}).get("value"))
    days = int((term or {}).get("DueDays") or 0)
    return (date.fromisoformat(str(row["TxnDate"])[:10]) + timedelta(days=days)).isoformat()
