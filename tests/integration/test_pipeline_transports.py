"""The same Sync All gives the same results on the embedded transport (the log in Postgres)
as on Kafka: every record the same status with the same codes, the same documents in Xero,
the same records batched in ConnectWise."""

from __future__ import annotations

from typing import Any

from wisesync.testing.services import temporary_database
from wisesync.testing.stack import CompanySpec, Stack
from wisesync_xero.journals import debit_total

COMPANY = "acme"


def sync_all(dsn: str, transport: str, kafka_bootstrap: str | None = None) -> dict[str, Any]:
    """Run Sync All of the seeded demo company on ``transport``; its normalised outcome."""
    spec = CompanySpec(
        COMPANY, hold_billing_statuses=["Finance Hold"], options={"require_item_code": True}
    )
    with Stack([spec], dsn=dsn, transport=transport, kafka_bootstrap=kafka_bootstrap) as stack:
        with stack.service():
            run = stack.sync(COMPANY)
            review = stack.wait(run)
        xero = stack.sandbox("xero", COMPANY).app
        cw = stack.sandbox("connectwise", COMPANY).app
        docs = [*xero.invoices(), *xero.credit_notes()]
        return {
            "extracted": dict(run.extracted),
            "held": dict(run.held),
            # one entry per record: status, ledger number, acknowledged, codes by severity
            "records": {
                (r.record_type, r.source_id): (
                    r.status,
                    r.document_number,
                    r.ledger_number,
                    r.ledger_total,
                    r.acknowledged,
                    tuple(sorted((m.severity, m.code, m.line) for m in r.messages)),
                )
                for r in review.rows
            },
            "summary": review.summary(),
            "xero": sorted(
                (d["Type"], d.get("InvoiceNumber") or d.get("CreditNoteNumber"), d["Total"])
                for d in docs
            )
            + sorted(
                ("MANUALJOURNAL", j["Narration"], debit_total(j["JournalLines"]))
                for j in xero.manual_journals()
            ),
            "batched": sorted(
                (rec["kind"], rec["id"]) for b in cw.batches() for rec in b["records"]
            ),
            "unposted": cw.unposted_counts(),
            "spec_violations": list(xero.spec_violations),
        }


def test_embedded_transport_gives_the_same_results_as_kafka(
    postgres_dsn: str, pg_database: str, kafka_bootstrap: str
) -> None:
    on_kafka = sync_all(pg_database, "kafka", kafka_bootstrap)
    with temporary_database(postgres_dsn, "embedded_transport") as dsn:
        on_embedded = sync_all(dsn, "embedded")

    # the run did real work of every kind, so the comparison means something
    statuses = {v[0] for v in on_kafka["records"].values()}
    assert statuses == {"posted", "failed", "held"}
    assert on_kafka["summary"]["errors"] and on_kafka["summary"]["warnings"]
    assert len(on_kafka["xero"]) == on_kafka["summary"]["by_status"]["posted"]
    assert on_kafka["spec_violations"] == []

    for key in on_kafka:
        assert on_embedded[key] == on_kafka[key], key
