"""Poison messages land in the dead-letter topic with their context, and the rest flows.

On the records topic, ahead of a real run's records in the same partition: random bytes (not
an event at all), a well-formed RecordEvent for a company this deployment does not have, and
one whose routing headers name the run's company while its body is another's.
Inside the run: one record on which the Xero plugin raises (the poster bisects its batch, so
only that record is dead-lettered; it gets an INTERNAL_ERROR result and the rest of its batch
posts). On the results topic: random bytes, which the reporter cannot read. The reporter
stores every dead letter (``dead_letters``) with the original bytes and what went wrong, and
every other record of the run reaches Xero exactly once. Real Kafka and the embedded transport,
real Postgres; the roles run in the test process.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from wisesync.events.codec import Codec, route_headers
from wisesync.events.models import RecordEvent, RecordType, new_id
from wisesync.testing.stack import Stack

sys.path.insert(0, str(Path(__file__).parent))
from crash_harness import assert_exactly_once, fast_role_options, wait_runs, workload

SEED = 20261125
#: The invoice on which the Xero plugin raises (an ordinary one that would post).
POISON_NUMBER = "10001"
#: One company's records: what they earn (its seeded error cases fail; the source holds its
#: unbalanced and zero-line invoices and an expense a bill combined) with the poison failed.
EXPECTED = {"posted": 246, "held": 3, "failed": 8}


@pytest.fixture(params=["kafka", "embedded"])
def stack(request: pytest.FixtureRequest, pg_database: str) -> Iterator[Stack]:
    """One company of ~250 records on real Kafka or the embedded transport."""
    kind = request.param
    bootstrap = request.getfixturevalue("kafka_bootstrap") if kind == "kafka" else None
    with Stack(
        workload(1, seed=21),
        dsn=pg_database,
        transport=kind,
        kafka_bootstrap=bootstrap,
        partitions=2,
    ) as stack:
        yield stack


COLUMNS = (
    "error_class, topic, original_topic, company, record_event_id, run_id, record_type, "
    "source_id, error_text, original_value, consumer_group"
)


def _letters(stack: Stack) -> list[dict]:
    """The stored dead letters, oldest first."""
    with stack.db.connection() as conn:
        cur = conn.execute(f"SELECT {COLUMNS} FROM dead_letters ORDER BY first_seen, topic")
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _one(letters: list[dict], **match: object) -> dict:
    found = [d for d in letters if all(d[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, letters)
    return found[0]


def test_poison_is_dead_lettered_with_context_and_the_rest_flows(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wisesync_xero.target import XeroTarget

    real_post = XeroTarget.post

    def post(self, records, ctx):  # the plugin has a bug that one record triggers
        if any(r.document_number == POISON_NUMBER for r in records):
            raise RuntimeError(f"boom on invoice {POISON_NUMBER}")
        return real_post(self, records, ctx)

    monkeypatch.setattr(XeroTarget, "post", post)
    company = stack.specs[0].key
    topics = stack.config.topics
    codec = Codec()
    noise = random.Random(SEED).randbytes(64)
    ghost = RecordEvent(
        company="ghost",
        source="connectwise",
        target="xero",
        record_type=RecordType.INVOICE,
        source_id="ghost-1",
        run_id="ghost-run",
        document_number="G-1",
    ).seal()
    stray = replace(ghost, event_id=new_id(), company="elsewhere", source_id="stray-1").seal()
    producer = stack.transport.producer()
    try:  # ahead of the run, in the partition of the company's records
        producer.send(topics.records, company.encode(), noise)
        producer.send(topics.records, company.encode(), codec.encode(ghost), codec.headers(ghost))
        producer.send(
            topics.records, company.encode(), codec.encode(stray), route_headers(company, "xero")
        )
        producer.send(topics.results, company.encode(), noise[::-1])
        producer.flush()
    finally:
        producer.close()
    options = fast_role_options(stack.kind)
    with stack.service(("poster", "reporter", "acknowledger"), **options) as service:
        runs = [stack.sync(company)]
        reviews = wait_runs(stack, runs, 60)
        letters = _letters(stack)
        assert service.alive(), service.errors
    rows = {r.document_number: r for r in reviews[0].rows}
    poison = rows[POISON_NUMBER]
    assert poison.status == "failed"
    assert [m.code for m in poison.errors()] == ["INTERNAL_ERROR"]
    assert "boom on invoice" in poison.errors()[0].text
    totals = assert_exactly_once(
        stack, runs, reviews, dead_letters=1, poisoned=frozenset({poison.source_id})
    )
    assert totals == EXPECTED, totals

    assert len(letters) == 5, letters
    # random bytes on the records topic: the poster sent them to the DLQ, bytes kept
    noise_letter = _one(letters, topic=topics.dlq, record_event_id=None, company=company)
    assert noise_letter["original_topic"] == topics.records
    assert noise_letter["error_class"] in ("CorruptEvent", "EventDecodeError")
    assert bytes(noise_letter["original_value"]) == noise
    assert noise_letter["consumer_group"] == stack.config.group_for("poster")
    # a RecordEvent for a company the deployment does not have
    ghost_letter = _one(letters, company="ghost")
    assert (ghost_letter["error_class"], ghost_letter["record_event_id"]) == (
        "ConfigError",
        ghost.event_id,
    )
    assert (ghost_letter["run_id"], ghost_letter["source_id"]) == ("ghost-run", "ghost-1")
    assert "not configured" in ghost_letter["error_text"]
    # headers that disagree with the body: not posted for either company
    stray_letter = _one(letters, record_event_id=stray.event_id)
    assert (stray_letter["error_class"], stray_letter["company"]) == (
        "MisroutedRecord",
        "elsewhere",
    )
    assert f"routing headers say {company}/xero" in stray_letter["error_text"]
    # the record the plugin raised on: every field a replay needs
    raised = _one(letters, record_event_id=poison.record_event_id)
    assert raised["error_class"] == "RuntimeError"
    assert (raised["company"], raised["run_id"]) == (company, runs[0].run_id)
    assert (raised["record_type"], raised["source_id"]) == ("invoice", poison.source_id)
    assert "boom on invoice" in raised["error_text"]
    assert codec.decode(bytes(raised["original_value"])).document_number == POISON_NUMBER
    # random bytes on the results topic: the reporter cannot read them and stores them itself
    unread = _one(letters, topic=topics.results)
    assert bytes(unread["original_value"]) == noise[::-1]
    assert unread["consumer_group"] == stack.config.group_for("reporter")
