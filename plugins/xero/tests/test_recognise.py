"""Our document is recognised by what we wrote into it, never by its contact."""

import pytest
from xero_testkit import customer, line, record, reference

from wisesync.config import CompanyOptions
from wisesync_xero.mapping import plan
from wisesync_xero.recognise import differences, element_date


@pytest.mark.parametrize(
    "element,expected",
    [
        ({"DateString": "2026-01-05T00:00:00", "Date": "/Date(1)/"}, "2026-01-05"),
        ({"Date": "/Date(1767571200000+0000)/"}, "2026-01-05"),
        ({"Date": "2026-01-05"}, "2026-01-05"),
        ({}, None),
    ],
)
def test_element_date_reads_every_form_xero_answers_in(element, expected):
    assert element_date(element) == expected


def _plan(**kw):
    rec = record(line(), number="INV-9", reference="PO-1", **kw)
    return plan(rec, reference(), CompanyOptions(), {})


def _element(**kw):
    doc = {
        "Type": "ACCREC",
        "InvoiceNumber": "inv-9",
        "DateString": "2026-01-05T00:00:00",
        "Reference": "PO-1",
        "Contact": {"ContactNumber": "MERGED-INTO-OTHER", "Name": "Someone Else"},
    }
    return {**doc, **kw}


def test_ours_whatever_its_contact_became():
    assert differences(_plan(contact=customer(4)), _element()) == []


@pytest.mark.parametrize(
    "change,named",
    [
        ({"Reference": "PO-2"}, "Reference 'PO-2' instead of 'PO-1'"),
        ({"DateString": "2026-02-01T00:00:00"}, "Date '2026-02-01' instead of '2026-01-05'"),
        ({"Type": "ACCPAY"}, "Type 'ACCPAY' instead of 'ACCREC'"),
        ({"Reference": None}, "no Reference"),
    ],
)
def test_someone_elses_document_is_named_by_what_differs(change, named):
    assert differences(_plan(), _element(**change)) == [named]
