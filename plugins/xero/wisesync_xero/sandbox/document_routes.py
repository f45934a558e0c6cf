"""``/Invoices`` and ``/CreditNotes`` of the Xero sandbox: list, get, create and update (the
rules are in :mod:`.rules`), credit note allocations, and the test helpers that create and
read documents as a Xero user would (a mixin of
:class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from wisesync import money
from wisesync.testing.sandbox import Request, Response

from . import payments as pay
from . import query, replies, rules
from .handling import looks_like_uuid
from .rules import CREDIT_NOTE, INVOICE, DocKind
from .state import NIL_UUID, Org, public

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class DocumentRoutes(_Base):
    """Invoices, credit notes and allocations for :class:`XeroSandbox`."""

    def _render(
        self: XeroSandbox,
        org: Org,
        doc: dict[str, Any],
        kind: DocKind,
        *,
        unitdp4: bool,
        lines: bool = True,
    ) -> dict[str, Any]:
        out = public(doc)
        contact = org.contacts.get(doc.get("_contact_id") or "")
        if contact is not None:
            out["Contact"] = rules.contact_summary(contact)
        out["Payments"] = [pay.payment_summary(org.payments[p]) for p in doc.get("_payments", [])]
        if lines:
            rendered = []
            for line in doc["LineItems"]:
                copy = {k: v for k, v in line.items() if k != "ValidationErrors"}
                copy["UnitAmount"] = line["UnitAmount"].quantize(
                    Decimal("0.0001") if unitdp4 else Decimal("0.01")
                )
                rendered.append(copy)
            out["LineItems"] = rendered
        else:
            out.pop("LineItems", None)
        return out

    def _find_doc(self: XeroSandbox, org: Org, kind: DocKind, key: str) -> dict[str, Any] | None:
        store = org.invoices if kind is INVOICE else org.credit_notes
        if looks_like_uuid(key):
            return store.get(key.lower())
        if kind is INVOICE:
            return org.invoice_by_number(key)
        return org.credit_note_by_number(key)

    def _doc_get(self: XeroSandbox, request: Request, kind: DocKind) -> Response:
        unitdp4 = request.arg("unitdp") == "4"
        with self.lock:
            org = self._org
            doc = self._find_doc(org, kind, request.params["id"])
            if doc is None:
                return self.error_response(404, "")
            key = "Invoices" if kind is INVOICE else "CreditNotes"
            return self._ok(key, [self._render(org, doc, kind, unitdp4=unitdp4)])

    def _docs_get(self: XeroSandbox, request: Request, kind: DocKind) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        unitdp4 = request.arg("unitdp") == "4"
        summary_only = (request.arg("summaryOnly") or "").lower() == "true"
        ids = query.csv_arg(request, "IDs")
        numbers = query.csv_arg(
            request, "InvoiceNumbers" if kind is INVOICE else "CreditNoteNumbers"
        )
        contact_ids = query.csv_arg(request, "ContactIDs")
        statuses = query.csv_arg(request, "Statuses")
        term = (request.arg("searchTerm") or "").casefold()
        by_app = (request.arg("createdByMyApp") or "").lower() == "true"
        key = "Invoices" if kind is INVOICE else "CreditNotes"
        with self.lock:
            org = self._org
            store = org.invoices if kind is INVOICE else org.credit_notes
            docs = [
                d
                for d in store.values()
                if (ids is None or d[kind.id_field] in ids)
                and (numbers is None or (d.get(kind.number_field) or "").casefold() in numbers)
                and (contact_ids is None or (d.get("_contact_id") or "") in contact_ids)
                and (statuses is None or d["Status"].lower() in statuses)
                and (not by_app or d.get("_by_app", True))
                and (
                    not term
                    or term in (d.get(kind.number_field) or "").casefold()
                    or term in (d.get("Reference") or "").casefold()
                )
            ]
            return self._paged(
                request,
                key,
                docs,
                kind.id_field,
                lambda d, paged: self._render(
                    org, d, kind, unitdp4=unitdp4, lines=paged and not summary_only
                ),
            )

    def _docs_write(
        self: XeroSandbox, request: Request, kind: DocKind, *, create_only: bool, template: str
    ) -> Response:
        body, bad = self._body(request, template)
        if bad:
            return bad
        key = "Invoices" if kind is INVOICE else "CreditNotes"
        unitdp4 = request.arg("unitdp") == "4"
        path_id = request.params.get("id")
        return self._write_batch(
            request,
            key,
            body.get(key) or [],
            lambda org, raw: self._write_one(
                org, kind, dict(raw), create_only=create_only, unitdp4=unitdp4, path_id=path_id
            ),
            marker="HasErrors",
        )

    def _write_one(
        self: XeroSandbox,
        org: Org,
        kind: DocKind,
        raw: dict[str, Any],
        *,
        create_only: bool,
        unitdp4: bool,
        path_id: str | None,
        by_app: bool = True,
    ) -> tuple[dict[str, Any], bool]:
        existing = None
        pre_errors: list[str] = []
        store = org.invoices if kind is INVOICE else org.credit_notes
        wanted_id = raw.get(kind.id_field) or path_id
        if wanted_id:
            existing = self._find_doc(org, kind, str(wanted_id))
            if existing is None:
                pre_errors.append(f"{kind.name} {wanted_id} could not be found")  # unconfirmed
            elif create_only:
                pre_errors.append(
                    f"{kind.name} {wanted_id} already exists. Use POST to update"
                )  # unconfirmed
                existing = None
        elif not create_only and raw.get(kind.number_field):
            found = self._find_doc(org, kind, raw[kind.number_field])
            if (
                found is not None
                and found["Type"] in ("ACCREC", "ACCRECCREDIT")
                and (raw.get("Type") in (None, found["Type"]))
            ):
                existing = found
        out = rules.check_document(
            org,
            raw,
            kind,
            unitdp4=unitdp4,
            existing=existing,
            pending_contacts=[],
            batch_numbers=set(),
            tax_tolerance=self.tax_tolerance,
            switches=self.switches,
        )
        out.errors[:0] = pre_errors
        if not out.ok or out.doc is None:
            echo = public(out.doc) if out.doc else dict(raw)
            echo.update(
                {
                    kind.id_field: NIL_UUID,
                    "HasErrors": True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": replies.messages(out.errors),
                }
            )
            if out.warnings:
                echo["Warnings"] = replies.messages(out.warnings)
            return echo, False
        doc = out.doc
        if out.new_contact is not None:
            org.put_contact(out.new_contact)
        contact = org.contacts.get(doc["_contact_id"] or "")
        if contact is not None:
            flag = "IsCustomer" if doc["Type"] in rules.SALES_TYPES else "IsSupplier"
            if not contact.get(flag):
                contact[flag] = True
                org.stamp(contact)
        index = org.invoice_numbers if kind is INVOICE else org.credit_note_numbers
        if existing is not None:
            old_number = org.number_key(existing.get(kind.number_field) or "")
            if index.get(old_number) == existing[kind.id_field]:
                del index[old_number]
            doc[kind.id_field] = existing[kind.id_field]
            doc["_seq"] = existing["_seq"]
            doc["_payments"] = existing.get("_payments", [])
            doc["_allocated"] = existing.get("_allocated", Decimal(0))
            doc["AmountCredited"] = existing.get("AmountCredited", Decimal(0))
            doc["Allocations"] = existing.get("Allocations", [])
            if existing.get("FullyPaidOnDate"):
                doc["FullyPaidOnDate"] = existing["FullyPaidOnDate"]
            doc["_by_app"] = existing.get("_by_app", True)
        else:
            doc[kind.id_field] = org.new_id()
            doc["_seq"] = org.next_seq()
            doc["_by_app"] = by_app
        if not doc.get(kind.number_field) and doc["Type"] in ("ACCREC", "ACCRECCREDIT"):
            doc[kind.number_field] = org.next_number(
                "invoice" if kind is INVOICE else "credit_note"
            )
            doc["_raw"][kind.number_field] = doc[kind.number_field]
        if doc["Type"] in ("ACCREC", "ACCRECCREDIT") and doc[kind.number_field]:
            index[org.number_key(doc[kind.number_field])] = doc[kind.id_field]
        paid = sum((org.payments[p]["Amount"] for p in doc.get("_payments", [])), Decimal(0))
        rules.finalize_amounts(doc, kind, paid=paid)
        org.stamp(doc)
        store[doc[kind.id_field]] = doc
        element = self._render(org, doc, kind, unitdp4=unitdp4)
        element["StatusAttributeString"] = "WARNING" if out.warnings else "OK"
        if out.warnings:
            element["Warnings"] = replies.messages(out.warnings)
        return element, True

    def _allocate(self: XeroSandbox, request: Request) -> Response:
        body, bad = self._body(request, "/CreditNotes/{CreditNoteID}/Allocations")
        if bad:
            return bad
        with self.lock:
            org = self._org
            note = self._find_doc(org, CREDIT_NOTE, request.params["id"])
            if note is None:
                return self.error_response(404, "")
            return self._write_batch(
                request,
                "Allocations",
                body.get("Allocations") or [],
                lambda org, raw: self._allocation_write(org, note, raw),
                marker="ValidationErrors",
            )

    def _allocation_write(
        self: XeroSandbox, org: Org, note: dict[str, Any], raw: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        errors = []
        invoice_ref = raw.get("Invoice") or {}
        invoice = None
        if invoice_ref.get("InvoiceID"):
            invoice = org.invoices.get(str(invoice_ref["InvoiceID"]).lower())
        elif invoice_ref.get("InvoiceNumber"):
            invoice = org.invoice_by_number(invoice_ref["InvoiceNumber"])
        amount = Decimal(raw.get("Amount") or 0)
        if note["Status"] != "AUTHORISED":
            errors.append("Credit note must be AUTHORISED to be allocated")  # unconfirmed
        if invoice is None:
            errors.append(rules.PAYMENT_DOCUMENT)
        elif invoice["Status"] != "AUTHORISED":
            errors.append(rules.PAYMENT_STATUS)
        elif (
            amount <= 0 or amount > invoice["AmountDue"] or amount > note.get("RemainingCredit", 0)
        ):
            errors.append("The amount allocated exceeds the amount outstanding")  # unconfirmed
        if errors:
            return replies.refused(raw, errors), False
        assert invoice is not None
        allocation = {
            "AllocationID": org.new_id(),
            "Amount": amount,
            "Date": raw.get("Date"),
            "Invoice": {
                "InvoiceID": invoice["InvoiceID"],
                "InvoiceNumber": invoice["InvoiceNumber"],
            },
            "CreditNote": {"CreditNoteID": note["CreditNoteID"]},
            "IsDeleted": False,
        }
        note["_allocated"] = note.get("_allocated", Decimal(0)) + amount
        note.setdefault("Allocations", []).append(allocation)
        invoice["AmountCredited"] = invoice.get("AmountCredited", Decimal(0)) + amount
        pay.refresh_document(org, "credit_note", note["CreditNoteID"])
        pay.refresh_document(org, "invoice", invoice["InvoiceID"])
        return {**allocation, "StatusAttributeString": "OK"}, True

    def invoices(
        self: XeroSandbox, *, tenant: str | None = None, type_: str | None = None
    ) -> list[dict[str, Any]]:
        """Every invoice (as GET with line items would show it), oldest first."""
        with self.lock:
            org = self.org(tenant)
            docs = sorted(org.invoices.values(), key=lambda d: d["_seq"])
            return [
                self._render(org, d, INVOICE, unitdp4=True)
                for d in docs
                if type_ is None or d["Type"] == type_
            ]

    def create_invoice(
        self: XeroSandbox,
        element: dict[str, Any],
        *,
        unitdp4: bool = False,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """Create an invoice as a Xero user would (not "created by my app").

        ``element`` is an ``Invoices`` element as the API takes it; the same rules apply
        and a refusal raises ``ValueError`` with Xero's messages.
        """
        return self._create_direct(INVOICE, element, unitdp4=unitdp4, tenant=tenant)

    def create_credit_note(
        self: XeroSandbox,
        element: dict[str, Any],
        *,
        unitdp4: bool = False,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """Create a credit note as a Xero user would (see :meth:`create_invoice`)."""
        return self._create_direct(CREDIT_NOTE, element, unitdp4=unitdp4, tenant=tenant)

    def _create_direct(
        self: XeroSandbox,
        kind: DocKind,
        element: dict[str, Any],
        *,
        unitdp4: bool,
        tenant: str | None,
    ) -> dict[str, Any]:
        body = money.loads(money.dumps(element))  # the same types the API would see
        with self.lock:
            out, ok = self._write_one(
                self.org(tenant),
                kind,
                body,
                create_only=True,
                unitdp4=unitdp4,
                path_id=None,
                by_app=False,
            )
        if not ok:
            raise ValueError("; ".join(e["Message"] for e in out["ValidationErrors"]))
        return out

    def credit_notes(self: XeroSandbox, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every credit note, oldest first."""
        with self.lock:
            org = self.org(tenant)
            return [
                self._render(org, d, CREDIT_NOTE, unitdp4=True)
                for d in sorted(org.credit_notes.values(), key=lambda d: d["_seq"])
            ]

    def invoice_by_number(
        self: XeroSandbox, number: str, *, tenant: str | None = None
    ) -> dict[str, Any] | None:
        """The invoice numbered ``number`` (newest if ACCPAY numbers repeat), or None."""
        with self.lock:
            org = self.org(tenant)
            doc = org.invoice_by_number(number)
            return self._render(org, doc, INVOICE, unitdp4=True) if doc else None

    def credit_note_by_number(
        self: XeroSandbox, number: str, *, tenant: str | None = None
    ) -> dict[str, Any] | None:
        """The credit note numbered ``number``, or None."""
        with self.lock:
            org = self.org(tenant)
            doc = org.credit_note_by_number(number)
            return self._render(org, doc, CREDIT_NOTE, unitdp4=True) if doc else None

    def documents_count(self: XeroSandbox, *, tenant: str | None = None) -> int:
        """Invoices, credit notes and manual journals stored (any status): the
        double-posting detector."""
        with self.lock:
            org = self.org(tenant)
            return len(org.invoices) + len(org.credit_notes) + len(org.manual_journals)
