"""``wisesync demo``: the whole product on this machine in under a minute.

Starts an embedded Postgres (in a temporary directory), the embedded transport,
and the ConnectWise and Xero sandboxes seeded with a realistic MSP that holds
every error and warning case Wise-Sync users know; runs Sync All and prints the
review; fixes one error at the ledger (creates the missing account in Xero);
replays the failed records and shows that one posted. Leaves nothing running.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.panel import Panel

DEMO_COMPANY = "northwind"
MISSING_ACCOUNT = ("4999", "Consulting Revenue", "REVENUE")


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary data directory for a look.")
@click.option("--ledger", default="xero", show_default=True, help="Ledger plugin to post into.")
def demo_cmd(keep: bool, ledger: str) -> None:
    """Run Sync All, fix an error, replay: all local, nothing to configure.

    \b
    1. starts an embedded Postgres, the embedded transport and the
       ConnectWise and Xero sandboxes (seeded with every Wise-Sync case)
    2. Sync All for the demo company, then the review
    3. fixes one error at the ledger: creates the missing account 4999
    4. replays the records that failed on it and shows them posted
    """
    from wisesync.store.embedded import EmbeddedPostgres
    from wisesync.testing.stack import CompanySpec, Stack

    console = Console()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="wisesync-demo-"))
    pg = EmbeddedPostgres(workdir / "postgres")
    try:
        # soft_wrap: a long path stays on one line (copy-pasteable), whatever the width
        console.print(f"[bold]wisesync demo[/] — working in {workdir}", soft_wrap=True)
        dsn = pg.start()
        console.print("  embedded Postgres started; transport: embedded (Postgres)")
        spec = CompanySpec(
            DEMO_COMPANY,
            name="Northwind IT (demo)",
            ledger=ledger,
            hold_billing_statuses=["Finance Hold"],
            options={"require_item_code": True},
        )
        with Stack([spec], dsn=dsn, partitions=2, namespace="demo") as stack:
            console.print(
                f"  sandboxes: ConnectWise {stack.sandbox('connectwise', DEMO_COMPANY).url}"
                f", {ledger.title()} {stack.sandbox(ledger, DEMO_COMPANY).url}"
            )
            with stack.service():
                code = _run(console, stack, ledger)
        console.print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    finally:
        pg.stop()
        if keep:
            console.print(f"data kept in {workdir}", soft_wrap=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


def _run(console: Console, stack, ledger: str) -> int:
    from wisesync import replay
    from wisesync.pipeline.review import ReviewFilter, load_review, render_review

    console.print(Panel("Step 1: Sync All", expand=False))
    run = _sync_all(stack)
    review = stack.wait(run)
    render_review(review, console, title="Sync All: Northwind IT (demo)")

    failing = [
        r
        for r in review.rows
        if any(m.code == "LEDGER_ACCOUNT_MISSING" and "4999" in m.text for m in r.errors())
    ]
    console.print(
        Panel(
            f"Step 2: fix at the ledger — create account {MISSING_ACCOUNT[0]} "
            f"({MISSING_ACCOUNT[1]}) in {ledger.title()}",
            expand=False,
        )
    )
    stack.sandbox(ledger, DEMO_COMPANY).app.create_account(*MISSING_ACCOUNT)
    console.print(
        f"  {len(failing)} record(s) failed on account {MISSING_ACCOUNT[0]}: "
        + ", ".join(r.label for r in failing)
    )

    console.print(
        Panel("Step 3: wisesync replay --failed --code LEDGER_ACCOUNT_MISSING", expand=False)
    )
    selection = replay.select(stack.db, company=DEMO_COMPANY, codes=("LEDGER_ACCOUNT_MISSING",))
    outcomes = replay.replay(
        selection,
        config=stack.config,
        registry=stack.registry,
        db=stack.db,
        transport=stack.transport,
        requested_by="demo",
    )
    after = []
    for outcome in outcomes:
        after.append(stack.wait(outcome.run))
        render_review(after[-1], console, title="Replay")
    fixed = {r.source_id for r in failing}
    posted = [
        row for rv in after for row in rv.rows if row.source_id in fixed and row.status == "posted"
    ]
    for row in posted:
        console.print(
            f"  [green]posted[/] {row.label} -> {ledger.title()} "
            f"{row.ledger_number or row.ledger_id}"
        )
    final = load_review(stack.db, ReviewFilter(company=DEMO_COMPANY))
    console.print(f"\nNow: {final.by_status()}")
    return 0 if failing and len(posted) == len(failing) else 1


def _sync_all(stack):
    """Sync All for the demo company, requested by "demo" (the review shows who asked)."""
    from wisesync.events.models import Trigger
    from wisesync.pipeline.extractor import Extractor

    extractor = Extractor(
        config=stack.config, registry=stack.registry, db=stack.db, transport=stack.transport
    )
    try:
        return extractor.sync(
            stack.config.company(DEMO_COMPANY), None, trigger=Trigger.SYNC_ALL, requested_by="demo"
        )
    finally:
        extractor.close()


COMMANDS = [demo_cmd]
