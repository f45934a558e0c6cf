"""What one extraction run looks up once, and reads ahead beside the export.

A page of unposted records needs, besides its export, the GL captions layout and the
companies (with their contacts) or members it names. None of those depends on the export,
so as soon as a page is listed :class:`ExtractionRun` starts reading them on background
threads while the export is read on the caller's: the first records are published after
the longest of those reads, not after all of them in a row (about 0.5 s sooner at
ConnectWise's 0.1-0.25 s a call). The client's ``concurrency`` setting bounds the calls in
flight; at 1 everything is read in a row as before.

Looked-up records are cached with only the fields the builders read
(:data:`~wisesync_connectwise.parties.COMPANY_FIELDS` ...): a run over thousands of
customers holds a few MiB, not a full ``Company`` each.

The background threads never touch :attr:`ExtractionRun.lookups`: they return what they
read, and the caller's thread merges it when it needs it. A read-ahead of companies that
fails is only logged (the look-up asks again, and fails where the caller can see it); a
read of the GL layout that fails raises where :meth:`ExtractionRun.load_classes` is
called, as it would have without the read-ahead.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from wisesync.config import CompanyConfig
from wisesync_connectwise import mapping
from wisesync_connectwise.client import ConnectWiseClient
from wisesync_connectwise.fields import ref_id
from wisesync_connectwise.layout import GLLayout
from wisesync_connectwise.parties import (
    COMPANY_FIELDS,
    CONTACT_FIELDS,
    MEMBER_FIELDS,
    contact_ids,
    kept,
)

log = logging.getLogger(__name__)

#: Reads ahead at once (the GL layout and one set of companies); the caller's export is
#: the third call in flight.
READ_AHEAD_THREADS = 2


@dataclass(slots=True, frozen=True)
class _Parties:
    """Companies and contacts asked for, and the ones found."""

    companies_asked: frozenset[int] = frozenset()
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts_asked: frozenset[int] = frozenset()
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class ExtractionRun:
    """Look-ups cached for one extraction run, some of them read ahead.

    Call :meth:`close` when the run ends (a read still under way finishes on its own).
    """

    client: ConnectWiseClient
    company: CompanyConfig
    lookups: mapping.Lookups = field(default_factory=mapping.Lookups)
    classes_loaded: bool = False
    _background: ThreadPoolExecutor | None = None
    _classes: Future[GLLayout] | None = None
    _parties: list[tuple[frozenset[int], Future[_Parties]]] = field(default_factory=list)

    # --- reading ahead ----------------------------------------------------------------

    def read_ahead(self, rows: Iterable[dict[str, Any]], *company_fields: str) -> None:
        """Start reading the GL layout and the companies ``rows`` name in ``company_fields``
        (not yet cached) in the background."""
        if not self.classes_loaded and self._classes is None:
            self._classes = self.in_background(self._read_classes)
        missing = self._missing_companies(row.get(f) for row in rows for f in company_fields)
        if missing:
            known = frozenset(self.lookups.contacts)
            self._parties.append((missing, self.in_background(self._read_parties, missing, known)))

    def close(self) -> None:
        """Stop reading ahead: what has not started is dropped."""
        if self._background is not None:
            self._background.shutdown(wait=False, cancel_futures=True)
            self._background = None

    def in_background(self, fn: Any, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` on one of the run's background threads, in a copy of the
        caller's context (the request log's attribution: company, plugin, run); its result
        or exception comes from the future. ``fn`` must not touch :attr:`lookups`."""
        if self._background is None:
            self._background = ThreadPoolExecutor(
                READ_AHEAD_THREADS, thread_name_prefix=f"cw-read-ahead-{self.company.key}"
            )
        return self._background.submit(contextvars.copy_context().run, fn, *args)

    # --- the look-ups -----------------------------------------------------------------

    def load_classes(self) -> None:
        """The GL captions layout (read once; waits for a read-ahead under way)."""
        if self.classes_loaded:
            return
        ahead, self._classes = self._classes, None
        self.lookups.classes = ahead.result() if ahead is not None else self._read_classes()
        self.classes_loaded = True

    def load_customers(self, export: dict[str, Any]) -> None:
        """The currency of each customer the export lists (``GLExport.customers``)."""
        customers = export.get("customers")
        for c in customers if isinstance(customers, list) else []:
            ident = ref_id(c.get("company")) if isinstance(c, dict) else None
            code = mapping.currency_code(c.get("currency")) if ident is not None else None
            if ident is not None and code:
                self.lookups.customer_currency[ident] = code

    def load_companies(self, refs: list[Any]) -> None:
        """Fetch the companies (and their primary/billing contacts) not yet cached."""
        self._merge_parties()
        missing = self._missing_companies(refs)
        if missing:
            self._store(self._read_parties(missing, frozenset(self.lookups.contacts)))
        wanted = {i for i in (ref_id(r) for r in refs) if i is not None and i > 0}
        people = frozenset(
            c
            for i in wanted
            for c in contact_ids(self.lookups.companies.get(i, {}))
            if c not in self.lookups.contacts
        )
        if people:
            self._store(_Parties(contacts_asked=people, contacts=self._read_people(people)))

    def load_members(self, refs: list[Any]) -> None:
        """Fetch the members not yet cached."""
        missing = {
            i for i in (ref_id(r) for r in refs) if i is not None and i > 0
        } - self.lookups.members.keys()
        if missing:
            for member in self.client.get_by_ids("/system/members", missing):
                self.lookups.members[int(member["id"])] = kept(member, MEMBER_FIELDS)
            for gone in missing - self.lookups.members.keys():
                self.lookups.members[gone] = {}

    # --- reads (either thread) and merges (the caller's) --------------------------------

    def _read_classes(self) -> GLLayout:
        captions = self.client.get_all("/finance/glCaptions")
        accounts = self.client.get_all("/finance/glAccounts") if captions else []
        return GLLayout.from_api(captions, accounts)

    def _missing_companies(self, refs: Iterable[Any]) -> frozenset[int]:
        wanted = {i for i in (ref_id(r) for r in refs) if i is not None and i > 0}
        pending = {i for asked, _ in self._parties for i in asked}
        return frozenset(wanted - self.lookups.companies.keys() - pending)

    def _read_parties(self, ids: frozenset[int], known_contacts: frozenset[int]) -> _Parties:
        """The companies ``ids`` and the contacts they name that are not ``known``."""
        found = {
            int(c["id"]): kept(c, COMPANY_FIELDS)
            for c in self.client.get_by_ids("/company/companies", ids)
        }
        people = frozenset(c for co in found.values() for c in contact_ids(co)) - known_contacts
        contacts = self._read_people(people) if people else {}
        return _Parties(ids, found, people, contacts)

    def _read_people(self, ids: frozenset[int]) -> dict[int, dict[str, Any]]:
        return {
            int(p["id"]): kept(p, CONTACT_FIELDS)
            for p in self.client.get_by_ids("/company/contacts", ids)
        }

    def _merge_parties(self) -> None:
        ahead, self._parties = self._parties, []
        for _, future in ahead:
            try:
                self._store(future.result())
            except Exception as exc:  # the look-up asks again
                log.info("reading companies ahead failed (%s); asking again", exc)

    def _store(self, parties: _Parties) -> None:
        """Cache what was read; a company or contact asked for and not found is cached
        empty (deleted: use the reference, ask once)."""
        self.lookups.companies.update(parties.companies)
        for gone in parties.companies_asked - parties.companies.keys():
            self.lookups.companies[gone] = {}
        self.lookups.contacts.update(parties.contacts)
        for gone in parties.contacts_asked - parties.contacts.keys():
            self.lookups.contacts[gone] = {}
