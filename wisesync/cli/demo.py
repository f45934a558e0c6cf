"""``wisesync demo``: the whole product on this machine in under a minute.

Starts an embedded Postgres (in a temporary directory), the embedded transport,
and the ConnectWise and ledger sandboxes seeded with a realistic MSP that holds
every error and warning case Wise-Sync users know; runs Sync All and prints the
review; fixes one error at the ledger (creates the missing account); replays the
failed records and shows that one posted. For a ledger whose updates carry a version
(its sandbox adapter has :class:`~wisesync.testing.ledger.EditConflicts`), a customer
someone keeps editing in the ledger fails its record SYNC_TOKEN_CONFLICT; the editing
stops and the replay posts it. Then the "Sync Token Issue": a second,
small company whose ledger connection was revoked fails with AUTH_TOKEN_INVALID;
the demo reconnects it and replays, and its records post. Leaves nothing running.

The ledger is any installed plugin that registers its sandbox with a
:class:`wisesync.testing.ledger.LedgerSandbox` (``--ledger NAME``; the default is the
only one installed); the demo imports no plugin module.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.panel import Panel

DEMO_COMPANY = "northwind"
MISSING_ACCOUNT = ("4999", "Consulting Revenue", "revenue")
#: Wise-Sync's "Sync Token Issue": a company whose ledger user disconnected wisesync
REVOKED_COMPANY = "contoso"
#: its small, clean books (no seeded cases): every record fails only on the revoked connection
REVOKED_BOOKS = {"invoices": 3, "expenses": 0, "procurement": 0, "customers": 2, "cases": False}
#: the seeded case whose customer a ledger user keeps editing (ledgers with EditConflicts)
EDITED_CASE = "apostrophe_name"


@click.command("demo")
@click.option("--keep", is_flag=True, help="Keep the temporary data directory for a look.")
@click.option(
    "--ledger",
    default=None,
    help="Ledger plugin to post into (default: $WISESYNC_LEDGER, else every installed "
    "ledger, one after the other).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Afterwards keep the stack running with the web console, until Ctrl-C.",
)
@click.option("--port", default=8080, show_default=True, type=int, help="With --serve.")
def demo_cmd(keep: bool, ledger: str | None, serve: bool, port: int) -> None:
    """Run Sync All, fix an error, replay: all local, nothing to configure.

    \b
    1. starts an embedded Postgres, the embedded transport and the
       ConnectWise and ledger sandboxes (seeded with every Wise-Sync case)
    2. Sync All for the demo company, then the review
    3. fixes one error at the ledger: creates the missing account 4999
    4. replays the records that failed on it and shows them posted
    5. Sync All for a second company whose ledger connection was revoked:
       AUTH_TOKEN_INVALID; reconnects it, replays, shows its records posted
    6. with --serve: the web console on the same stack, one sign-in per
       role printed, until Ctrl-C

    \b
    Examples:
      wisesync demo
      wisesync demo --ledger qbo --serve --port 8080
    """
    from wisesync.plugins import registry
    from wisesync.testing.ledger import LEDGER_ENV, require_ledger

    installed = sorted(registry().ledgers)
    chosen = ledger or os.environ.get(LEDGER_ENV) or ""
    ledgers = [chosen] if chosen else installed
    for name in ledgers or [""]:
        require_ledger(registry(), name)  # none such: say so before starting anything
    codes = [
        _story(name, keep=keep, serve=serve and name == ledgers[-1], port=port) for name in ledgers
    ]
    sys.exit(max(codes))


def _story(ledger: str, *, keep: bool, serve: bool, port: int) -> int:
    """The whole demo for one ledger, on its own embedded Postgres; the exit code."""
    from wisesync.store.embedded import EmbeddedPostgres
    from wisesync.testing.stack import CompanySpec, Stack

    console = Console()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="wisesync-demo-"))
    pg = EmbeddedPostgres(workdir / "postgres")
    try:
        # soft_wrap: a long path stays on one line (copy-pasteable), whatever the width
        console.print(f"[bold]wisesync demo[/] ({ledger}) — working in {workdir}", soft_wrap=True)
        dsn = pg.start()
        console.print("  embedded Postgres started; transport: embedded (Postgres)")
        spec = CompanySpec(
            DEMO_COMPANY,
            name="Northwind IT (demo)",
            ledger=ledger,
            hold_billing_statuses=["Finance Hold"],
            options={"require_item_code": True},
        )
        revoked = CompanySpec(
            REVOKED_COMPANY,
            name="Contoso Ltd (demo)",
            ledger=ledger,
            seed=7,
            sandbox_options={"connectwise": REVOKED_BOOKS},
        )
        with Stack([spec, revoked], dsn=dsn, partitions=2, namespace="demo") as stack:
            console.print(
                f"  sandboxes: ConnectWise {stack.sandbox('connectwise', DEMO_COMPANY).url}"
                f", {ledger.title()} {stack.sandbox(ledger, DEMO_COMPANY).url}",
                soft_wrap=True,
            )
            console.print(
                f"  {REVOKED_COMPANY}'s sandboxes: ConnectWise "
                f"{stack.sandbox('connectwise', REVOKED_COMPANY).url}"
                f", {ledger.title()} {stack.sandbox(ledger, REVOKED_COMPANY).url}",
                soft_wrap=True,
            )
            # contoso was connected and posting; then its ledger user disconnected wisesync
            _connect(stack, REVOKED_COMPANY)
            stack.ledger(REVOKED_COMPANY).revoke_connection()
            edited = _start_editing(stack)
            with stack.service():
                code = _run(console, stack, ledger)
                if edited:
                    code = _edit_conflict(console, stack, ledger, edited) or code
                code = _token_issue(console, stack, ledger) or code
                if serve:
                    _serve(console, stack, port)
        console.print(f"\ndemo finished in {time.monotonic() - started:.1f}s")
    finally:
        pg.stop()
        if keep:
            console.print(f"data kept in {workdir}", soft_wrap=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


def _run(console: Console, stack, ledger: str) -> int:
    from wisesync.review import ReviewFilter, load_review, render_review

    console.print(Panel("Step 1: Sync All", expand=False))
    review, failure = _sync_all(stack, DEMO_COMPANY)
    render_review(review, console, title="Sync All: Northwind IT (demo)")
    _highlights(console, stack, review, ledger)

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
    stack.ledger(DEMO_COMPANY).create_account(*MISSING_ACCOUNT)
    console.print(
        f"  {len(failing)} record(s) failed on account {MISSING_ACCOUNT[0]}: "
        + ", ".join(r.label for r in failing)
    )

    console.print(
        Panel("Step 3: wisesync replay --failed --code LEDGER_ACCOUNT_MISSING", expand=False)
    )
    after = _replay(stack, company=DEMO_COMPANY, codes=("LEDGER_ACCOUNT_MISSING",))
    for rv in after:
        render_review(rv, console, title="Replay")
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
    console.print(f"\nNow: {_status_counts(final)} (every record of {DEMO_COMPANY})")
    return 0 if failure is None and failing and len(posted) == len(failing) else 1


def _status_counts(review) -> str:
    """``40 posted, 2 held, 5 failed``: the review's records per status, in review order."""
    from wisesync.review import STATUS_LABELS, STATUSES

    counts = review.by_status()
    order = [*STATUSES, *sorted(set(counts) - set(STATUSES))]
    return ", ".join(f"{counts[s]} {STATUS_LABELS.get(s, s)}" for s in order if counts.get(s))


#: seeded ConnectWise cases the demo points out in the ledger: (case, what it shows)
HIGHLIGHTS = (
    ("foreign_currency", "a customer billed in a foreign currency"),
    ("inventory_adjustment", "an inventory adjustment, as a journal"),
    ("inventory_transfer", "an inventory transfer, as a journal"),
)


def _highlights(console: Console, stack, review, ledger: str) -> None:
    """Where a few seeded records landed in the ledger: the foreign-currency customer's
    invoice (in its own currency) and the inventory journals."""
    cw = stack.sandbox("connectwise", DEMO_COMPANY).app
    docs = {d.ledger_id: d for d in stack.ledger(DEMO_COMPANY).posted_documents()}
    for case, what in HIGHLIGHTS:
        ref = cw.case(case)
        row = next((r for r in review.rows if ref in (r.source_id, r.document_number)), None)
        doc = docs.get(row.ledger_id or "") if row is not None else None
        if row is None or doc is None:
            console.print(f"  [red]not in {ledger.title()}[/]: {what} ({case} {ref})")
            continue
        invoice = cw.invoice_by_number(row.document_number) if row.document_number else None
        currency = ((invoice or {}).get("currency") or {}).get("currencyCode")
        amount = f"{currency} {doc.total}" if currency else str(doc.total)
        console.print(
            f"  [green]posted[/] {what}: {row.label} -> {ledger.title()} {doc.kind} "
            f"{doc.number or doc.ledger_id} ({amount})",
            soft_wrap=True,
        )


def _start_editing(stack) -> str | None:
    """A ledger user starts editing the customer of the :data:`EDITED_CASE` record, when
    the ledger's updates carry a version (EditConflicts); that customer's name, else None."""
    from wisesync.testing.ledger import EditConflicts

    books = stack.ledger(DEMO_COMPANY)
    if not isinstance(books, EditConflicts):
        return None
    cw = stack.sandbox("connectwise", DEMO_COMPANY).app
    invoice = cw.invoice_by_number(cw.case(EDITED_CASE)) or {}
    customer = str((invoice.get("company") or {}).get("name") or "")
    if not customer:
        return None
    books.keep_editing(customer)
    return customer


def _edit_conflict(console: Console, stack, ledger: str, customer: str) -> int:
    """Steps 3a and 3b: the record whose customer kept changing in the ledger failed
    SYNC_TOKEN_CONFLICT; once the ledger user is done, the replay posts it. 0 if it did."""
    from wisesync.review import ReviewFilter, load_review

    code = "SYNC_TOKEN_CONFLICT"
    review = load_review(stack.db, ReviewFilter(company=DEMO_COMPANY))
    failing = [r for r in review.rows if any(m.code == code for m in r.errors())]
    console.print(
        Panel(
            f"Step 3a: Sync Token Issue — someone kept editing customer {customer} in "
            f"{ledger.title()} while wisesync updated it",
            expand=False,
        )
    )
    for row in failing:
        text = next(m.text for m in row.errors() if m.code == code)
        console.print(f"  {row.label} failed {code}: {text}")
    stack.ledger(DEMO_COMPANY).stop_editing()
    console.print(f"  the {ledger.title()} user finished editing {customer}")
    console.print(Panel(f"Step 3b: wisesync replay --failed --code {code}", expand=False))
    posted = _replayed(stack, {r.source_id for r in failing}, company=DEMO_COMPANY, codes=(code,))
    for row in posted:
        console.print(
            f"  [green]{row.label} posted[/] -> {ledger.title()} "
            f"{row.ledger_number or row.ledger_id}"
        )
    return 0 if failing and len(posted) == len(failing) else 1


def _token_issue(console: Console, stack, ledger: str) -> int:
    """Step 4 and 5: the revoked company's Sync All fails with AUTH_TOKEN_INVALID; doing
    what the message says (reconnect, replay the failed records) posts them. 0 if it did."""
    from wisesync.review import render_review

    key = REVOKED_COMPANY
    console.print(
        Panel(
            f"Step 4: Sync Token Issue — {key}'s {ledger.title()} connection was revoked",
            expand=False,
        )
    )
    review, _ = _sync_all(stack, key)
    render_review(review, console, title="Sync All: Contoso Ltd (demo)", limit=1)
    failing = {
        r.source_id for r in review.rows if any(m.code == "AUTH_TOKEN_INVALID" for m in r.errors())
    }

    console.print(
        Panel(
            f"Step 5: wisesync {ledger} connect --company {key}\n"
            f"        wisesync replay --failed --company {key}",
            expand=False,
        )
    )
    stack.ledger(key).restore_connection()  # the user authorises wisesync again in the ledger
    _connect(stack, key)
    console.print(
        f"  {key} reconnected to {ledger.title()}; replaying its {len(failing)} failed record(s)"
    )
    posted = _replayed(stack, failing, company=key)
    for row in posted:
        console.print(
            f"  [green]posted[/] {row.label} -> {ledger.title()} "
            f"{row.ledger_number or row.ledger_id}"
        )
    return 0 if failing and len(posted) == len(failing) else 1


def _serve(console: Console, stack, port: int) -> None:
    """The console on the demo's stack with one user per role, until Ctrl-C."""
    import secrets
    import threading

    from wisesync.console.app import create_app
    from wisesync.console.jobs import Backend
    from wisesync.console.server import ConsoleServer
    from wisesync.console.users import UserStore

    users = UserStore(stack.db)
    companies = (DEMO_COMPANY, REVOKED_COMPANY)
    logins = []
    for name, role in (
        ("admin", "super_admin"),
        ("finance-lead", "account_admin"),
        ("finance", "user"),
    ):
        password = secrets.token_urlsafe(12)
        users.add(name, password, role, () if role == "super_admin" else companies)
        logins.append((name, role, password))
    backend = Backend(
        config=stack.config, db=stack.db, registry=stack.registry, transport=stack.transport
    )
    server = ConsoleServer(create_app(backend), port=port).start()
    console.print(Panel(f"Console: {server.url}  (Ctrl-C stops the demo)", expand=False))
    for name, role, password in logins:
        console.print(f"  {role.replace('_', ' '):14} {name:13} password {password}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()


def _replay(stack, **select):
    """``wisesync replay --failed`` of what ``select`` picks, requested by "demo": the review
    of each run it started, once every record has its result."""
    from wisesync import replay

    outcomes = stack.replay(replay.select(stack.db, **select), requested_by="demo")
    return [stack.wait(outcome.run) for outcome in outcomes]


def _replayed(stack, failing: set[str], **select):
    """The rows of the ``failing`` records that the replay of ``select`` posted."""
    return [
        row
        for rv in _replay(stack, **select)
        for row in rv.rows
        if row.source_id in failing and row.status == "posted"
    ]


def _connect(stack, company: str) -> None:
    """``wisesync <ledger> connect --company <company>``: fetch and store the connection."""
    from wisesync.protocols import PluginRuntime

    stack.ledger(company).connect(
        PluginRuntime(config=stack.config, db=stack.db), stack.config.company(company)
    )


def _sync_all(stack, company: str):
    """Sync All for ``company``, requested by "demo" (the review shows who asked): its review
    once every record has its result, and the error extraction stopped with, if any (a
    revoked ledger connection stops the reading of payments; the review's run line says so)."""
    from wisesync.errors import WisesyncError
    from wisesync.events.models import Trigger, new_id
    from wisesync.pipeline.extractor import Extractor
    from wisesync.review import ReviewFilter, load_review, wait_for_run

    extractor = Extractor(
        config=stack.config, registry=stack.registry, db=stack.db, transport=stack.transport
    )
    run_id, failure = new_id(), None
    try:
        extractor.sync(
            stack.config.company(company),
            None,
            trigger=Trigger.SYNC_ALL,
            requested_by="demo",
            run_id=run_id,
        )
    except WisesyncError as exc:
        failure = exc
    finally:
        extractor.close()
    wait_for_run(stack.db, run_id, 60, acknowledged=True)
    return load_review(stack.db, ReviewFilter(run_id=run_id)), failure


COMMANDS = [demo_cmd]
