"""Routes of the Xero sandbox for currencies and manual journals (a mixin of
:class:`~wisesync_xero.sandbox.app.XeroSandbox`).

``GET /Currencies`` lists the organisation's currencies (its base currency and those it
added); ``PUT /Currencies`` adds one (Xero: "It is not possible to remove currencies
from an organisation once they've been added"). ``/ManualJournals``: GET (a page
carries the journal lines, a plain list does not, as Xero's examples show), GET by id,
PUT (create) and POST (create, or update by ``ManualJournalID``); the rules are in
:mod:`.journals`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wisesync.testing.sandbox import Request, Response

from . import journals, seed
from .state import NIL_UUID, Org, public

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class LedgerRoutes(_Base):
    """Currencies and manual journals for :class:`XeroSandbox`."""

    def _ledger_routes(self: XeroSandbox, api: str) -> None:
        r = self.route
        r("GET", api + "/Currencies", self._currencies)
        r("PUT", api + "/Currencies", self._currency_create)
        r("GET", api + "/ManualJournals", self._journals)
        r("GET", api + "/ManualJournals/{id}", self._journal_get)
        r("PUT", api + "/ManualJournals", lambda q: self._journals_write(q, create_only=True))
        r("POST", api + "/ManualJournals", lambda q: self._journals_write(q, create_only=False))

    # -- currencies -----------------------------------------------------------------------

    def _currencies(self: XeroSandbox, request: Request) -> Response:
        return self._simple_list(
            request, "Currencies", self._org.currencies.values(), lambda c: c["Code"]
        )

    def _currency_create(self: XeroSandbox, request: Request) -> Response:
        body, bad = self._body(request, "/Currencies")
        if bad:
            return bad
        code = str(body.get("Code") or "").strip()
        if not code:
            return Response(400, journals_error({}, ["A currency code must be specified"]))
        with self.lock:
            doc = seed.add_currency(self._org, code)
            return self._ok("Currencies", [public(doc)])

    def enable_currency(self: XeroSandbox, code: str, *, tenant: str | None = None) -> None:
        """Add ``code`` to an organisation's currencies (Xero: Settings > Currencies)."""
        with self.lock:
            seed.add_currency(self.org(tenant), code)

    # -- manual journals --------------------------------------------------------------------

    def _journal_view(self, doc: dict[str, Any], lines: bool) -> dict[str, Any]:
        out = public(doc)
        out["JournalLines"] = [dict(ln) for ln in doc["JournalLines"]] if lines else []
        if not lines:
            out.pop("JournalLines")
        return out

    def _journals(self: XeroSandbox, request: Request) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        with self.lock:
            return self._paged(
                request,
                "ManualJournals",
                list(self._org.manual_journals.values()),
                "ManualJournalID",
                self._journal_view,
            )

    def _journal_get(self: XeroSandbox, request: Request) -> Response:
        with self.lock:
            doc = self._org.manual_journals.get(request.params["id"].lower())
            if doc is None:
                return self.error_response(404, "")
            return self._ok("ManualJournals", [self._journal_view(doc, True)])

    def _journals_write(self: XeroSandbox, request: Request, *, create_only: bool) -> Response:
        return self._write_body(
            request,
            "/ManualJournals",
            lambda org, raw: self._journal_write(org, dict(raw), create_only=create_only),
        )

    def _journal_write(
        self: XeroSandbox, org: Org, raw: dict[str, Any], *, create_only: bool
    ) -> tuple[dict[str, Any], bool]:
        existing = None
        pre: list[str] = []
        if raw.get("ManualJournalID"):
            existing = org.manual_journals.get(str(raw["ManualJournalID"]).lower())
            if existing is None or create_only:
                pre.append(f"Manual Journal {raw['ManualJournalID']} cannot be created or found")
                existing = None  # unconfirmed wording
        out = journals.check_manual_journal(org, raw, existing, self.switches)
        out.errors[:0] = pre
        if not out.ok or out.doc is None:
            echo = {**raw, "ManualJournalID": NIL_UUID, "StatusAttributeString": "ERROR"}
            echo["ValidationErrors"] = [{"Message": m} for m in out.errors]
            if out.warnings:
                echo["Warnings"] = [{"Message": m} for m in out.warnings]
            return echo, False
        doc = out.doc
        doc["ManualJournalID"] = existing["ManualJournalID"] if existing else org.new_id()
        doc["_seq"] = existing["_seq"] if existing else org.next_seq()
        org.stamp(doc)
        org.manual_journals[doc["ManualJournalID"]] = doc
        element = self._journal_view(doc, True)
        element["StatusAttributeString"] = "WARNING" if out.warnings else "OK"
        if out.warnings:
            element["Warnings"] = [{"Message": m} for m in out.warnings]
        return element, True

    def manual_journals(self: XeroSandbox, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every manual journal of an organisation (rendered, with lines), oldest first."""
        with self.lock:
            docs = sorted(self.org(tenant).manual_journals.values(), key=lambda d: d["_seq"])
            return [self._journal_view(d, True) for d in docs]


def journals_error(element: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    """A 400 ``ValidationException`` body for one refused element."""
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{**element, "ValidationErrors": [{"Message": m} for m in errors]}],
    }
