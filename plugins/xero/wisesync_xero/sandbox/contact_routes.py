"""``/Contacts`` of the Xero sandbox: list (search, ids, archived, paging), get by id or
number, create and update, with the test helpers that seed and list contacts (a mixin of
:class:`~wisesync_xero.sandbox.app.XeroSandbox`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wisesync.testing.sandbox import Request, Response

from . import query, replies, rules, seed
from .handling import looks_like_uuid
from .state import Org, public

if TYPE_CHECKING:
    from .app import XeroSandbox

_Base: Any = object


class ContactRoutes(_Base):
    """Contacts for :class:`XeroSandbox`."""

    def _contact_view(self: XeroSandbox, doc: dict[str, Any]) -> dict[str, Any]:
        return public(doc)

    def _contacts(self: XeroSandbox, request: Request) -> Response:
        bad = self._list_args(request)
        if bad:
            return bad
        ids = query.csv_arg(request, "IDs")
        archived = (request.arg("includeArchived") or "").lower() == "true"
        term = (request.arg("searchTerm") or "").casefold()
        with self.lock:
            docs = [
                c
                for c in self._org.contacts.values()
                if (archived or c["ContactStatus"] != "ARCHIVED" or ids)
                and (ids is None or c["ContactID"] in ids)
                and (
                    not term
                    or any(
                        term in (c.get(f) or "").casefold()
                        for f in (
                            "Name",
                            "FirstName",
                            "LastName",
                            "ContactNumber",
                            "CompanyNumber",
                            "EmailAddress",
                        )
                    )
                )
            ]
            return self._paged(
                request, "Contacts", docs, "ContactID", lambda c, _: self._contact_view(c)
            )

    def _contact_get(self: XeroSandbox, request: Request) -> Response:
        key = request.params["id"]
        with self.lock:
            org = self._org
            doc = (
                org.contacts.get(key.lower())
                if looks_like_uuid(key)
                else org.contact_by_number(key)
            )
            if doc is None:
                return self.error_response(404, "")
            return self._ok("Contacts", [self._contact_view(doc)])

    def _contacts_write(
        self: XeroSandbox, request: Request, *, create_only: bool, template: str
    ) -> Response:
        body, bad = self._body(request, template)
        if bad:
            return bad
        path_id = request.params.get("id")
        return self._write_batch(
            request,
            "Contacts",
            body.get("Contacts") or [],
            lambda org, raw: self._contact_write(
                org, dict(raw), create_only=create_only, path_id=path_id
            ),
            marker="HasValidationErrors",
        )

    def _contact_write(
        self: XeroSandbox, org: Org, raw: dict[str, Any], *, create_only: bool, path_id: str | None
    ) -> tuple[dict[str, Any], bool]:
        if path_id:
            raw.setdefault("ContactID", path_id)
        existing = None
        errors: list[str] = []
        if not create_only:
            existing = rules.find_contact(org, raw)
            if raw.get("ContactID") and existing is None:
                errors.append(rules.CONTACT_NOT_FOUND.format(id=raw["ContactID"]))
        elif raw.get("ContactID"):
            errors.append(rules.CONTACT_NOT_FOUND.format(id=raw["ContactID"]))
        errors += rules.check_contact(org, raw, existing, [])
        if errors:
            return replies.refused(raw, errors, flagged=True), False
        if existing is None:
            doc = rules.new_contact(org, raw)
            org.put_contact(doc)
        else:
            doc = existing
            rules.apply_contact_fields(doc, raw)
            org.stamp(doc)
            org.reindex_contacts()
        return {**self._contact_view(doc), "StatusAttributeString": "OK"}, True

    def add_contacts(
        self: XeroSandbox,
        contacts: int | Iterable[dict[str, Any] | str],
        *,
        tenant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Add pre-existing contacts (a count gives ``C00001``... numbers)."""
        with self.lock:
            return [public(c) for c in seed.seed_contacts(self.org(tenant), contacts)]

    def contacts(self: XeroSandbox, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every contact, oldest first."""
        with self.lock:
            return [
                public(c)
                for c in sorted(self.org(tenant).contacts.values(), key=lambda c: c["_seq"])
            ]
