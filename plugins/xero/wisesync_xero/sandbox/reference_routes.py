"""Reference data of the Xero sandbox: ``/Organisation``, ``/Accounts``, ``/TaxRates``,
``/TrackingCategories`` (and their options) and ``/Items``, with the test helpers that
change them (a mixin of :class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wisesync.testing.sandbox import Request, Response

from . import query, replies, rules, seed
from .state import Org, public

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class ReferenceRoutes(_Base):
    """Organisation, accounts, tax rates, tracking and items for :class:`XeroSandbox`."""

    def _organisation(self: XeroSandbox, request: Request) -> Response:
        return self._ok("Organisations", [dict(self._org.organisation)])

    def _accounts(self: XeroSandbox, request: Request) -> Response:
        return self._simple_list(
            request, "Accounts", self._org.accounts.values(), lambda a: a["Name"].casefold()
        )

    def _account_get(self: XeroSandbox, request: Request) -> Response:
        acc = self._org.accounts.get(request.params["id"].lower())
        return self._ok("Accounts", [public(acc)]) if acc else self.error_response(404, "")

    def _account_errors(
        self: XeroSandbox, org: Org, raw: dict[str, Any], existing: dict[str, Any] | None
    ) -> list[str]:
        errors = []
        code = (raw.get("Code") or (existing or {}).get("Code") or "").strip()
        name = (raw.get("Name") or (existing or {}).get("Name") or "").strip()
        type_ = raw.get("Type") or (existing or {}).get("Type")
        if not code:
            errors.append("Please enter a Code.")
        elif len(code) > 10:
            errors.append("Account Code is too long. Maximum of 10 characters allowed")
        elif any(
            a is not existing and a["Code"].upper() == code.upper() for a in org.accounts.values()
        ):
            errors.append("Please enter a unique Code.")
        if not name:
            errors.append("Please enter a Name.")
        elif any(
            a is not existing and a["Name"].casefold() == name.casefold()
            for a in org.accounts.values()
        ):
            errors.append("Please enter a unique Name.")
        if type_ not in seed.ACCOUNT_TYPES:
            errors.append("Please select an Account Type.")
        tax = raw.get("TaxType")
        if tax and tax.upper() not in org.tax_rates:
            errors.append(rules.TAX_INVALID.format(tax=tax))
        return errors

    def _account_create(self: XeroSandbox, request: Request) -> Response:
        raw, bad = self._body(request, "/Accounts")
        if bad:
            return bad
        with self.lock:
            org = self._org
            errors = self._account_errors(org, raw, None)
            if errors:
                return replies.invalid(raw, errors)
            acc = seed.add_account(
                org,
                raw["Code"].strip(),
                raw["Name"].strip(),
                raw["Type"],
                tax_type=raw.get("TaxType") or "NONE",
                enable_payments=bool(raw.get("EnablePaymentsToAccount")),
            )
            for key in ("Description", "BankAccountNumber", "ShowInExpenseClaims"):
                if key in raw:
                    acc[key] = raw[key]
            return self._ok("Accounts", [public(acc)])

    def _account_update(self: XeroSandbox, request: Request) -> Response:
        body, bad = self._body(request, "/Accounts/{AccountID}")
        if bad:
            return bad
        with self.lock:
            org = self._org
            acc = org.accounts.get(request.params["id"].lower())
            if acc is None:
                return self.error_response(404, "")
            raw = (body.get("Accounts") or [{}])[0]
            errors = self._account_errors(org, raw, acc)
            if raw.get("Status") == "ARCHIVED" and acc.get("SystemAccount"):
                errors.append("System accounts cannot be archived.")
            if errors:
                return replies.invalid(raw, errors)
            for key in (
                "Code",
                "Name",
                "Type",
                "TaxType",
                "Description",
                "Status",
                "EnablePaymentsToAccount",
                "ShowInExpenseClaims",
            ):
                if key in raw:
                    acc[key] = raw[key]
            org.stamp(acc)
            return self._ok("Accounts", [public(acc)])

    def _tax_rates(self: XeroSandbox, request: Request) -> Response:
        return self._simple_list(
            request, "TaxRates", self._org.tax_rates.values(), lambda t: t["Name"].casefold()
        )

    def _tracking_view(self: XeroSandbox, cat: dict[str, Any], archived: bool) -> dict[str, Any]:
        out = public(cat)
        out["Options"] = [dict(o) for o in cat["Options"] if archived or o["Status"] == "ACTIVE"]
        return out

    def _tracking(self: XeroSandbox, request: Request) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        archived = (request.arg("includeArchived") or "").lower() == "true"
        with self.lock:
            cats = [c for c in self._org.tracking.values() if archived or c["Status"] == "ACTIVE"]
            cats = query.order(
                self._filter(request, cats), request.arg("order"), lambda c: c["Name"].casefold()
            )
            return self._ok("TrackingCategories", [self._tracking_view(c, archived) for c in cats])

    def _tracking_get(self: XeroSandbox, request: Request) -> Response:
        cat = self._org.tracking.get(request.params["id"].lower())
        return (
            self._ok("TrackingCategories", [self._tracking_view(cat, True)])
            if cat
            else self.error_response(404, "")
        )

    def _items(self: XeroSandbox, request: Request) -> Response:
        return self._simple_list(
            request, "Items", self._org.items.values(), lambda i: i["Code"].casefold()
        )

    def _item_get(self: XeroSandbox, request: Request) -> Response:
        key = request.params["id"]
        item = self._org.items.get(key.lower()) or self._org.item_by_code(key)
        return self._ok("Items", [public(item)]) if item else self.error_response(404, "")

    def _item_errors(
        self: XeroSandbox, org: Org, raw: dict[str, Any], existing: dict[str, Any] | None
    ) -> list[str]:
        errors = []
        code = (raw.get("Code") or "").strip()
        if not code:
            errors.append("Item Code must be specified")  # unconfirmed
        elif len(code) > 30:
            errors.append("Item Code must not exceed 30 characters")  # unconfirmed
        elif existing is None and org.item_by_code(code) is not None:
            errors.append(f"Item code '{code}' already exists")  # unconfirmed
        if len(raw.get("Name") or "") > 50:
            errors.append("Item Name must not exceed 50 characters")  # unconfirmed
        for key in ("SalesDetails", "PurchaseDetails"):
            details = raw.get(key) or {}
            account_code = details.get("AccountCode")
            if account_code:
                account = org.account_by_code(account_code)
                if account is None:
                    errors.append(rules.ACCOUNT_INVALID.format(code=account_code))
                elif account["Status"] != "ACTIVE":
                    errors.append(rules.ACCOUNT_ARCHIVED.format(code=account_code))
            tax = details.get("TaxType")
            if tax and tax.upper() not in org.tax_rates:
                errors.append(rules.TAX_INVALID.format(tax=tax))
        return errors

    def _items_write(self: XeroSandbox, request: Request, *, create_only: bool) -> Response:
        return self._write_body(
            request,
            "/Items",
            lambda org, raw: self._item_write(org, raw, create_only=create_only),
        )

    def _item_write(
        self: XeroSandbox, org: Org, raw: dict[str, Any], *, create_only: bool
    ) -> tuple[dict[str, Any], bool]:
        existing = None
        if raw.get("ItemID"):
            existing = org.items.get(str(raw["ItemID"]).lower())
        elif not create_only and raw.get("Code"):
            existing = org.item_by_code(raw["Code"])
        errors = self._item_errors(org, raw, existing)
        if errors:
            return replies.refused(raw, errors), False
        if existing is None:
            existing = {"ItemID": org.new_id(), "IsTrackedAsInventory": False}
            org.items[existing["ItemID"]] = existing
        for key in (
            "Code",
            "Name",
            "Description",
            "PurchaseDescription",
            "IsSold",
            "IsPurchased",
        ):
            if key in raw:
                existing[key] = raw[key]
        for key in ("SalesDetails", "PurchaseDetails"):
            if key in raw:
                existing[key] = {**existing.get(key, {}), **raw[key]}
        existing.setdefault("Name", existing["Code"])
        org.stamp(existing)
        return {**public(existing), "StatusAttributeString": "OK"}, True

    def _tracking_option_create(self: XeroSandbox, request: Request) -> Response:
        body, bad = self._body(request, "/TrackingCategories/{TrackingCategoryID}/Options")
        if bad:
            return bad
        with self.lock:
            org = self._org
            cat = org.tracking.get(request.params["id"].lower())
            if cat is None:
                return self.error_response(404, "")
            name = (body.get("Name") or "").strip()
            errors = []
            if not name:
                errors.append("Tracking option name must be specified")  # unconfirmed
            elif any(o["Name"].casefold() == name.casefold() for o in cat["Options"]):
                errors.append(
                    "For each specified tracking option the name must be unique."
                )  # unconf.
            if errors:
                return replies.invalid(body, errors)
            option = seed.add_tracking_option(org, cat, name)
            return self._ok("Options", [dict(option)])

    def create_account(
        self: XeroSandbox,
        code: str,
        name: str,
        type_: str = "REVENUE",
        *,
        tax_type: str = "OUTPUT",
        tenant: str | None = None,
        status: str = "ACTIVE",
        enable_payments: bool = False,
    ) -> dict[str, Any]:
        """Add an account (the demo uses it to fix a LEDGER_ACCOUNT_MISSING error)."""
        with self.lock:
            org = self.org(tenant)
            existing = org.account_by_code(code)
            if existing is not None:
                existing.update(
                    {"Name": name, "Type": type_, "TaxType": tax_type, "Status": status}
                )
                org.stamp(existing)
                return public(existing)
            return public(
                seed.add_account(
                    org,
                    code,
                    name,
                    type_,
                    tax_type=tax_type,
                    status=status,
                    enable_payments=enable_payments,
                )
            )

    def create_tracking_option(
        self: XeroSandbox, category: str, option: str, *, tenant: str | None = None
    ) -> dict[str, Any]:
        """Add an ACTIVE option to a tracking category (fixes a TRACKING_MISSING case)."""
        with self.lock:
            org = self.org(tenant)
            cat = org.tracking_by_name(category)
            if cat is None:
                raise KeyError(category)
            return dict(seed.add_tracking_option(org, cat, option))

    def archive_account(self: XeroSandbox, code: str, *, tenant: str | None = None) -> None:
        """Archive an account by code."""
        with self.lock:
            org = self.org(tenant)
            acc = org.account_by_code(code)
            if acc is None:
                raise KeyError(code)
            acc["Status"] = "ARCHIVED"
            org.stamp(acc)
