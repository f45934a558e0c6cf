"""No secret leaks: a unique canary is planted in every secret and token of a deployment, the
stack runs a full sync with faults and debug logging, and the canaries are searched for in
every log record, stdout and stderr (this process and the CLI's), every message of every topic
(raw and decoded), every row of every table (the request log, with bodies, among them),
the results' texts and the notifications sent.

Real Kafka and Postgres (the fixtures), the ConnectWise, Xero and QBO sandboxes, the notifier
against a real SMTP server and webhook receiver. Faults: 429 with Retry-After and 5xx on every
API, expired access tokens that force a new token, a revoked connection (AUTH_TOKEN_INVALID),
ConnectWise records that are malformed (the seeded cases), a poison message dead-lettered.
A control canary planted on purpose in each kind of place proves the search finds what is there.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

import psycopg
import pytest
from psycopg import sql

from wisesync.errors import WisesyncError
from wisesync.events.codec import Codec
from wisesync.events.models import RecordType
from wisesync.plugins import build_registry
from wisesync.protocols import PluginRuntime
from wisesync.review import ReviewFilter, load_review
from wisesync.store.tokens import PostgresTokenStore
from wisesync.testing.canary import Canary, CanarySearch, LogCapture, scan_tables, scan_topics
from wisesync.testing.notify_servers import SmtpServer, WebhookReceiver
from wisesync.testing.oauth import planted_secrets
from wisesync.testing.sandbox import Fault
from wisesync.testing.stack import CompanySpec, Stack

WISESYNC = Path(sys.executable).with_name("wisesync")
#: a few ordinary records plus every seeded case (malformed exports, unmapped accounts...)
BOOKS = {"invoices": 3, "expenses": 1, "procurement": 1, "customers": 2, "cases": True}
#: the ledger of each company (both installed ledgers in one deployment)
LEDGERS = {"acme": "xero", "globex": "qbo"}
#: what each ledger's sandbox issues during the run, planted per ledger
LEDGER_KINDS = {
    # the web app's authorization-code flow: consent, code, rotating refresh tokens
    "xero": ("client_secret", "access_token", "refresh_token", "code", "id_token"),
    "qbo": ("client_secret", "access_token", "refresh_token"),
}
#: the kinds a sandbox still holds after the run (a code is gone once exchanged)
KEPT_KINDS = ("client_secret", "access_token", "refresh_token")
#: the standard case invoice waits in this billing status until the connection is revoked
HOLD = "Finance Hold"
FAST = {"poster": {"retry_delays": [0.2, 0.5, 1.0], "outage_wait_s": 0}}


# -- unit: the search itself -------------------------------------------------------------------
def test_the_search_finds_a_canary_in_every_form_and_nothing_else() -> None:
    canary = Canary.new("private_key", 1)
    search = CanarySearch([canary, Canary.new("other", 2)])
    value = canary.value.encode()
    for offset in range(3):  # a Basic header, whatever bytes come before the secret
        header = base64.b64encode(b"co+pub"[:offset] + b":" + value + b"!").decode()
        assert search.scan(f"basic@{offset}", "Authorization: Basic " + header) == 1
        urlsafe = base64.urlsafe_b64encode(b"x" * offset + value)
        assert search.scan(f"urlsafe@{offset}", urlsafe) == 1
    assert search.scan("hex", "\\x" + value.hex()) == 1
    assert search.scan("lower", canary.value.lower()) == 1
    assert search.scan("clean", "nothing secret here, CANARY1x not a canary") == 0
    key = Canary.fernet_key("secret_key", 3)
    from cryptography.fernet import Fernet

    Fernet(key.value)  # a valid key, so the service starts with it
    assert CanarySearch([key]).scan("log", f"key={key.value}") == 1
    assert {h.canary for h in search.hits} == {"private_key"}
    assert search.summary().startswith("2 canaries") and "8 hit(s)" in search.summary()
    assert canary.value not in search.report() and "<canary:private_key>" in search.report()


def test_log_capture_keeps_extra_fields_and_tracebacks() -> None:
    canary = Canary.new("token", 4)
    with LogCapture() as capture:
        logging.getLogger("wisesync.canary.control").debug("ok", extra={"token": canary.value})
        try:
            raise ValueError(canary.value)
        except ValueError:
            logging.getLogger("wisesync.canary.control").exception("failed")
    search = CanarySearch([canary])
    # the first record only in an extra field, the second only in its exception
    assert [search.scan("log", text) > 0 for text in capture.texts] == [True, True]


# -- integration: a whole deployment -----------------------------------------------------------
@pytest.fixture
def canary_dsn(pg_database: str) -> Iterator[tuple[str, Canary]]:
    """``pg_database`` reached as a role whose password is a canary."""
    password = Canary.new("postgres_password", 90)
    role = f"canary_{password.value[-8:].lower()}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password.value)
            )
        )
    parts = urlsplit(pg_database)
    assert parts.scheme.startswith("postgres"), "the fixture gives a URL"
    netloc = f"{role}:{password.value}@{parts.hostname}:{parts.port}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc)), password
    finally:
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


class Deployment:
    """The canaries and where they are planted; the stack once started."""

    def __init__(self, tmp_path: Path, dsn: str, pg_password: Canary, kafka: str):
        numbers = iter(range(1, 100))

        def new(name: str) -> Canary:
            self.canaries.append(Canary.new(name, next(numbers)))
            return self.canaries[-1]

        self.canaries: list[Canary] = [pg_password]
        self.secret_key = Canary.fernet_key("WISESYNC_SECRET_KEY", next(numbers))
        self.canaries.append(self.secret_key)
        self.smtp_password = new("smtp_password")
        self.webhook_secret = new("webhook_secret")
        self.webhook_token = new("webhook_url_token")
        self.console_secret = new("console_session_secret")
        self.console_password = new("console_password")
        # a key pasted where the variable's NAME goes; all capitals, so it looks like one
        pasted = new("pasted_cw_private_key")
        self.pasted = self.canaries[-1] = Canary(pasted.name, pasted.value.upper())
        self.ledger_prefixes = {
            (company, kind): new(f"{ledger}_{kind}")
            for company, ledger in LEDGERS.items()
            for kind in LEDGER_KINDS[ledger]
        }
        self.specs = []
        for company in LEDGERS:
            from wisesync_connectwise.sandbox.app import Credentials

            creds = Credentials(
                company_id=f"{company}_books",
                public_key=new(f"{company}_cw_public_key").value,
                private_key=new(f"{company}_cw_private_key").value,
                client_id=new(f"{company}_cw_client_id").value,
            )
            self.specs.append(
                CompanySpec(
                    company,
                    ledger=LEDGERS[company],
                    seed=7,
                    hold_billing_statuses=[HOLD],
                    sandbox_options={"connectwise": {**BOOKS, "credentials": creds}},
                )
            )
        self.smtp = SmtpServer(tmp_path, users={"bot": self.smtp_password.value})
        self.hook = WebhookReceiver(self.webhook_secret.value)
        self.tmp_path = tmp_path
        self.dsn = dsn
        self.kafka = kafka

    def environ(self) -> dict[str, str]:
        """The variables the [notify] table and the service read."""
        url = self.hook.url.replace("T0K3N-in-the-url", self.webhook_token.value)
        return {
            "WISESYNC_SECRET_KEY": self.secret_key.value,
            "CANARY_SMTP_PASSWORD": self.smtp_password.value,
            "CANARY_HOOK_URL": url,
            "CANARY_HOOK_SECRET": self.webhook_secret.value,
            "WISESYNC_CONSOLE_SECRET": self.console_secret.value,
            "WISESYNC_TRACE_PLUGINS": "1",  # every hook call logged, with its arguments
        }

    def stack(self) -> Stack:
        """The stack; its ledger sandboxes issue canary-prefixed secrets and tokens."""
        notify = {
            "interval": "1s",
            "email": self.smtp.table("CANARY_SMTP_PASSWORD"),
            "webhook": {"url_env": "CANARY_HOOK_URL", "secret_env": "CANARY_HOOK_SECRET"},
        }
        stack = Stack(
            self.specs,
            dsn=self.dsn,
            transport="kafka",
            kafka_bootstrap=self.kafka,
            partitions=2,
            registry=build_registry(),  # traced: WISESYNC_TRACE_PLUGINS is set by now
            extra_config={"notify": notify, "requests": {"debug_bodies": True}},
        )
        for spec in self.specs:
            prefixes = {
                kind: c.value for (company, kind), c in self.ledger_prefixes.items()
                if company == spec.key
            }  # fmt: skip
            with planted_secrets(**prefixes):
                server = stack.start_sandbox(spec.ledger, spec)
            if spec.ledger == "xero":
                _authorization_code_connection(server, spec.key)
        return stack


def _authorization_code_connection(server: Any, company: str) -> None:
    """Connect ``company`` through the sandbox's web app (``wisesync xero connect``) rather
    than a custom connection, so codes and rotating refresh tokens are in play."""
    section, _env = server.connection_settings(company)
    section = {**section, "grant": "authorization_code"}
    env = {
        section["client_id_env"]: server.app.client_id,
        section["client_secret_env"]: server.app.client_secret,
    }
    server.connection_settings = lambda key: (section, env)


def _connect_xero(stack: Stack, company: str) -> None:
    """``wisesync xero connect``: consent (the sandbox agrees at once), code, token stored."""
    from wisesync_xero.connect_cli import connect_company

    connect_company(
        PluginRuntime(config=stack.config, db=stack.db),
        stack.config.company(company),
        PostgresTokenStore(stack.db),
        port=0,
        # the browser (urllib, which logs nothing: the test's stand-in must not leak the code)
        open_url=lambda url: urlopen(url, timeout=10).read(),
        echo=print,
        timeout=30,
    )


def _arm_faults(stack: Stack) -> None:
    """429 with Retry-After and a 5xx on every API the run calls."""
    for company, ledger in LEDGERS.items():
        for plugin in ("connectwise", ledger):
            faults = stack.sandbox(plugin, company).app.faults
            faults.arm(Fault("rate_limit", count=1, retry_after=1.0))
            faults.arm(Fault("status", count=1, status=503))


def _hold(stack: Stack, company: str, status: str, number: str | None = None) -> str:
    """Move the standard case invoice (or ``number``) to billing ``status``; its number."""
    app = stack.sandbox("connectwise", company).app
    number = number or app.case("standard")
    app.set_invoice_status(number, status)
    return number


def _poison(stack: Stack) -> None:
    producer = stack.transport.producer()
    try:
        producer.send(stack.config.topics.records, b"acme", b"\x00not an event\xff" * 4)
        producer.flush()
    finally:
        producer.close()


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WISESYNC), "-vv", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc))


def _count(stack: Stack, query: str) -> int:
    with stack.db.connection() as conn:
        return conn.execute(query).fetchone()[0]


def _notified(hook: WebhookReceiver, kind: str) -> bool:
    return any(e["kind"] == kind for payload in hook.received for e in payload["events"])


class Run:
    """What the run left outside the store and the topics: CLI outputs, exceptions raised."""

    def __init__(self) -> None:
        self.outputs: dict[str, subprocess.CompletedProcess[str]] = {}
        self.raised: list[BaseException] = []
        self.pages: dict[str, str] = {}


def _run_with_faults(stack: Stack, deployment: Deployment, run: Run, env: dict[str, str]) -> None:
    """Sync both companies through faults, expired tokens, a poison message and a revoked
    connection, with the service's roles (and the notifier) running in this process."""
    for company, ledger in LEDGERS.items():
        if ledger == "xero":
            _connect_xero(stack, company)
    _arm_faults(stack)
    held = {c: _hold(stack, c, HOLD) for c in LEDGERS}
    options = {**FAST, "notifier": {"interval_s": 0.3, "webhook_backoff_s": 0.01}}
    roles = ("poster", "reporter", "acknowledger", "notifier")
    with stack.service(roles, **options) as service:
        for sync in [stack.sync(c) for c in LEDGERS]:
            stack.wait(sync, 90)
        _poison(stack)
        for company, ledger in LEDGERS.items():  # the next call is 401: a new token
            stack.sandbox(ledger, company).app.expire_tokens()
        for sync in [stack.sync(c) for c in LEDGERS]:
            stack.wait(sync, 90)
        for company, ledger in LEDGERS.items():  # the user disconnects the app
            app = stack.sandbox(ledger, company).app
            app.revoke()
            app.expire_tokens()
            _hold(stack, company, "Closed", held[company])  # released: now it must post
        args = ("sync-all", "--company", "globex", "--types", "invoice")
        run.outputs["sync-all"] = _cli(env, deployment.tmp_path, *args)
        stack.wait(stack.sync("acme", [RecordType.INVOICE]), 90)
        try:  # its payments are read from the ledger: the extraction itself fails
            stack.sync("acme")
        except WisesyncError as exc:
            run.raised.append(exc)
        _wait(lambda: _count(stack, "SELECT count(*) FROM dead_letters"), 30, "no dead letter")
        _wait(lambda: _notified(deployment.hook, "connection"), 30, "revocation not notified")
        assert service.alive(), service.errors
    run.raised += service.errors
    for command in (
        ("results", "--csv"),
        ("requests", "--json", "--limit", "100000"),
        ("notify", "test"),
    ):
        run.outputs[" ".join(command)] = _cli(env, deployment.tmp_path, *command)
    pasted = _pasted_config(stack, deployment)
    for command in (("config", "check"), ("sync-all", "--company", "acme", "--no-wait")):
        name = "--config pasted.toml " + " ".join(command)
        run.outputs[name] = _cli(env, deployment.tmp_path, "--config", str(pasted), *command)


def _pasted_config(stack: Stack, deployment: Deployment) -> Path:
    """The stack's configuration with a ConnectWise key pasted into ``private_key_env``."""
    import copy

    import tomli_w

    raw = copy.deepcopy(stack.raw_config)
    raw["companies"][0]["connectwise"]["private_key_env"] = deployment.pasted.value
    path = deployment.tmp_path / "pasted.toml"
    path.write_bytes(tomli_w.dumps(raw).encode())
    return path


def _browse_console(stack: Stack, deployment: Deployment, run: Run) -> None:
    """A console user signs in (once with a wrong password) and opens every page."""
    from starlette.testclient import TestClient

    from wisesync.console.app import create_app
    from wisesync.console.jobs import Backend
    from wisesync.console.users import UserStore
    from wisesync.testing.console import sign_in

    password = deployment.console_password.value
    UserStore(stack.db).add("root", password, "super_admin")
    backend = Backend(stack.config, stack.db, stack.registry, stack.transport)
    with TestClient(create_app(backend), base_url="http://testserver") as client:
        assert sign_in(client, "root", password[::-1]).status_code != 303
        assert sign_in(client, "root", password).status_code == 303
        for path in ("/", "/runs", "/sync", "/options", "/audit"):
            run.pages[path] = client.get(path).text
        with stack.db.connection() as conn:
            run_ids = [r[0] for r in conn.execute("SELECT run_id FROM sync_runs")]
        for run_id in run_ids:
            for path in (f"/runs/{run_id}", f"/runs/{run_id}/review.csv"):
                run.pages[path] = client.get(path).text
        run.pages["cookies"] = repr(dict(client.cookies))


def _plant_controls(stack: Stack, control: Canary) -> str:
    """Put ``control`` once in each kind of place on purpose: a log record, stdout (inside
    base64), a message of a scratch topic (returned) and a bytea row of a scratch table."""
    logging.getLogger("wisesync.canary.control").warning("control %s", control.value)
    print("Basic " + base64.b64encode(b"u+" + control.value.encode()).decode())
    scratch = f"{stack.namespace}.canary.control"
    stack.transport.admin().create_topics([scratch], partitions=1)  # shared: not closed
    producer = stack.transport.producer()
    try:
        producer.send(scratch, b"k", control.value.encode())
        producer.flush()
    finally:
        producer.close()
    with stack.db.connection() as conn:
        conn.execute("CREATE TABLE canary_control (v bytea)")
        conn.execute("INSERT INTO canary_control VALUES (%s)", (control.value.encode(),))
    return scratch


def _statuses(stack: Stack) -> dict[str, set[int]]:
    with stack.db.connection() as conn:
        rows = conn.execute("SELECT plugin, status FROM api_requests WHERE status IS NOT NULL")
        found: dict[str, set[int]] = {}
        for plugin, status in rows:
            found.setdefault(plugin, set()).add(status)
    return found


def _issued(stack: Stack, deployment: Deployment) -> set[tuple[str, str]]:
    """(company, kind) of every planted prefix a ledger sandbox really issued a secret with."""
    found = set()
    for (company, kind), canary in deployment.ledger_prefixes.items():
        if kind not in KEPT_KINDS:
            continue
        identity = stack.sandbox(LEDGERS[company], company).app.identity
        issued = {
            "client_secret": [c.client_secret for c in identity.clients.values()],
            "access_token": list(identity.access),
            "refresh_token": list(identity.refresh),
        }[kind]
        if any(value.startswith(canary.value) for value in issued):
            found.add((company, kind))
    return found


def test_no_canary_leaks_anywhere(
    tmp_path: Path,
    canary_dsn: tuple[str, Canary],
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dsn, pg_password = canary_dsn
    deployment = Deployment(tmp_path, dsn, pg_password, kafka_bootstrap)
    control = Canary.new("control", 99)
    for name, value in deployment.environ().items():
        monkeypatch.setenv(name, value)
    run = Run()
    with LogCapture() as logs, deployment.smtp, deployment.hook, deployment.stack() as stack:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("WISESYNC_")},
            **stack.write_config(tmp_path / "wisesync.toml"),
            "WISESYNC_CONSOLE_SECRET": deployment.console_secret.value,
            "WISESYNC_TRACE_PLUGINS": "1",
        }
        _run_with_faults(stack, deployment, run, env)
        _browse_console(stack, deployment, run)
        reviews = [load_review(stack.db, ReviewFilter(company=c)) for c in LEDGERS]
        statuses = _statuses(stack)
        issued = _issued(stack, deployment)
        scratch = _plant_controls(stack, control)

        search = CanarySearch([*deployment.canaries, control])
        topics = [*stack.config.topics.all, scratch]
        read = scan_topics(search, stack.transport, topics, Codec())
        rows = scan_tables(search, dsn)
        search.scan_all("exceptions raised", map(_exception_text, run.raised))
        for review in reviews:
            texts = (f"{m.code} {m.text}" for r in review.rows for m in r.messages)
            search.scan_all("result texts", texts)
    out, err = capfd.readouterr()
    search.scan("stdout", out)
    search.scan("stderr", err)
    for name, done in run.outputs.items():
        search.scan(f"`wisesync -vv {name}` stdout", done.stdout)
        search.scan(f"`wisesync -vv {name}` stderr", done.stderr)
    search.scan_all("log records", logs.texts)
    search.scan_all("console pages", run.pages.values())
    search.scan_all("e-mails sent", (m.as_string() for m in deployment.smtp.messages))
    search.scan_all("webhooks sent", (str(p) for p in deployment.hook.received))

    # the canaries were in play and the run went through what it should
    assert issued == {(c, k) for c, k in deployment.ledger_prefixes if k in KEPT_KINDS}
    for plugin in ("connectwise", *LEDGERS.values()):
        assert {429, 503} <= statuses[plugin], (plugin, statuses[plugin])
    assert 401 in statuses["xero"] and 401 in statuses["qbo"]  # expired, then revoked
    assert read[stack.config.topics.dlq] >= 1 and read[stack.config.topics.records] > 20
    assert rows["public.api_requests"] > 20 and rows["public.console_users"] == 1
    codes = {m.code for review in reviews for r in review.rows for m in r.messages}
    assert {"AUTH_TOKEN_INVALID", "SOURCE_FIELD_INVALID", "GL_MAPPING_MISSING"} <= codes
    assert [type(e).__name__ for e in run.raised] == ["AuthError"]
    assert run.outputs["sync-all"].returncode == 1, run.outputs["sync-all"].stderr[-2000:]
    assert all(
        run.outputs[c].returncode == 0 for c in ("requests --json --limit 100000", "notify test")
    )
    assert deployment.smtp.messages and deployment.hook.received
    # debug logging was on: DEBUG records, the plugin hook trace
    assert any(" DEBUG " in t for t in logs.texts)
    assert any("register_targets [hook]" in t for t in logs.texts)
    assert " DEBUG " in run.outputs["sync-all"].stderr

    controls = {(h.place, h.form) for h in search.hits if h.canary == "control"}
    assert controls == {
        ("log records", "plain"),
        ("stdout", "base64@2"),
        (f"topic {scratch} (raw)", "plain"),
        ("table public.canary_control", "hex"),
    }, "a collector missed the control canary:\n" + search.report()
    leaks = [h for h in search.hits if h.canary != "control"]
    with capfd.disabled():
        print(f"\ncanary: {len(deployment.canaries)} planted + 1 control; {search.summary()}")
    assert not leaks, "\n" + search.report()
