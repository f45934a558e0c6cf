"""Contact matching, new-contact bodies, ``where`` quoting, and Xero message -> code."""

import pytest
from xero_testkit import customer

from wisesync.events.models import Address, Person
from wisesync_xero.contacts import (
    ContactBook,
    ContactRef,
    contact_number,
    new_contact_body,
    parse_contacts,
    pattern_name,
    quote,
    where_for,
)
from wisesync_xero.post import element_errors, error_code, idempotency_key


def test_quote_escapes_double_quotes_and_backslashes():
    assert quote("O'Brien & Sons") == '"O\'Brien & Sons"'
    assert quote('The "Byte" Shop') == '"The \\"Byte\\" Shop"'
    assert quote("a\\b") == '"a\\\\b"'


def test_where_for_matches_number_or_name_without_repeats():
    a = customer(1, name="O'Brien & Sons")
    b = customer(2, name='The "Byte" Shop', account_number=None)
    where = where_for([a, b, a])
    assert where == (
        'ContactNumber=="C00001" OR Name=="O\'Brien & Sons" OR ContactNumber=="CW-2" '
        'OR Name=="The \\"Byte\\" Shop"'
    )
    assert where_for([a], "{name} ({account})").endswith('Name=="O\'Brien & Sons (C00001)"')


def test_where_for_parses_in_the_sandbox_grammar():
    from wisesync_xero.sandbox.where import compile_where

    pred = compile_where(where_for([customer(2, name='The "Byte" Shop', account_number=None)]))
    assert pred({"Name": 'the "byte" shop'})
    assert not pred({"Name": "The Byte Shop"})


def test_book_finds_by_number_never_by_name():
    book = ContactBook()
    book.add(ContactRef("id-1", "Customer 00001", "C00001"))
    book.add(ContactRef("id-9", "Café Zürich", None))
    assert book.find(customer(1, name="Renamed in Xero")).contact_id == "id-1"
    assert book.find(customer(7, name="café  zürich")) is None  # same name, not the same
    assert book.named("café  zürich").contact_id == "id-9"
    assert book.find(customer(8)) is None


def test_the_number_is_the_account_number_else_the_connectwise_id():
    assert contact_number(customer(4)) == "C00004"
    assert contact_number(customer(4, account_number="  ")) == "CW-4"
    assert contact_number(customer(4, account_number=None, source_id="member:7")) == "CW-member:7"


@pytest.mark.parametrize(
    "pattern,contact,name",
    [
        ("{name} ({account})", customer(3, name="Acme"), "Acme (C00003)"),
        ("{name} ({account})", customer(3, name="Acme", account_number=None), "Acme (3)"),
        ("{name} [{id}]", customer(3, name="Acme"), "Acme [3]"),
        ("{account} - {name}", customer(3, name="N" * 300), "C00003 - " + "N" * 246),
    ],
)
def test_pattern_names_keep_the_distinguishing_part_within_255(pattern, contact, name):
    assert pattern_name(contact, pattern) == name
    assert pattern_name(contact, pattern, 2).endswith(" #2")
    assert len(pattern_name(contact, pattern, 2)) <= 255


def test_archived_contact_is_not_matched_by_name():
    book = ContactBook()
    book.add(ContactRef("old", "Customer 00008", "X1", status="ARCHIVED"))
    assert book.find(customer(8, account_number="C99")) is None
    assert book.find(customer(8, account_number="X1")).contact_id == "old"


def test_new_contact_from_billing_contact_address_and_phone():
    body = new_contact_body(customer(3))
    assert body == {
        "Name": "Customer 00003",
        "ContactNumber": "C00003",
        "FirstName": "Bill",
        "LastName": "Payer",
        "EmailAddress": "bill@example.com",
        "Addresses": [
            {
                "AddressType": "POBOX",
                "AddressLine1": "1 George St",
                "City": "Sydney",
                "Region": "NSW",
                "PostalCode": "2000",
                "Country": "Australia",
            }
        ],
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "02 9999 0000"}],
    }


def test_new_contact_falls_back_to_primary_then_to_name_only():
    primary = new_contact_body(customer(4, billing_contact=None))
    assert primary["FirstName"] == "Pat" and primary["EmailAddress"] == "pat@example.com"
    bare = new_contact_body(
        customer(5, billing_contact=None, primary_contact=None, address=Address(), phone=None)
    )
    assert bare == {"Name": "Customer 00005", "ContactNumber": "C00005"}


def test_new_contact_limits_lengths_and_skips_non_ascii_email():
    c = customer(
        6,
        name="N" * 300,
        account_number="A" * 60,
        billing_contact=Person("Zoë", "zoë@example.com"),
    )
    body = new_contact_body(c)
    assert len(body["Name"]) == 255 and len(body["ContactNumber"]) == 50
    assert "EmailAddress" not in body  # Xero: umlauts not supported


def test_parse_contacts_skips_failed_elements():
    refs = parse_contacts(
        {
            "Contacts": [
                {"ContactID": "a", "Name": "A", "ContactNumber": "C1"},
                {"ContactID": "b", "Name": "B", "HasValidationErrors": True},
                {"Name": "no id"},
            ]
        }
    )
    assert refs == [ContactRef("a", "A", "C1")]


@pytest.mark.parametrize(
    "text,code",
    [
        ("Account code '4999' is not a valid code for this document.", "LEDGER_ACCOUNT_MISSING"),
        (
            "Account code '477' has been archived, or has been deleted. Each line item must "
            "reference a valid account",
            "LEDGER_ACCOUNT_MISSING",
        ),
        ("Account code must be specified", "GL_MAPPING_MISSING"),
        ("Invoice # must be unique.", "DUPLICATE_DOCUMENT_NUMBER"),
        ("Credit Note # must be unique.", "DUPLICATE_DOCUMENT_NUMBER"),
        (
            "The TaxType code 'GST99' does not exist or cannot be used for this type of "
            "transaction.",
            "TAX_CODE_INVALID",
        ),
        (
            "Tracking option 'Perth' does not exist for tracking category 'Location'.",
            "TRACKING_MISSING",
        ),
        (
            "The contact with the specified contact details has been archived. The contact must "
            "be un-archived before creating new invoices or credit notes.",
            "CONTACT_INVALID",
        ),
        (
            "The contact name X is already assigned to another contact. The contact name must be "
            "unique across all active contacts.",
            "CONTACT_INVALID",
        ),
        ("The line total -0.01 does not match the expected line total 0.00", "LEDGER_VALIDATION"),
    ],
)
def test_xero_messages_map_to_codes(text, code):
    assert error_code(text) == code


def test_element_errors_collects_document_and_line_messages_once():
    element = {
        "ValidationErrors": [{"Message": "Invoice # must be unique."}],
        "LineItems": [
            {
                "ValidationErrors": [
                    {"Message": "Account code '1' is not a valid code for this document."}
                ]
            },
            {"ValidationErrors": [{"Message": "Invoice # must be unique."}]},
        ],
    }
    msgs = element_errors(element)
    assert [m.code for m in msgs] == ["DUPLICATE_DOCUMENT_NUMBER", "LEDGER_ACCOUNT_MISSING"]
    assert msgs[0].text == "Invoice # must be unique."


def test_idempotency_key_is_the_payload_hash_and_fits_xeros_limit():
    a, b = idempotency_key('{"Invoices": [1]}'), idempotency_key('{"Invoices": [2]}')
    assert a != b and a == idempotency_key('{"Invoices": [1]}')
    assert len(a) <= 128 and a.startswith("wisesync-")
