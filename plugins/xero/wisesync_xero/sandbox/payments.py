"""Payments: applying one to an invoice or credit note, and deleting it (a reversal).

Xero's rules: the document must be AUTHORISED; the amount must be positive and no more
than the amount due ("Payment amount exceeds the amount outstanding on this document");
the account must be a BANK account or have payments enabled. A deleted payment keeps its
record with ``Status: DELETED`` (GET /Payments still lists it) and the document's amount
due comes back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wisesync.money import round_money

from . import rules
from .rules import CREDIT_NOTE, INVOICE, Outcome, contact_summary, finalize_amounts, parse_date
from .state import Org, date_string, ms_date

ZERO = Decimal("0")


def _document(org: Org, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    invoice = raw.get("Invoice") or {}
    credit = raw.get("CreditNote") or {}
    if invoice.get("InvoiceID"):
        return org.invoices.get(str(invoice["InvoiceID"]).lower()), "invoice"
    number = invoice.get("InvoiceNumber") or raw.get("InvoiceNumber")
    if number:
        return org.invoice_by_number(number), "invoice"
    if credit.get("CreditNoteID"):
        return org.credit_notes.get(str(credit["CreditNoteID"]).lower()), "credit_note"
    number = credit.get("CreditNoteNumber") or raw.get("CreditNoteNumber")
    if number:
        return org.credit_note_by_number(number), "credit_note"
    return None, "invoice"


def _account(org: Org, raw: dict[str, Any]) -> dict[str, Any] | None:
    account = raw.get("Account") or {}
    if account.get("AccountID"):
        return org.accounts.get(str(account["AccountID"]).lower())
    code = account.get("Code") or raw.get("Code")
    return org.account_by_code(code) if code else None


_TYPES = {
    ("invoice", "ACCREC"): "ACCRECPAYMENT",
    ("invoice", "ACCPAY"): "ACCPAYPAYMENT",
    ("credit_note", "ACCRECCREDIT"): "ARCREDITPAYMENT",
    ("credit_note", "ACCPAYCREDIT"): "APCREDITPAYMENT",
}


def check_payment(org: Org, raw: dict[str, Any]) -> Outcome:
    """Validate one payment element; on success ``out.doc`` is the payment to store."""
    out = Outcome()
    doc, what = _document(org, raw)
    account = _account(org, raw)
    if doc is None:
        out.errors.append(rules.PAYMENT_DOCUMENT)
    elif doc["Status"] != "AUTHORISED":
        out.errors.append(rules.PAYMENT_STATUS)
    if account is None or account.get("Status") != "ACTIVE":
        out.errors.append(rules.PAYMENT_ACCOUNT)
    elif account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
        out.errors.append(rules.PAYMENT_ACCOUNT_TYPE)
    amount = raw.get("Amount")
    amount = round_money(Decimal(amount)) if amount is not None else None
    if amount is None or amount <= 0:
        out.errors.append(rules.PAYMENT_AMOUNT)
    elif doc is not None:
        due = doc["AmountDue"] if what == "invoice" else doc.get("RemainingCredit", ZERO)
        if amount > due:
            out.errors.append(rules.PAYMENT_TOO_MUCH)
    pay_date = parse_date(raw["Date"]) if raw.get("Date") else org.today()
    if pay_date is None:
        out.errors.append(rules.PAYMENT_DATE)
    if out.errors or doc is None or account is None or amount is None or pay_date is None:
        return out
    kind = INVOICE if what == "invoice" else CREDIT_NOTE
    contact = org.contacts.get(doc["_contact_id"] or "")
    summary = {
        "Type": doc["Type"],
        kind.id_field: doc[kind.id_field],
        kind.number_field: doc.get(kind.number_field, ""),
        "Contact": contact_summary(contact) if contact else {},
        "IsDiscounted": False,
        "HasErrors": False,
        "Payments": [],
        "CreditNotes": [],
        "Prepayments": [],
        "Overpayments": [],
        "LineItems": [],
    }
    # Xero: CurrencyRate "Only used for non base currency invoices and credit notes";
    # BankAmount is in the bank account's (here the base) currency
    rate = Decimal("1.000000")
    if doc.get("CurrencyCode", org.base_currency) != org.base_currency:
        given = raw.get("CurrencyRate")
        rate = Decimal(str(given)) if given else doc.get("CurrencyRate", rate)
    out.doc = {
        "PaymentID": org.new_id(),
        "Date": ms_date(pay_date),
        "DateString": date_string(pay_date),
        "BankAmount": round_money(amount / rate) if rate else amount,
        "Amount": amount,
        "Reference": raw.get("Reference", ""),
        "CurrencyRate": rate,
        "PaymentType": _TYPES[(what, doc["Type"])],
        "Status": "AUTHORISED",
        "IsReconciled": bool(raw.get("IsReconciled", False)),
        "HasAccount": True,
        "HasValidationErrors": False,
        "Account": {
            "AccountID": account["AccountID"],
            "Code": account["Code"],
            "Name": account["Name"],
        },
        "Invoice" if what == "invoice" else "CreditNote": summary,
        "_doc_id": doc[kind.id_field],
        "_kind": what,
        "_date": pay_date,
        "_seq": org.next_seq(),
    }
    return out


def _paid(org: Org, doc_id: str) -> Decimal:
    return sum(
        (
            p["Amount"]
            for p in org.payments.values()
            if p["_doc_id"] == doc_id and p["Status"] == "AUTHORISED"
        ),
        ZERO,
    )


def refresh_document(org: Org, what: str, doc_id: str) -> None:
    """Recompute a document's paid amounts, status and payment list after a change."""
    kind = INVOICE if what == "invoice" else CREDIT_NOTE
    store = org.invoices if what == "invoice" else org.credit_notes
    doc = store[doc_id]
    finalize_amounts(doc, kind, paid=_paid(org, doc_id))
    doc["_payments"] = [
        p["PaymentID"]
        for p in sorted(org.payments.values(), key=lambda p: p["_seq"])
        if p["_doc_id"] == doc_id and p["Status"] == "AUTHORISED"
    ]
    if doc["Status"] == "PAID" and doc["_payments"]:
        last = org.payments[doc["_payments"][-1]]
        doc["FullyPaidOnDate"] = last["Date"]
    org.stamp(doc)


def store_payment(org: Org, payment: dict[str, Any]) -> dict[str, Any]:
    """Save a checked payment and update its document."""
    org.stamp(payment)
    org.payments[payment["PaymentID"]] = payment
    refresh_document(org, payment["_kind"], payment["_doc_id"])
    return payment


def delete_payment(org: Org, payment: dict[str, Any]) -> list[str]:
    """Set a payment DELETED and give the amount back to its document; returns errors."""
    if payment["Status"] == "DELETED":
        return [rules.PAYMENT_DELETED]
    payment["Status"] = "DELETED"
    org.stamp(payment)
    refresh_document(org, payment["_kind"], payment["_doc_id"])
    return []


def payment_summary(payment: dict[str, Any]) -> dict[str, Any]:
    """The payment as listed inside its invoice."""
    return {
        "PaymentID": payment["PaymentID"],
        "Date": payment["Date"],
        "Amount": payment["Amount"],
        "Reference": payment.get("Reference", ""),
        "CurrencyRate": payment["CurrencyRate"],
        "HasAccount": True,
        "HasValidationErrors": False,
    }
