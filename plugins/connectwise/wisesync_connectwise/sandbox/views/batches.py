"""GL batches (with their entries) and payments as ConnectWise JSON (a mixin of
:class:`~wisesync_connectwise.sandbox.views.Views`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..state import Batch, Expense, Invoice, Payment, Procurement, iso
from .common import _p, info, num

_Base: Any = object


class BatchViews(_Base):
    """GL batches and payments of a :class:`State`."""

    def batch(self, b: Batch) -> dict[str, Any]:
        """``AccountingBatch`` (immutable once created)."""
        return self._cached("batch", b.id, 0, lambda: self._batch(b))

    def _batch(self, b: Batch) -> dict[str, Any]:
        return _p(
            {
                "id": b.id,
                "batchIdentifier": b.identifier,
                "exportInvoicesFlag": b.export_invoices,
                "exportExpensesFlag": b.export_expenses,
                "exportProductsFlag": b.export_products,
                "closedFlag": b.closed_flag,
                "_info": info(b.created),
            },
            "accountingBatch",
        )

    def batch_entries(self, b: Batch) -> list[dict[str, Any]]:
        """``BatchEntry`` rows: one per GL entry of the batched records."""
        s = self.s
        rows: list[dict[str, Any]] = []
        for kind, rec_id in b.records:
            rec = s.record(kind, rec_id)
            if isinstance(rec, Invoice):
                export = self.export_transaction(rec)
                ref = {"id": rec.id, "identifier": rec.number}
                total = Decimal(str(export["total"]))
                rows.append(
                    self._entry(
                        rec.gl_ar_id,
                        "AR",
                        "Accounts Receivable",
                        export["accountNumber"],
                        total,
                        invoice=ref,
                    )
                )
                for d in export["detail"]:
                    amount = Decimal(str(d["total"]))  # already credit-signed
                    rows.append(
                        self._entry(
                            d["id"],
                            d["glTypeId"],
                            d["description"],
                            d["accountNumber"],
                            amount,
                            invoice=ref,
                            item=d.get("glItemId") or None,
                        )
                    )
            elif isinstance(rec, Expense):
                export = self.export_expense(rec)
                ref = {"id": rec.detail_id, "amount": export["total"]}
                rows.append(
                    self._entry(
                        rec.id,
                        export["glTypeId"],
                        export["description"],
                        export["accountNumber"],
                        Decimal(str(export["total"])),
                        expense=ref,
                    )
                )
                if export.get("offset"):
                    o = export["offset"]
                    rows.append(
                        self._entry(
                            o["id"],
                            "EO",
                            o["description"],
                            o["accountNumber"],
                            Decimal(str(o["total"])),
                            expense=ref,
                        )
                    )
            elif rec.kind == "Purchase":
                export = self.export_procurement(rec)
                po = {"id": rec.po_id, "name": rec.document_number}
                for d in [*export["purchaseDetail"], *export.get("purchaseDetailTax", [])]:
                    rows.append(
                        self._entry(
                            d["id"],
                            d["glTypeId"],
                            d.get("memo") or "Purchase",
                            d["accountNumber"],
                            -Decimal(str(d["total"])),  # the receipt's debit side
                            purchase_order=po,
                        )
                    )
            else:
                rows.extend(self._stock_entries(rec))
        return rows

    def _stock_entries(self, rec: Procurement) -> list[dict[str, Any]]:
        """``BatchEntry`` rows of an adjustment (one per item) or a transfer (to, from)."""
        s = self.s
        if rec.kind == "Adjustment":
            return [
                self._entry(
                    line.gl_id,
                    "IA",
                    line.memo,
                    self.account_number(line.gl_account_id),
                    line.total,
                    adjustment={"id": line.gl_id, "name": rec.document_number},
                    item=s.items[line.item_id].identifier if line.item_id in s.items else None,
                )
                for line in rec.lines
            ]
        line = rec.lines[0]
        entries = [(line.gl_id, line.gl_account_id, line.total)]
        if rec.offset_gl_id is not None:
            entries.append((rec.offset_gl_id, rec.adjustment_account_id, -line.total))
        return [
            self._entry(
                gl,
                "IT",
                line.memo,
                self.account_number(account),
                amount,
                transfer=rec.document_number,
            )
            for gl, account, amount in entries
        ]

    @staticmethod
    def _entry(
        gl_id: int,
        gl_type: str,
        name: str,
        account: str,
        amount: Decimal,
        *,
        invoice: Any = None,
        expense: Any = None,
        purchase_order: Any = None,
        adjustment: Any = None,
        transfer: str | None = None,
        item: str | None = None,
    ) -> dict[str, Any]:
        return _p(
            {
                "id": gl_id,
                "accountType": gl_type,
                "name": name,
                "accountNumber": account,
                "debit": num(amount) if amount > 0 else 0,
                "credit": num(-amount) if amount < 0 else 0,
                "cost": 0,
                "item": item,
                "salesCode": None,
                "costOfGoodsSoldAccountNumber": None,
                "invoice": invoice,
                "purchaseOrder": purchase_order,
                "lineItem": None,
                "transfer": transfer,
                "expense": expense,
                "adjustmentDetail": adjustment,
                "_info": info("2025-01-01T00:00:00Z"),
            },
            "batchEntry",
        )

    def payment(self, p: Payment) -> dict[str, Any]:
        """``InvoicePayment`` (plus the sandbox's ``transactionId``)."""
        s = self.s
        inv = s.invoices[p.invoice_id]
        balance = num(s.invoice_balance(inv))
        return _p(
            {
                "id": p.id,
                "type": p.type,
                "source": p.source,
                "invoice": {
                    "id": inv.id,
                    "identifier": inv.number,
                    "billingType": inv.type,
                    "applyToType": inv.apply_to_type,
                    "invoiceDate": iso(inv.date),
                    "chargeFirmFlag": False,
                },
                "credit": None,
                "amount": num(p.amount),
                "balance": balance,
                "invoiceBalance": balance,
                "invoiceTotal": num(s.invoice_total(inv)),
                "paymentDate": p.payment_date,
                "appliedBy": p.applied_by,
                "wisePayPayment": None,
                "paymentSyncStatus": None,
                "glBatchID": p.gl_batch_id,
                "paymentSyncDate": None,
                "paymentAccount": p.payment_account,
                "aRPaymentAccount": self.account_number(s.ar_account_id),
                "transactionId": p.transaction_id,
                "_info": info(p.created),
            },
            "invoicePayment",
        )
