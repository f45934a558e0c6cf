"""Customers and vendors are identified in Xero by ContactNumber, never by name: two
ConnectWise customers with one name get two contacts (the second under
``contact_name_pattern``, with a warning once), and a hand-made same-named contact
without a number is adopted when that is unambiguous."""

from __future__ import annotations

import pytest
from xero_testkit import company, customer, limiter, line, record, runtime

from wisesync.config import CompanyOptions
from wisesync.events.models import RecordType, Status
from wisesync.testing.sandbox import Fault
from wisesync_xero.sandbox import start_sandbox
from wisesync_xero.target import XeroTarget


@pytest.fixture
def server():
    srv = start_sandbox(seed=5, contacts=3)
    yield srv
    assert srv.app.spec_violations == []
    srv.stop()


def target_for(server, **options):
    comp = company(server, options=CompanyOptions(require_item_code=True, **options))
    return XeroTarget(runtime(server, (comp,))), comp


def post(server, records, **options):
    """Post ``records`` with a fresh target (as after a restart)."""
    target, comp = target_for(server, **options)
    return target.post(records, target.prepare(comp, limiter()))


def codes(outcome):
    return [m.code for m in outcome.messages]


def contact_of(server, outcome):
    """The Xero contact an outcome's document is on."""
    doc = next(d for d in server.app.invoices() if d["InvoiceID"] == outcome.ledger_id)
    return next(c for c in server.app.contacts() if c["ContactID"] == doc["Contact"]["ContactID"])


def bill(vendor):
    return record(
        line("20", account="300", item=None, tax="INPUT"),
        record_type=RecordType.PROCUREMENT,
        contact=vendor,
        subtype="receipt",
    )


def test_same_named_customers_get_their_own_contacts_and_one_warning(server):
    first, second = customer(41, name="Acme"), customer(42, name="Acme")
    outcomes = post(server, [record(line(), contact=c) for c in (first, second, second)])
    assert [o.status for o in outcomes] == [Status.POSTED] * 3
    a, b, b2 = (contact_of(server, o) for o in outcomes)
    assert (a["Name"], a["ContactNumber"]) == ("Acme", "C00041")
    assert (b["Name"], b["ContactNumber"]) == ("Acme (C00042)", "C00042")
    assert b2["ContactID"] == b["ContactID"]
    assert codes(outcomes[0]) == []
    assert codes(outcomes[1]) == ["CONTACT_DISAMBIGUATED"]
    assert "'Acme (C00042)'" in outcomes[1].messages[0].text
    assert codes(outcomes[2]) == []  # once per customer
    # after a restart each is found by its number: same contacts, no new warning
    again = post(server, [record(line(), contact=c) for c in (second, first)])
    assert [contact_of(server, o)["ContactID"] for o in again] == [b["ContactID"], a["ContactID"]]
    assert [codes(o) for o in again] == [[], []]
    assert sum(c["Name"].startswith("Acme") for c in server.app.contacts()) == 2


def test_same_named_vendors_too_with_the_configured_pattern(server):
    one = customer(51, name="Parts Co", account_number="V-1")
    two = customer(52, name="Parts Co", account_number=None)  # number CW-52
    outcomes = post(server, [bill(one), bill(two)], contact_name_pattern="{name} [{id}]")
    assert [o.status for o in outcomes] == [Status.POSTED] * 2
    names = [
        (contact_of(server, o)["Name"], contact_of(server, o)["ContactNumber"]) for o in outcomes
    ]
    assert names == [("Parts Co", "V-1"), ("Parts Co [52]", "CW-52")]
    assert codes(outcomes[1]) == ["CONTACT_DISAMBIGUATED"]


def test_a_hand_made_contact_without_number_is_adopted_once(server):
    (hand,) = server.app.add_contacts(["Zed Ltd"])
    ours = customer(61, name="Zed Ltd")
    (out,) = post(server, [record(line(), contact=ours)])
    assert out.status is Status.POSTED and codes(out) == ["CONTACT_ADOPTED"]
    assert "C00061" in out.messages[0].text
    adopted = contact_of(server, out)
    assert adopted["ContactID"] == hand["ContactID"] and adopted["ContactNumber"] == "C00061"
    # from now on it is this customer's; a later same-named customer gets its own contact
    later = customer(62, name="Zed Ltd")
    outcomes = post(server, [record(line(), contact=c) for c in (ours, later)])
    assert codes(outcomes[0]) == [] and codes(outcomes[1]) == ["CONTACT_DISAMBIGUATED"]
    assert contact_of(server, outcomes[0])["ContactID"] == hand["ContactID"]
    assert contact_of(server, outcomes[1])["Name"] == "Zed Ltd (C00062)"


def test_no_adoption_when_two_new_customers_want_the_hand_made_contact(server):
    (hand,) = server.app.add_contacts(["Twin Pty"])
    twins = [customer(71, name="Twin Pty"), customer(72, name="Twin Pty")]
    outcomes = post(server, [record(line(), contact=c) for c in twins])
    assert [codes(o) for o in outcomes] == [["CONTACT_DISAMBIGUATED"]] * 2
    got = [contact_of(server, o) for o in outcomes]
    assert [c["Name"] for c in got] == ["Twin Pty (C00071)", "Twin Pty (C00072)"]
    assert hand["ContactID"] not in {c["ContactID"] for c in got}
    assert not next(c for c in server.app.contacts() if c["ContactID"] == hand["ContactID"]).get(
        "ContactNumber"
    )


def test_a_name_taken_since_the_listing_is_learnt_and_avoided(server):
    target, comp = target_for(server)
    ctx = target.prepare(comp, limiter())
    target.post([record(line(), contact=customer(1))], ctx)  # the contact list is now cached
    server.app.add_contacts([{"Name": "Late Co", "ContactNumber": "OTHER-9"}])
    (out,) = target.post([record(line(), contact=customer(81, name="Late Co"))], ctx)
    assert out.status is Status.POSTED and codes(out) == ["CONTACT_DISAMBIGUATED"]
    assert contact_of(server, out)["Name"] == "Late Co (C00081)"
    assert server.app.calls("PUT", "Contacts") == 2  # refused once, then created


def test_archived_contact_with_the_number_fails_with_xeros_reason(server):
    server.app.add_contacts(
        [{"Name": "Gone Pty", "ContactNumber": "ARCH9", "ContactStatus": "ARCHIVED"}]
    )
    (out,) = post(server, [record(line(), contact=customer(90, account_number="ARCH9"))])
    assert out.status is Status.FAILED and codes(out)[0] == "CONTACT_INVALID"
    assert "archived" in out.messages[0].text


def test_a_refused_contact_fails_its_records_only(server):
    server.app.faults.arm(Fault(kind="status", status=400, count=2, method="PUT", path="Contacts"))
    new, known = customer(93, name="Refused Co"), customer(1)
    outcomes = post(server, [record(line(), contact=c) for c in (new, known, new)])
    assert [o.status for o in outcomes] == [Status.FAILED, Status.POSTED, Status.FAILED]
    assert codes(outcomes[0])[0] == "CONTACT_INVALID"
    assert "'Refused Co' (number C00093)" in outcomes[0].messages[0].text
    assert not any(c.get("ContactNumber") == "C00093" for c in server.app.contacts())


def test_large_organisations_look_up_the_name_and_the_disambiguated_name(server, monkeypatch):
    from wisesync_xero import post as xero_post

    monkeypatch.setattr(xero_post, "CONTACT_PAGE_SIZE", 1)
    monkeypatch.setattr(xero_post, "MAX_LIST_PAGES", 1)  # too many to list: looked up per batch
    server.app.add_contacts(
        [
            {"Name": "Acme", "ContactNumber": "OTHER"},
            {"Name": "Acme (C00041)", "ContactNumber": "X"},
        ]
    )
    (out,) = post(server, [record(line(), contact=customer(41, name="Acme"))])
    assert out.status is Status.POSTED and codes(out) == ["CONTACT_DISAMBIGUATED"]
    assert contact_of(server, out)["Name"] == "Acme (C00041) #2"
    assert server.app.calls("GET", "Contacts") == 2  # page 1, then one where query
    assert server.app.calls("PUT", "Contacts") == 1  # both names were known to be taken
