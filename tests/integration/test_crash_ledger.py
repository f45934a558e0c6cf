"""Xero commits a batch but the answer never reaches the poster: no document is created twice.

Two guards (ARCHITECTURE section 3): the HTTP client sends the same request again with the
same ``Idempotency-Key`` and Xero answers from its cache; and when the answer stays lost
after every try, the poster's next attempt finds the ``claimed`` journal rows and asks Xero
(``find_existing``) before posting anything again. Real Kafka and Postgres; the roles run in
the test process.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from wisesync import replay
from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import CompanySpec, Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import (
    assert_exactly_once,
    fast_role_options,
    kafka_stack,
    ledger_documents,
    linked,
    wait_runs,
    workload,
)

WRITES = r"/(Invoices|CreditNotes)$"
#: One company's records: what they earn (its seeded error cases fail; the source holds
#: its unbalanced and zero-line invoices and an expense a bill combined).
EXPECTED = {"posted": 247, "held": 3, "failed": 7}


@pytest.fixture
def stack(kafka_bootstrap: str, pg_database: str) -> Iterator[Stack]:
    """One company of ~250 records on the session's Kafka and a fresh database."""
    with kafka_stack(workload(1, seed=21), kafka_bootstrap, pg_database) as stack:
        yield stack


def _run(stack: Stack) -> list:
    options = fast_role_options("kafka")
    options["poster"]["retry_delays"] = (0.2, 0.5, 1.0)
    # one write at a time, so the lost answers hit the writes in order (batches written at
    # once would share them out, each losing one answer and getting the next from the cache)
    options["poster"]["chunk_workers"] = 1
    with stack.service(("poster", "reporter", "acknowledger"), **options):
        runs = [stack.sync(spec.key) for spec in stack.specs]
        reviews = wait_runs(stack, runs, 60)
    return [runs, reviews]


def _lost(app) -> int:
    """Requests whose answer the sandbox dropped (logged with status 0)."""
    return sum(1 for method, _, status in app.log if method == "PUT" and status == 0)


def test_answer_lost_once_is_replayed_from_the_idempotency_cache(stack: Stack) -> None:
    """The first three writes are committed and their answers lost: the client sends each
    again with the same Idempotency-Key and Xero answers from its cache."""
    app = stack.sandbox("xero", stack.specs[0].key).app
    app.faults.arm(Fault("lose_response", count=3, method="PUT", path=WRITES))
    runs, reviews = _run(stack)
    totals = assert_exactly_once(stack, runs, reviews)
    assert totals == EXPECTED, totals
    assert _lost(app) == 3
    assert app.idempotent_replays == 3, "each retry was answered from Xero's cache"
    assert linked(reviews) == 0, "nothing needed the journal's reconciliation"


def test_answer_lost_on_every_try_is_reconciled_not_posted_again(stack: Stack) -> None:
    """A write whose answer is lost on all five tries of the HTTP client: the chunk fails with
    LEDGER_UNAVAILABLE inside the poster, which tries the chunk again after a pause; the
    journal still says ``claimed``, so it looks the documents up in Xero first and links
    them (ALREADY_IN_LEDGER) instead of posting them a second time."""
    app = stack.sandbox("xero", stack.specs[0].key).app
    app.faults.arm(Fault("lose_response", count=5, method="PUT", path=WRITES))
    runs, reviews = _run(stack)
    totals = assert_exactly_once(stack, runs, reviews)
    assert totals == EXPECTED, totals
    assert _lost(app) == 5
    assert linked(reviews) >= 1, "the lost batch was found in Xero, not posted again"
    lost_batch = [r for rv in reviews for r in rv.rows if r.status == "posted" and r.api_calls]
    assert lost_batch, "results still say which calls posted them"


def test_request_cut_off_mid_body_does_not_poison_its_idempotency_key(stack: Stack) -> None:
    """A poster killed while it uploads a write: Xero never sees a request (the body is
    incomplete), so the restarted poster's complete request with the same key is served, not
    refused as "a different request" (LEDGER_VALIDATION on records that would post fine)."""
    server = stack.sandbox("xero", stack.specs[0].key)
    app = server.app
    creds = app.credentials()
    token = requests.post(
        f"{server.url}/connect/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, creds.client_secret),
        timeout=10,
    ).json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "Xero-Tenant-Id": creds.tenant_id,
        "Idempotency-Key": "wisesync-cut-off",
        "Content-Type": "application/json",
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    cut = (
        f"PUT /api.xro/2.0/Invoices?summarizeErrors=false&unitdp=4 HTTP/1.1\r\nHost: x\r\n"
        f"{head}Content-Length: 4000\r\n\r\n"
    ).encode() + b'{"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Cut'
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(cut)
    time.sleep(0.3)
    assert app.calls("PUT") == 0, "an incomplete request is never handled"
    answer = requests.put(
        f"{server.url}/api.xro/2.0/Invoices",
        params={"summarizeErrors": "false", "unitdp": "4"},
        headers=headers,
        data=b'{"Invoices": []}',
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_ledger_unavailable_to_the_end_then_replay_links_what_xero_took(
    kafka_bootstrap: str, pg_database: str
) -> None:
    """Every write is committed in Xero but its answer lost, and Xero's look-ups fail too,
    on every try of the HTTP client and of the poster: the records fail LEDGER_UNAVAILABLE and
    their journal rows stay ``claimed``. Once Xero is well again, ``replay --failed``
    re-extracts them; the poster finds them in Xero and links them (ALREADY_IN_LEDGER)
    instead of posting them a second time."""
    small = {"invoices": 12, "expenses": 4, "procurement": 3, "customers": 5, "cases": False}
    spec = CompanySpec("unsure", seed=31, sandbox_options={"connectwise": small})
    with kafka_stack([spec], kafka_bootstrap, pg_database) as stack:
        app = stack.sandbox("xero", spec.key).app
        app.faults.arm(Fault("lose_response", count=10**6, method="PUT", path=WRITES))
        app.faults.arm(Fault("status", count=10**6, method="GET", path=WRITES, status=503))
        options = fast_role_options("kafka")
        options["poster"]["retry_delays"] = (0.2,)
        with stack.service(("poster", "reporter", "acknowledger"), **options):
            first = stack.sync(spec.key)
            (before,) = wait_runs(stack, [first], 120)
            assert {r.status for r in before.rows} == {"failed"}, before.rows[:3]
            assert all(any(m.code == "LEDGER_UNAVAILABLE" for m in r.messages) for r in before.rows)
            taken = len(ledger_documents(app))
            # Xero took every write it got; a batch holding an inventory journal is looked
            # up before it is written, so it failed (honestly) without a write
            assert 0 < taken <= len(before.rows), "Xero took the writes; the poster never heard"
            app.faults.clear()
            selection = replay.select(stack.db, run_id=first.run_id)
            (outcome,) = stack.replay(selection)
            (after,) = wait_runs(stack, [outcome.run], 60)
    assert {r.status for r in after.rows} == {"posted"}, after.rows[:3]
    assert linked([after]) == taken, "each taken was found in Xero, none posted again"
    assert len(ledger_documents(app)) == len(after.rows) == len(before.rows)
    assert not outcome.gone
