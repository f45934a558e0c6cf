"""The bad-input table (issue #14): what a new user types wrong, and what wisesync answers.

Each row: the command line, the exit code (2 usage or configuration error, 1 the work ran
but not everything posted) and the first line of the answer (after click's "Usage:" /
"Try ..." lines and ``config check``'s "N problem(s):" count), which must name what is
wrong. Every row also proves that no secret of the environment or pasted into the file is
printed, that nothing fell back to a local embedded Postgres, and that no traceback shows.

The commands run in-process (click's CliRunner). Rows marked ``db`` read a real, migrated
Postgres (one database for the module, holding one run whose extraction failed); the others
must answer before any service is touched (their DSN points at a closed port).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from wisesync.cli import _add_core_commands, _add_plugin_commands, cli

_add_core_commands()
_add_plugin_commands()

#: planted in every secret variable and pasted into files: must never be printed
SECRET = "canary-S3cret-9f4e2b"
NO_DB = f"postgresql://wisesync:{SECRET}@127.0.0.1:1/wisesync"
FAILED_RUN = "run-extraction-failed"

CW = """
[companies.connectwise]
base_url = "https://au.myconnectwise.net"
company_id = "acmeit"
public_key_env = "ACME_CW_PUBLIC_KEY"
private_key_env = "ACME_CW_PRIVATE_KEY"
client_id_env = "ACME_CW_CLIENT_ID"
"""
XERO = """
[companies.xero]
client_id_env = "ACME_XERO_CLIENT_ID"
client_secret_env = "ACME_XERO_CLIENT_SECRET"
"""
GLOBEX = """
[[companies]]
key = "globex"
ledger = "hello"
source = "hello"
"""
GOOD = f'[store]\ndsn_env = "ACME_DSN"\n\n[[companies]]\nkey = "acme"\nledger = "xero"\n{CW}{XERO}{GLOBEX}'
GOOD_ENV = {
    "ACME_DSN": NO_DB,
    "ACME_CW_PUBLIC_KEY": SECRET + "-pub",
    "ACME_CW_PRIVATE_KEY": SECRET + "-priv",
    "ACME_CW_CLIENT_ID": SECRET + "-cid",
    "ACME_XERO_CLIENT_ID": SECRET + "-xid",
    "ACME_XERO_CLIENT_SECRET": SECRET + "-xsecret",
    "WISESYNC_SECRET_KEY": Fernet.generate_key().decode(),
}


def without(*names: str) -> dict[str, str | None]:
    """GOOD_ENV with ``names`` unset."""
    return {**GOOD_ENV, **dict.fromkeys(names)}


@dataclass
class Case:
    """One row of the table."""

    argv: list[str]
    exit_code: int
    first_line: str  # the answer's first line starts with this
    config: str | None = GOOD  # written to ./wisesync.toml (None: no file)
    env: dict[str, str | None] = field(default_factory=lambda: dict(GOOD_ENV))
    db: bool = False  # ACME_DSN points at the module's migrated database
    also: tuple[str, ...] = ()  # further text the answer must hold
    forbidden: tuple[str, ...] = ()  # text it must not hold (besides SECRET)


def refused(argv: str, first_line: str, **kw) -> Case:
    """A row answered with exit 2 (usage or configuration error); ``argv`` split on spaces."""
    return Case(argv.split(), 2, first_line, **kw)


def config_check(first_line: str, **kw) -> Case:
    """A row for ``wisesync config check`` (exit 2: the file or the environment is wrong)."""
    return Case(["config", "check"], 2, first_line, **kw)


CASES: dict[str, Case] = {
    # --- the file itself (standards: malformed TOML, typos, duplicates, DSN in the file)
    "malformed TOML": config_check(
        "wisesync.toml: not valid TOML: Expected '=' after a key in a key/value pair (at line 2",
        config='[store]\ndsn_env "ACME_DSN"\n',
    ),
    "no config file": config_check(
        "wisesync.toml: config file wisesync.toml does not exist", config=None
    ),
    "--config names a missing file": refused(
        "--config nope.toml results",
        "configuration error: nope.toml: config file nope.toml does not exist",
    ),
    "unknown setting, did you mean": config_check(
        "wisesync.toml: companies[0].legder: unknown setting",
        config=GOOD.replace('ledger = "xero"', 'ledger = "xero"\nlegder = "xero"'),
        also=("fix: did you mean 'ledger'?",),
    ),
    "duplicate company keys": config_check(
        "wisesync.toml: companies[1].key: company key 'acme' is used twice",
        config=GOOD.replace('key = "globex"', 'key = "acme"'),
    ),
    "DSN in the file": config_check(
        "wisesync.toml: store.dsn: a DSN holds a password; do not put it in the file",
        config=GOOD.replace('dsn_env = "ACME_DSN"', f'dsn = "{NO_DB}"'),
    ),
    "DSN pasted into store.dsn_env": config_check(
        "wisesync.toml: store.dsn_env: expected the NAME of an environment variable",
        config=GOOD.replace('dsn_env = "ACME_DSN"', f'dsn_env = "{NO_DB}"'),
    ),
    "unknown transport kind": config_check(
        'wisesync.toml: transport.kind: expected "embedded" or "kafka", got \'kafak\'',
        config='[transport]\nkind = "kafak"\n' + GOOD,
    ),
    "unknown record type": config_check(
        "wisesync.toml: companies[1].record_types: unknown record type 'invoices'",
        config=GOOD + 'record_types = ["invoices"]\n',
        also=("choose from invoice, credit_memo",),
    ),
    "ledger plugin not installed": config_check(
        "wisesync.toml: companies[1].ledger: no plugin named 'xeró' is installed",
        config=GOOD.replace('ledger = "hello"', 'ledger = "xeró"'),
    ),
    "adjustment cap as a float": config_check(
        "wisesync.toml: companies[1].options.adjustment_cap: expected a non-negative amount",
        config=GOOD + "[companies.options]\nadjustment_cap = 10.5\n",
    ),
    # --- secrets pasted where a variable name belongs (never echoed; #14's first bullet)
    "secret pasted into client_secret_env": config_check(
        "wisesync.toml: companies[0].xero.client_secret_env: expected the NAME of an "
        "environment variable ([A-Z_][A-Z0-9_]*, words joined by _), not the secret itself "
        "(the value is not shown)",
        config=GOOD.replace('"ACME_XERO_CLIENT_SECRET"', f'"{SECRET}"'),
    ),
    "ConnectWise key pasted into public_key_env": config_check(
        "wisesync.toml: companies[0].connectwise.public_key_env: expected the NAME of an "
        "environment variable",
        config=GOOD.replace('"ACME_CW_PUBLIC_KEY"', '"xK9mPq2LrT5vW8nZ"'),
        also=("rotate it",),
    ),
    "key in capitals pasted into private_key_env": config_check(
        "wisesync.toml: companies[0].connectwise.private_key_env: expected the NAME of an "
        "environment variable ([A-Z_][A-Z0-9_]*, words joined by _), not the secret itself "
        "(the value is not shown)",
        config=GOOD.replace('"ACME_CW_PRIVATE_KEY"', '"K9MPQ2LRT5VW8NZA"'),
        also=("rotate it",),
        forbidden=("K9MPQ2LRT5VW8NZA",),
    ),
    "sync-all with a pasted secret": refused(
        "sync-all",
        "configuration error: wisesync.toml: companies[0].xero.client_secret_env: expected "
        "the NAME of an environment variable",
        config=GOOD.replace('"ACME_XERO_CLIENT_SECRET"', f'"{SECRET}"'),
    ),
    "results --csv with a pasted secret": refused(
        "results --csv",
        "configuration error: wisesync.toml: companies[0].xero.client_secret_env: expected "
        "the NAME of an environment variable",
        config=GOOD.replace('"ACME_XERO_CLIENT_SECRET"', f'"{SECRET}"'),
    ),
    # --- what a start needs (#14 item 2): every problem listed, not only the first
    "referenced variables unset": config_check(
        "wisesync.toml: companies[0].connectwise.private_key_env: environment variable "
        "ACME_CW_PRIVATE_KEY is not set",
        env=without("ACME_CW_PRIVATE_KEY", "ACME_XERO_CLIENT_SECRET"),
        also=("xero.client_secret_env: environment variable ACME_XERO_CLIENT_SECRET is not set",),
    ),
    "WISESYNC_SECRET_KEY unset": config_check(
        "wisesync.toml: WISESYNC_SECRET_KEY: not set: the ledgers' OAuth tokens are stored "
        "encrypted with it",
        env=without("WISESYNC_SECRET_KEY"),
    ),
    "WISESYNC_SECRET_KEY not a key": config_check(
        "wisesync.toml: WISESYNC_SECRET_KEY: not a valid Fernet key",
        env={**GOOD_ENV, "WISESYNC_SECRET_KEY": SECRET},
    ),
    "store.dsn_env variable unset": config_check(
        "wisesync.toml: store.dsn_env: environment variable ACME_DSN is not set (without it "
        "wisesync would run on a local embedded Postgres instead)",
        env=without("ACME_DSN", "ACME_CW_CLIENT_ID"),
        also=("connectwise.client_id_env: environment variable ACME_CW_CLIENT_ID is not set",),
    ),
    "mistyped dsn_env": config_check(
        "wisesync.toml: store.dsn_env: environment variable ACME_DNS is not set",
        config=GOOD.replace('dsn_env = "ACME_DSN"', 'dsn_env = "ACME_DNS"'),
        also=("did you mean ACME_DSN?",),
    ),
    "mistyped dsn_env never starts the embedded Postgres": refused(
        "db migrate",
        "configuration error: wisesync.toml: store.dsn_env: environment variable ACME_DNS is "
        "not set",
        config=GOOD.replace('dsn_env = "ACME_DSN"', 'dsn_env = "ACME_DNS"'),
    ),
    "unset DSN variable stops sync-all too": refused(
        "sync-all",
        "configuration error: wisesync.toml: store.dsn_env: environment variable ACME_DSN is "
        "not set",
        env=without("ACME_DSN"),
    ),
    # --- typos in codes, run ids, groups, topics, company keys (#14 item 3)
    "replay --failed --code typo": refused(
        "replay --failed --code GL_MAPING_MISSING",
        "Error: Invalid value for '--code': 'GL_MAPING_MISSING' is not a message code; did you "
        "mean 'GL_MAPPING_MISSING'? (known codes: ",
    ),
    "results --code typo": refused(
        "results --code LEDGER_ACOUNT_MISSING",
        "Error: Invalid value for '--code': 'LEDGER_ACOUNT_MISSING' is not a message code; did "
        "you mean 'LEDGER_ACCOUNT_MISSING'?",
    ),
    "replay --run unknown": refused(
        "replay --run deadbeef",
        f"Error: Invalid value for '--run': no run 'deadbeef' is recorded (recent runs: "
        f"{FAILED_RUN}; `wisesync results --run last` shows the newest)",
        db=True,
    ),
    "results --run unknown": refused(
        "results --run deadbeef",
        "Error: Invalid value for '--run': no run 'deadbeef' is recorded",
        db=True,
    ),
    "requests --run unknown": refused(
        "requests --run deadbeef",
        "Error: Invalid value for '--run': no run 'deadbeef' is recorded",
        db=True,
    ),
    "results --run last before any run": refused(
        "results --run last --company globex",
        "no runs recorded yet for globex",
        db=True,
    ),
    "rewind --group unknown": refused(
        "replay --rewind --group nosuch --to-time 2h",
        "Error: Invalid value for '--group': 'nosuch' is not a wisesync consumer group "
        "(groups: wisesync-poster, wisesync-reporter)",
    ),
    "rewind --group close to a real one": refused(
        "replay --rewind --group wisesync-postr --to-offset 0",
        "Error: Invalid value for '--group': 'wisesync-postr' is not a wisesync consumer group; "
        "did you mean 'wisesync-poster'?",
    ),
    "rewind --topic unknown": refused(
        "replay --rewind --group wisesync-poster --topic records --to-time 1h",
        "Error: Invalid value for '--topic': 'records' is not a wisesync topic",
        also=("wisesync.records.v1",),
    ),
    "rewind without --group": refused(
        "replay --rewind --to-time 2h",
        "Error: --rewind needs --group and exactly one of --to-time, --to-offset",
    ),
    "--group without --rewind": refused(
        "replay --failed --group wisesync-poster",
        "Error: --group, --to-time and --to-offset go with --rewind",
    ),
    "replay with nothing to select": refused(
        "replay",
        "Error: say what to replay: --run ID, --failed or --dlq",
    ),
    "replay --since not a time": refused(
        "replay --failed --since yesterday",
        "Error: Invalid value for '--since': 'yesterday' is not a time",
    ),
    "results --company typo": refused(
        "results --company acmee",
        "Error: Invalid value for '--company': 'acmee' is not a configured company; did you "
        "mean 'acme'? (configured: acme, globex)",
    ),
    "replay --company typo": refused(
        "replay --failed --company globx",
        "Error: Invalid value for '--company': 'globx' is not a configured company; did you "
        "mean 'globex'?",
    ),
    "sync-all --company typo": refused(
        "sync-all --company acmee",
        "Error: Invalid value for '--company': 'acmee' is not a configured company",
    ),
    "requests --company typo": refused(
        "requests --company acmee",
        "Error: Invalid value for '--company': 'acmee' is not a configured company",
    ),
    "notify test --company typo": refused(
        "notify test --company acmee",
        "Error: Invalid value for '--company': 'acmee' is not a configured company",
    ),
    "options show --company unknown": refused(
        "options show --company nope",
        "configuration error: --company: 'nope' is not a configured company (configured: "
        "acme, globex)",
    ),
    "requests --plugin typo": refused(
        "requests --plugin xeroo",
        "Error: Invalid value for '--plugin': 'xeroo' is not an installed plugin; did you mean "
        "'xero'?",
    ),
    "requests --status typo": refused(
        "requests --status 6xx",
        "Error: Invalid value for '--status': '6xx': use a status (404), a class (4xx, 5xx)",
    ),
    "requests --record without type": refused(
        "requests --record 1042",
        "Error: Invalid value for '--record': '1042': use TYPE:SOURCE_ID as in the review",
    ),
    # --- click's own answers: unknown option (did you mean), command, choice
    "unknown option, did you mean": refused(
        "results --stauts failed",
        "Error: No such option '--stauts'. Did you mean '--status'?",
    ),
    "unknown command": Case(
        ["reslts"], 2, "Error: No such command 'reslts'. Did you mean 'results'?"
    ),
    "results --status typo": refused(
        "results --status faild",
        "Error: Invalid value for '--status': 'faild' is not one of 'posted', "
        "'skipped_already_posted', 'held', 'failed'.",
    ),
    "sync-all --types typo": refused(
        "sync-all --types invoices",
        "Error: Invalid value for '--types': 'invoices' is not one of 'invoice'",
    ),
    "results --show typo": refused(
        "results --show posted,hled",
        "Error: Invalid value for '--show': 'hled' is not a list the review can show; did you "
        "mean 'held'? (choices: failed, held, posted)",
    ),
    "results --json and --csv": Case(
        ["results", "--json", "--csv"], 2, "Error: choose one of --json and --csv"
    ),
    "results --limit 0": refused(
        "results --limit 0",
        "Error: Invalid value for '--limit': 0 is not in the range x>=1.",
    ),
    "run --instance-id unusable": Case(
        ["run", "--instance-id", "poster #2"],
        2,
        "Error: Invalid value for '--instance-id': 'poster #2': use 1-200 letters, digits",
    ),
    "run --role typo": refused(
        "run --role poster,reportr",
        "Error: Invalid value for '--role': 'reportr' is not a role; did you mean 'reporter'?",
    ),
    "sync-all without any company": refused(
        "sync-all",
        "configuration error: companies: no companies are configured (add a [[companies]] "
        "table to the config file)",
        config='[store]\ndsn_env = "ACME_DSN"\n',
    ),
    # --- runs and schemas
    "results of a run whose extraction failed": Case(
        ["results", "--run", FAILED_RUN],
        1,
        f"Results of run {FAILED_RUN}",
        db=True,
        also=(
            "the extraction stopped: ConnectWise is unavailable",
            "extraction failed · NOT all posted",
        ),
    ),
    "sync-all selects the first company and says which": refused(
        "sync-all",
        "company acme (the first configured; others: globex; choose one with --company)",
        db=True,
        also=("Sync All is disabled for company acme",),
    ),
    "unknown schema version file": refused(
        "schemas check --dir schemas-v2",
        "cannot read the schemas: schemas-v2/wisesync.RecordEvent.vNext.avsc: schema files are "
        "named <namespace>.<Name>.v<N>.avsc",
    ),
    "notify test without a channel": refused(
        "notify test",
        "no channel is configured in [notify]; see README, Notifications",
    ),
    "db stop with a DSN configured": Case(["db", "stop"], 2, "a Postgres DSN is configured"),
}


def first_line(output: str) -> str:
    """The answer's first line: after click's usage lines and config check's count."""
    for line in output.splitlines():
        text = line.strip()
        if not text or text.startswith(("Usage: ", "Try '")):
            continue
        if re.fullmatch(r"\d+ problem\(s\):", text):
            continue
        return text
    return ""


@pytest.fixture(scope="module")
def failed_run_dsn(postgres_dsn: str) -> Iterator[str]:
    """A migrated database holding one run of acme whose extraction failed, stored by the
    real reporter from the run manifest the extractor publishes."""
    import psycopg

    from wisesync.events.codec import Codec
    from wisesync.events.models import SyncRun, Trigger, utcnow
    from wisesync.pipeline.reporter import Reporter
    from wisesync.plugins import registry
    from wisesync.store.db import Database
    from wisesync.store.migrate import migrate
    from wisesync.testing.services import temporary_database
    from wisesync.transport.base import Message as BusMessage

    with temporary_database(postgres_dsn, "bad_input") as dsn:
        with psycopg.connect(dsn) as conn:
            migrate(conn)
        run = SyncRun(FAILED_RUN, "acme", Trigger.SYNC_ALL, "ann", ["invoice"], {}, {})
        run.finished_at = utcnow()
        run.error = "ConnectWise is unavailable: ConnectionError on GET /finance/invoices"
        codec = Codec()
        db = Database(dsn, max_size=2)
        try:
            reporter = Reporter(db, None, codec, registry=registry())
            reporter.store(
                [BusMessage("wisesync.runs.v1", 0, 0, b"acme", codec.encode(run), [], 0)]
            )
        finally:
            db.close()
        yield dsn


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without any WISESYNC_* variable."""
    import os

    for name in list(os.environ):
        if name.startswith("WISESYNC_") or name.startswith("ACME_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    schemas = tmp_path / "schemas-v2"
    schemas.mkdir()
    (schemas / "wisesync.RecordEvent.vNext.avsc").write_text('{"type": "string"}')
    return tmp_path


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input(case: Case, workdir: Path, request: pytest.FixtureRequest) -> None:
    env = dict(case.env)
    if case.db:
        env["ACME_DSN"] = request.getfixturevalue("failed_run_dsn")
    if case.config is not None:
        (workdir / "wisesync.toml").write_text(case.config)
    env["COLUMNS"] = "250"  # rich's tables and lines unwrapped, so lines compare whole
    result = CliRunner().invoke(cli, case.argv, env=env, terminal_width=250)
    output = result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), f"{case.argv}: raised {result.exception!r}\n{output}"
    assert result.exit_code == case.exit_code, output
    assert first_line(output).startswith(case.first_line), output
    for text in case.also:
        assert text in output, output
    for text in (SECRET, *case.forbidden):
        assert text not in output
    assert "Traceback" not in output
    assert not (workdir / ".wisesync" / "postgres").exists(), "fell back to an embedded Postgres"


def test_the_table_covers_every_kind_of_bad_input_named_in_issue_14() -> None:
    """The #14 "Why" list and items 2-3, row by row (a rename must keep them)."""
    named = {
        "secret pasted into client_secret_env",
        "ConnectWise key pasted into public_key_env",
        "results --csv with a pasted secret",
        "referenced variables unset",
        "WISESYNC_SECRET_KEY unset",
        "store.dsn_env variable unset",
        "mistyped dsn_env",
        "mistyped dsn_env never starts the embedded Postgres",
        "sync-all selects the first company and says which",
        "replay --failed --code typo",
        "replay --run unknown",
        "rewind --group unknown",
        "rewind --topic unknown",
        "results --company typo",
        "results of a run whose extraction failed",
        "malformed TOML",
        "unknown option, did you mean",
        "duplicate company keys",
        "DSN in the file",
        "unknown schema version file",
    }
    assert named <= set(CASES)
