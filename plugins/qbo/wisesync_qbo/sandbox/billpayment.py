"""QBO's rules for a BillPayment write, beyond the required fields (VendorRef, TotalAmt,
PayType; :data:`.rules.REQUIRED`).

Shape (the BillPayment entity of the Accounting API, python-quickbooks'
``objects/billpayment.py``): ``PayType`` ``Check`` or ``CreditCard``; ``CheckPayment``
with ``BankAccountRef`` (required when Check) or ``CreditCardPayment`` with ``CCAccountRef``
(required when CreditCard); ``Line[]`` of ``Amount`` and ``LinkedTxn[]`` (``TxnId``,
``TxnType`` ``Bill`` or ``VendorCredit``), the bills of the payment's vendor; ``TotalAmt``
not negative. The codes follow the fact sheet's table (2020 required, 2170 enumeration,
2500 reference); QBO's exact Detail texts for a BillPayment are unconfirmed.
"""

from __future__ import annotations

from typing import Any

from .state import Company

#: PayType -> (the detail object, its account reference)
PAY_TYPES = {
    "Check": ("CheckPayment", "BankAccountRef"),
    "CreditCard": ("CreditCardPayment", "CCAccountRef"),
}
#: what a BillPayment line may pay
PAYABLE = ("Bill", "VendorCredit")


def check_bill_payment(company: Company, body: dict[str, Any], error: Any) -> list[dict[str, str]]:
    """The Errors of a BillPayment ``body`` (``error(code, message, detail, element)``
    builds one)."""
    pay_type = str(body.get("PayType") or "")
    if pay_type not in PAY_TYPES:
        return [
            error(
                "2170",
                "Invalid Enumeration",
                f"Invalid Enumeration : {pay_type} (PayType must be Check or CreditCard)",
                "PayType",
            )
        ]
    detail_key, ref_key = PAY_TYPES[pay_type]
    ref = (body.get(detail_key) or {}).get(ref_key) or {}
    if not ref.get("value"):
        return [
            error(
                "2020",
                "Required param missing, need to supply the required value for the API",
                f"Required parameter {detail_key}.{ref_key} is missing in the request",
                ref_key,
            )
        ]
    out = []
    if company.get("Account", ref["value"]) is None:
        detail = f"Invalid Reference Id : Accounts element id {ref['value']} not found"
        out.append(error("2500", "Invalid Reference Id", detail, ref_key))
    vendor = str((body.get("VendorRef") or {}).get("value") or "")
    for line in body.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            kind, txn = str(link.get("TxnType") or ""), str(link.get("TxnId") or "")
            doc = company.get(kind, txn) if kind in PAYABLE else None
            if doc is None or str((doc.get("VendorRef") or {}).get("value")) != vendor:
                detail = f"Invalid Reference Id : {kind or 'Txn'} {txn} of this vendor not found"
                out.append(error("2500", "Invalid Reference Id", detail, "LinkedTxn"))
    return out
