"""The console's security properties on a real Postgres, through Starlette's test client.

Each test would fail without its protection: argon2 hashing, role and company checks (403 +
audit), CSRF on every POST, sign-in throttling, session expiry and cookie flags, escaping of
what ConnectWise sends, security headers, and `wisesync console` refusing to start without
users.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from wisesync.console import security
from wisesync.console.app import create_app
from wisesync.console.server import NoUsers, require_users
from wisesync.console.users import THROTTLE_FAILURES, UserStore
from wisesync.store.options import OptionsStore
from wisesync.testing.console import csrf_of, feed, offline_backend, seeded_run, sign_in

PASSWORD = "correct horse battery"
MARKUP = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def backend(pg_database: str) -> Iterator[Any]:
    b = offline_backend(pg_database, ["acme", "globex"])
    users = UserStore(b.db)
    users.add("root", PASSWORD, "super_admin")
    users.add("ann", PASSWORD, "account_admin", ("acme",))
    users.add("bob", PASSWORD, "user", ("acme",))
    yield b
    b.transport.close()
    b.db.close()


@pytest.fixture
def client(backend: Any) -> Iterator[TestClient]:
    with TestClient(create_app(backend), base_url="http://testserver") as c:
        yield c


def _as(client: TestClient, who: str) -> TestClient:
    response = sign_in(client, who, PASSWORD)
    assert response.status_code == 303, response.text
    return client


def _options_form(token: str, cap: str) -> dict[str, str]:
    """The Options form of acme switching Sync All on, with adjustment cap ``cap``."""
    return {
        "csrf_token": token,
        "company": "acme",
        "sync_all": "on",
        "record_types": "invoice",
        "options.adjustment_cap": cap,
    }


def _sql(backend: Any, statement: str) -> None:
    """Run one statement on the console's store (what another component would have written)."""
    with backend.db.connection() as conn:
        conn.execute(statement)


def _audited(backend: Any, action: str) -> list[tuple]:
    with backend.db.connection() as conn:
        return conn.execute(
            "SELECT username, company, detail FROM console_audit WHERE action=%s", (action,)
        ).fetchall()


@pytest.mark.postgres
def test_passwords_are_stored_as_argon2id_hashes(backend: Any) -> None:
    with backend.db.connection() as conn:
        rows = conn.execute("SELECT username, password_hash FROM console_users").fetchall()
    for _, stored in rows:
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored
    assert len({h for _, h in rows}) == len(rows)  # salted: same password, different hashes
    users = UserStore(backend.db)
    assert users.authenticate("bob", PASSWORD, "1.2.3.4").username == "bob"
    assert users.authenticate("bob", PASSWORD + "x", "1.2.3.4") is None


@pytest.mark.postgres
def test_a_user_is_refused_on_options_and_the_attempt_is_audited(
    client: TestClient, backend: Any
) -> None:
    _as(client, "bob")
    page = client.get("/sync")
    assert page.status_code == 200
    assert 'id="nav-options"' not in page.text
    assert client.get("/options").status_code == 403
    token = csrf_of(page.text)
    forged = client.post("/options", data=_options_form(token, "10.00"))
    assert forged.status_code == 403
    assert OptionsStore(backend.db).get("acme", "sync_all") is None
    refused = _audited(backend, "forbidden")
    assert [r[0] for r in refused] == ["bob", "bob"]
    assert "POST /options" in refused[1][2]
    assert client.get("/audit").status_code == 403


@pytest.mark.postgres
def test_an_account_admin_manages_only_the_companies_of_the_account(
    client: TestClient, backend: Any
) -> None:
    _as(client, "ann")
    assert client.get("/options?company=acme").status_code == 200
    assert client.get("/options?company=globex").status_code == 403
    assert client.get("/sync?company=globex").status_code == 403
    token = csrf_of(client.get("/options?company=acme").text)
    saved = client.post(
        "/options",
        data={
            "csrf_token": token,
            "company": "acme",
            "sync_all": "on",
            "record_types": ["invoice", "expense"],
            "hold_billing_statuses": "Finance Hold",
            "options.adjustment_cap": "5.00",
            "options.invoice_status": "AUTHORISED",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    store = OptionsStore(backend.db)
    assert store.get("acme", "sync_all") == "on"
    assert store.get("acme", "options.adjustment_cap") == "5.00"
    assert {r["changed_by"] for r in store.audit("acme")} == {"console:ann"}
    forged = client.post(
        "/options", data={"csrf_token": token, "company": "globex", "sync_all": "on"}
    )
    assert forged.status_code == 403
    assert store.get("globex", "sync_all") is None
    assert ("ann", "globex") in [(r[0], r[1]) for r in _audited(backend, "forbidden")]
    bad = client.post("/options", data=_options_form(token, "ten"))
    assert bad.status_code == 400 and "is not an amount like 10.00" in bad.text
    assert store.get("acme", "record_types") == "invoice,expense"  # nothing saved
    audit = client.get("/audit").text
    assert "option sync_all" in audit and "console:ann" in audit


@pytest.mark.postgres
def test_every_post_without_the_csrf_token_is_refused(client: TestClient, backend: Any) -> None:
    _as(client, "root")
    OptionsStore(backend.db).set("acme", "sync_all", "on", changed_by="test")
    for path, data in (
        ("/options", {"company": "acme", "sync_all": "off"}),
        ("/sync", {"company": "acme", "types": "invoice"}),
        ("/signout", {}),
        ("/options", {"company": "acme", "sync_all": "off", "csrf_token": "forged"}),
    ):
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, path
    assert OptionsStore(backend.db).get("acme", "sync_all") == "on"
    assert len(_audited(backend, "csrf_refused")) == 4
    assert client.get("/sync").status_code == 200  # still signed in: signout was refused too


@pytest.mark.postgres
def test_sign_in_is_throttled_after_repeated_failures(client: TestClient, backend: Any) -> None:
    for _ in range(THROTTLE_FAILURES):
        assert sign_in(client, "bob", "wrong password!").status_code == 401
    refused = sign_in(client, "bob", PASSWORD)
    assert refused.status_code == 429
    assert "too many failed sign-ins" in refused.text
    assert client.get("/sync", follow_redirects=False).status_code == 303  # not signed in
    assert _audited(backend, "signin_throttled")
    # another user is not locked out by bob's failures
    assert sign_in(client, "ann", PASSWORD).status_code == 303


@pytest.mark.postgres
def test_disabled_users_and_expired_sessions_are_signed_out(
    client: TestClient, backend: Any
) -> None:
    _as(client, "bob")
    assert client.get("/sync").status_code == 200
    UserStore(backend.db).set_disabled("bob")
    assert client.get("/sync", follow_redirects=False).headers["location"].startswith("/signin")
    session: dict = {}
    security.start_session(session, 7, now=1000.0)
    assert security.session_user_id(session, now=1000.0 + security.IDLE_S - 1) == 7
    assert security.session_user_id(session, now=1000.0 + 2 * security.IDLE_S) is None
    assert session == {}
    security.start_session(session, 7, now=0.0)
    for t in range(0, security.ABSOLUTE_S, security.IDLE_S - 60):
        assert security.session_user_id(session, now=float(t)) == 7
    last = security.session_user_id(session, now=security.ABSOLUTE_S + 1.0)
    assert last is None  # active all day, still expired after ABSOLUTE_S


@pytest.mark.postgres
def test_session_cookie_flags_and_security_headers(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [  # (Secure expected, secure_cookies=, $WISESYNC_CONSOLE_SECURE_COOKIES, scheme)
        (False, False, "", "https"),
        (True, True, "", "http"),
        (True, None, "1", "http"),
        (False, None, "0", "https"),
        (True, None, "", "https"),  # default: Secure whenever the request came over TLS
        (False, None, "", "http"),
    ]
    for secure, given, env, scheme in cases:
        monkeypatch.setenv("WISESYNC_CONSOLE_SECURE_COOKIES", env)
        with TestClient(
            create_app(backend, secure_cookies=given), base_url=f"{scheme}://testserver"
        ) as c:
            cookie = c.get("/signin").headers["set-cookie"].lower()  # the session starts
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert ("secure" in cookie) is secure, (given, env, scheme)
            if secure and scheme == "http":
                continue  # the client rightly keeps a Secure cookie off plain HTTP
            assert sign_in(c, "bob", PASSWORD).status_code == 303
            page = c.get("/sync")
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert page.headers["x-frame-options"] == "DENY"
            assert "<script>" not in page.text.replace('<script src="/static/', "")


@pytest.mark.postgres
def test_markup_from_connectwise_is_rendered_as_text(client: TestClient, backend: Any) -> None:
    items = seeded_run("acme", 10, run_id="run-markup", description=MARKUP)
    feed(backend.db, items)
    _as(client, "bob")
    page = client.get("/runs/run-markup?status=failed")
    assert page.status_code == 200
    assert MARKUP not in page.text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text
    csv = client.get("/runs/run-markup/review.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "GL_MAPPING_MISSING" in csv.text


@pytest.mark.postgres
def test_other_companies_runs_are_refused(client: TestClient, backend: Any) -> None:
    feed(backend.db, seeded_run("globex", 3, run_id="run-globex"))
    _as(client, "bob")
    assert client.get("/runs/run-globex").status_code == 403
    assert client.get("/runs/run-globex/review.csv").status_code == 403
    assert client.get("/runs/run-globex/replay?scope=failed").status_code == 403


@pytest.mark.postgres
def test_sign_in_redirects_only_to_local_paths(client: TestClient) -> None:
    token = csrf_of(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={
            "username": "bob",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/sync"


@pytest.mark.postgres
def test_console_refuses_to_start_without_users(pg_database: str) -> None:
    b = offline_backend(pg_database, ["acme"])
    try:
        with pytest.raises(NoUsers, match="wisesync users add NAME --role super_admin"):
            require_users(b.db)
        UserStore(b.db).add("root", PASSWORD, "super_admin")
        require_users(b.db)
        UserStore(b.db).set_disabled("root")
        with pytest.raises(NoUsers):
            require_users(b.db)
    finally:
        b.transport.close()
        b.db.close()


@pytest.mark.postgres
def test_the_review_pages_through_a_run_and_shows_new_results_at_once(
    client: TestClient, backend: Any
) -> None:
    items = seeded_run("acme", 250, run_id="run-paged")
    feed(backend.db, [items[-1], *items[:200]])  # the manifest, then 200 of 250 results
    _as(client, "bob")
    first = client.get("/runs/run-paged")
    assert "200 record(s) match · page 1 of 2" in first.text
    assert "INV-1000" in first.text and "INV-1100" not in first.text
    second = client.get("/runs/run-paged?page=2")
    assert "INV-1100" in second.text and "INV-1000<" not in second.text
    failed = client.get("/runs/run-paged?status=failed")
    assert "60 record(s) match" in failed.text  # 3 failing cases in every 10
    feed(backend.db, items[200:-1])  # more results arrive: the cached review is stale
    assert "250 record(s) match · page 1 of 3" in client.get("/runs/run-paged").text


@pytest.mark.postgres
def test_a_sync_all_refused_because_one_is_running_ends_with_the_reason(
    client: TestClient, backend: Any
) -> None:
    import time

    from wisesync.pipeline.extractor import Extractor

    OptionsStore(backend.db).set("acme", "sync_all", "on", changed_by="test")
    _as(client, "bob")
    other = Extractor(
        config=backend.config,
        registry=backend.registry,
        db=backend.db,
        transport=backend.transport,
    )
    try:
        with other._overlap_lock("acme"):  # a scheduled sync of acme is running
            token = csrf_of(client.get("/sync").text)
            started = client.post(
                "/sync",
                data={"csrf_token": token, "company": "acme", "types": "invoice"},
                follow_redirects=False,
            )
            job_url = started.headers["location"]
            deadline = time.monotonic() + 30
            while not (progress := client.get(job_url + "/progress.json").json())["finished"]:
                assert time.monotonic() < deadline, progress
                time.sleep(0.1)
    finally:
        other.close()
    assert "already running" in progress["error"]
    assert progress["run_ids"] == [] and "review_url" not in progress
    page = client.get(job_url)
    assert "already running" in page.text and 'http-equiv="refresh"' not in page.text
    assert [r[1] for r in _audited(backend, "sync_all")] == ["acme"]


@pytest.mark.postgres
def test_a_super_admin_manages_people_on_the_users_page_audited(
    client: TestClient, backend: Any
) -> None:
    _as(client, "ann")  # an account admin may not
    assert client.get("/users").status_code == 403
    token = csrf_of(client.get("/sync").text)
    forged = client.post("/users/bob/role", data={"csrf_token": token, "role": "super_admin"})
    assert forged.status_code == 403
    assert UserStore(backend.db).by_name("bob").role.value == "user"
    assert "POST /users/bob/role" in _audited(backend, "forbidden")[-1][2]

    _as(client, "root")
    page = client.get("/users")
    assert page.status_code == 200 and 'id="user-bob"' in page.text
    assert "$argon2" not in page.text
    token = csrf_of(page.text)

    def add(name: str, company: str) -> Any:
        form = {"username": name, "password": "a long password", "role": "user"}
        return client.post("/users", data={"csrf_token": token, **form, "companies": [company]})

    added = add("cid", "globex")
    assert added.status_code == 200 and "added cid (user of globex)" in added.text
    unknown = add("dan", "nowhere")
    assert add("dan/../x", "acme").status_code == 400  # names go into page addresses
    assert unknown.status_code == 400 and "unknown company nowhere" in unknown.text
    moved = client.post(
        "/users/bob/role",
        data={"csrf_token": token, "role": "account_admin", "companies": ["acme", "globex"]},
    )
    assert "bob is now account admin of acme, globex" in moved.text
    assert (
        client.post("/users/cid/disable", data={"csrf_token": token, "disabled": "on"}).status_code
        == 200
    )
    assert UserStore(backend.db).by_name("cid").disabled
    last = client.post("/users/root/disable", data={"csrf_token": token, "disabled": "on"})
    assert last.status_code == 400 and "last enabled super admin" in last.text
    assert not UserStore(backend.db).by_name("root").disabled
    details = [(who, d) for who, _, d in _audited(backend, "user_added")]
    assert details == [("console:root", "cid: - -> user of globex")]
    assert _audited(backend, "user_role")[0][2] == (
        "bob: user of acme -> account admin of acme, globex"
    )
    assert (
        _audited(backend, "user_disabled")[0][2]
        == "cid: user of globex -> user of globex, disabled"
    )
    audit = client.get("/audit").text
    assert "user_role: bob: user of acme -&gt; account admin of acme, globex" in audit


def _wait_finished(client: TestClient, job_url: str) -> dict:
    import time

    deadline = time.monotonic() + 60
    while not (progress := client.get(job_url + "/progress.json").json())["finished"]:
        assert time.monotonic() < deadline, progress
        time.sleep(0.1)
    return progress


@pytest.mark.postgres
def test_a_console_job_is_read_from_the_store_by_any_console_process(
    client: TestClient, backend: Any
) -> None:
    """A Sync All's state is in Postgres: another console process (or this one after a
    restart) shows it; a job whose process stopped is shown as stopped, or finished from the
    run's stored results."""
    from wisesync.pipeline.extractor import Extractor

    OptionsStore(backend.db).set("acme", "sync_all", "on", changed_by="test")
    _as(client, "bob")
    token = csrf_of(client.get("/sync").text)
    scheduled = Extractor(
        config=backend.config, registry=backend.registry, db=backend.db, transport=backend.transport
    )
    try:
        with scheduled._overlap_lock("acme"):  # the job ends at once, with the reason
            started = client.post(
                "/sync",
                data={"csrf_token": token, "company": "acme", "types": "invoice"},
                follow_redirects=False,
            )
            job_url = started.headers["location"]
            with TestClient(create_app(backend), base_url="http://testserver") as other:
                _as(other, "bob")
                seen_there = _wait_finished(other, job_url)  # never started in that app
    finally:
        scheduled.close()
    assert seen_there == _wait_finished(client, job_url)
    assert seen_there["kind"] == "sync_all" and "already running" in seen_there["error"]
    with TestClient(create_app(backend), base_url="http://testserver") as other:
        _as(other, "bob")

        items = seeded_run("acme", 10, run_id="run-of-a-dead-console")
        feed(backend.db, items)
        _sql(  # two jobs whose console process died
            backend,
            """INSERT INTO console_jobs (id, kind, company, username, run_ids, extracted,
                          extracting, heartbeat_at) VALUES
                   ('dead-extracting', 'sync_all', 'acme', 'bob', '{run-gone}', 4, true,
                    now() - interval '1 hour'),
                   ('dead-waiting', 'sync_all', 'acme', 'bob', '{run-of-a-dead-console}', 9,
                    false, now() - interval '1 hour'),
                   ('live', 'replay', 'acme', 'bob', '{}', 3, true, now())""",
        )
        stopped = other.get("/jobs/dead-extracting/progress.json").json()
        assert stopped["finished"] and "stopped during extraction" in stopped["error"]
        done = other.get("/jobs/dead-waiting", follow_redirects=False)
        assert done.headers["location"] == "/runs/run-of-a-dead-console"
        runs = other.get("/runs?company=acme").text
        # running now: the live job only
        assert 'href="/jobs/live"' in runs and 'href="/jobs/dead-' not in runs
        assert '<script src="/static/live.js"' in runs


@pytest.mark.postgres
def test_the_review_says_how_many_acknowledgements_are_to_go(
    client: TestClient, backend: Any
) -> None:
    _as(client, "bob")
    feed(backend.db, seeded_run("acme", 20, run_id="run-acks"))
    assert "to go" not in client.get("/runs/run-acks").text
    _sql(  # the acknowledger has not marked them yet
        backend,
        """INSERT INTO acknowledgements (result_id, company, source, record_type,
                      source_id, result, state)
               SELECT result_id, company, source, record_type, source_id, '\\x00', 'pending'
                 FROM attempts WHERE run_id = 'run-acks' AND status = 'posted'""",
    )
    page = client.get("/runs/run-acks").text
    assert "acknowledging in ConnectWise: 12 to go" in page


@pytest.mark.postgres
def test_the_runs_page_shows_the_service_and_each_ledger_connections_state(
    client: TestClient, backend: Any
) -> None:
    feed(backend.db, seeded_run("acme", 10, run_id="run-listed"))
    _sql(
        backend,
        """INSERT INTO oauth_tokens (company, provider, token, expires_at, status,
                      status_reason) VALUES
               ('acme', 'xero', '\\x00', now() + interval '1 hour', 'active', NULL),
               ('acme', 'xero:payroll', '\\x00', now() + interval '1 minute', 'active', NULL),
               ('acme', 'qbo', '\\x00', now(), 'invalid', 'the refresh token was revoked')""",
    )
    _as(client, "bob")
    page = client.get("/runs?company=acme").text
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"state-\w+\">([^<]+)</td>", page)
    assert rows == [("qbo", "revoked"), ("xero", "connected"), ("xero:payroll", "expiring")]
    assert (
        "the refresh token was revoked; reconnect: wisesync qbo connect --company acme, "
        "then replay the failed records"
    ) in page
    assert "\\x00" not in page and "token" not in page.split('id="connections"')[1][:40]
    for role in ("poster", "reporter"):  # consumer groups: nobody consumes in this test
        assert f'<td>{role}</td><td class="error">not running' in page
    assert '<td>acknowledger</td><td class="ok">keeping up' in page
    _sql(  # an acknowledgement due for an hour: nobody works
        backend,
        """INSERT INTO acknowledgements (result_id, company, source, record_type,
                      source_id, result, state, next_attempt_at)
               VALUES ('r-overdue', 'acme', 'connectwise', 'invoice', '1', '\\x00',
                       'pending', now() - interval '1 hour')""",
    )
    page = client.get("/runs?company=acme").text
    assert "not running? 1 acknowledgement(s) due for over 2 minutes" in page
    assert 'href="/runs/run-listed"' in page and "<td>test</td>" in page  # who started it


@pytest.mark.postgres
def test_the_review_filters_by_status_code_and_type(client: TestClient, backend: Any) -> None:
    feed(backend.db, seeded_run("acme", 30, run_id="run-filtered"))
    _as(client, "bob")

    def shown(query: str) -> str:
        return re.search(
            r'id="shown">(\d+) record', client.get(f"/runs/run-filtered?{query}").text
        )[1]

    assert shown("") == "30"
    assert shown("status=held") == "3"
    assert shown("code=ROUNDING_APPLIED") == "3"
    assert shown("type=invoice&status=failed") == "9"
    assert shown("type=expense") == "0"
    csv = client.get("/runs/run-filtered/review.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "GL_MAPPING_MISSING" in csv.text


@pytest.mark.postgres
def test_each_replay_button_asks_first_saying_what_will_happen(
    client: TestClient, backend: Any
) -> None:
    feed(backend.db, seeded_run("acme", 20, run_id="run-replays"))
    _as(client, "bob")
    review = client.get("/runs/run-replays").text
    assert 'href="/runs/run-replays/replay?scope=failed"' in review
    assert "/runs/run-replays/replay?scope=code&amp;code=GL_MAPPING_MISSING" in review
    assert "/runs/run-replays/replay?scope=one&amp;record=invoice:1005" in review

    def asks(query: str) -> tuple[str, str]:
        page = client.get(f"/runs/run-replays/replay?{query}").text
        title = re.search(r"<h1>(.*?)</h1>", page)[1]
        button = re.search(r'id="confirm-replay"[^>]*>([^<]+)<', page)[1]
        assert "will be read again from ConnectWise" in page and "not posted twice" in page
        return title, button

    assert asks("scope=one&record=invoice:1005") == ("Replay this record?", "Replay 1 record(s)")
    assert asks("scope=code&code=GL_MAPPING_MISSING") == (
        "Replay every record of this run that failed with GL_MAPPING_MISSING?",
        "Replay 2 record(s)",
    )
    title, button = asks("scope=failed")
    assert title == "Replay every record of this run that failed or was held?"
    assert button == "Replay 8 record(s)"  # 6 failed and 2 held of the 20
    assert _audited(backend, "replay") == []  # asking started nothing
