"""The console in a real browser (Debian's chromium + chromedriver, driven by selenium) against
the demo's stack: sandboxes, real Postgres, the pipeline roles running.

One stack, one console server and one browser for the module; the tests run in file order
and build on each other like a finance team's morning: sign in, switch Sync All on, Sync All,
review, fix at the ledger, replay. Each saves a screenshot under docs/screenshots/ (the
README's Sync page and review images are ``sync.png`` and ``review.png``).

Without chromium/chromedriver the tests are skipped locally and FAIL under CI=true
(``scripts/test`` installs them with apt-get when run as root).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wisesync.console.jobs import Backend
from wisesync.console.server import ConsoleServer
from wisesync.console.users import UserStore
from wisesync.testing.services import in_ci, temporary_database

pytestmark = pytest.mark.postgres

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "browser-test-password"
FIRST, SECOND = "northwind", "contoso"
MISSING_ACCOUNT = ("4999", "Consulting Revenue", "REVENUE")
MARKUP = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
WAIT_S = 120
#: when this module's tests started: the README's images must be newer
STARTED = time.time()


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        why = (
            "chromium and chromedriver are needed for the browser tests: "
            "apt-get install -y chromium chromium-driver (scripts/test does it as root)"
        )
        if in_ci():
            pytest.fail(why)
        pytest.skip(why)
    return chromium, driver


@pytest.fixture(scope="module")
def stack(postgres_dsn: str) -> Iterator[Any]:
    from wisesync.testing.stack import CompanySpec, Stack

    with temporary_database(postgres_dsn, "console_browser") as dsn:
        specs = [
            CompanySpec(
                FIRST,
                name="Northwind IT",
                hold_billing_statuses=["Finance Hold"],
                options={"require_item_code": True},
                sync_all=False,
            ),
            CompanySpec(
                SECOND,
                name="Contoso Ltd",
                seed=7,
                sync_all=False,
                sandbox_options={
                    "connectwise": {
                        "invoices": 3,
                        "expenses": 0,
                        "procurement": 0,
                        "customers": 2,
                        "cases": False,
                    }
                },
            ),
        ]
        with Stack(specs, dsn=dsn, partitions=2) as s, s.service():
            users = UserStore(s.db)
            users.add("root", PASSWORD, "super_admin")
            users.add("ann", PASSWORD, "account_admin", (FIRST, SECOND))
            users.add("bob", PASSWORD, "user", (FIRST, SECOND))
            yield s


@pytest.fixture(scope="module")
def console(stack: Any) -> Iterator[ConsoleServer]:
    from wisesync.console.app import create_app

    backend = Backend(
        config=stack.config, db=stack.db, registry=stack.registry, transport=stack.transport
    )
    with ConsoleServer(create_app(backend)) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


class Page:
    """The browser pointed at the console, with the few steps the tests repeat."""

    def __init__(self, driver: Any, base: str):
        self.d, self.base = driver, base

    def open(self, path: str) -> Page:
        self.d.get(self.base + path)
        return self

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.d.find_elements(By.CSS_SELECTOR, css)

    def wait(self, condition: Any, timeout: float = WAIT_S) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(condition)

    def sign_in(self, who: str) -> Page:
        self.d.delete_all_cookies()
        self.open("/signin")
        self.find("#username").send_keys(who)
        self.find("#password").send_keys(PASSWORD)
        self.find("#signin").click()
        self.wait(lambda d: "/sync" in d.current_url)
        return self

    def wait_for(self, css: str) -> Any:
        """The element ``css`` once the page that has it is loaded."""
        self.wait(lambda d: self.all(css))
        return self.find(css)

    def shot(self, name: str) -> None:
        self.d.save_screenshot(str(SHOTS / f"{name}.png"))


@pytest.fixture
def page(browser: Any, console: ConsoleServer) -> Page:
    return Page(browser, console.url)


def test_each_role_signs_in_and_sees_its_menu(page: Page) -> None:
    page.open("/sync")
    assert "/signin" in page.d.current_url  # signed out: the sign-in page
    page.shot("signin")
    for who, role, admin in (
        ("root", "super admin", True),
        ("ann", "account admin", True),
        ("bob", "user", False),
    ):
        page.sign_in(who)
        assert page.find("#who").text == f"{who} ({role})"
        assert bool(page.all("#nav-options")) is admin


def test_first_company_preselected_and_sync_all_absent_until_an_admin_switches_it_on(
    page: Page,
) -> None:
    from selenium.webdriver.support.ui import Select

    page.sign_in("bob")
    selected = Select(page.find("#company")).first_selected_option
    assert selected.get_attribute("value") == FIRST
    assert page.all("#sync-all") == []
    assert "switched off" in page.find("#sync-all-off").text

    page.sign_in("ann")
    page.open(f"/options?company={FIRST}")
    page.shot("options")
    box = page.find("#opt-sync_all")
    assert not box.is_selected()
    box.click()
    page.find("#save").click()
    page.wait(lambda d: "saved=1" in d.current_url)
    page.open("/audit")
    assert "option sync_all" in page.find("#audit").text and "console:ann" in page.d.page_source

    page.sign_in("bob")
    assert page.find("#sync-all").text == "Sync All"
    ticked = {b.get_attribute("value") for b in page.all("input[name=types]") if b.is_selected()}
    assert ticked == {"invoice", "credit_memo", "expense", "procurement", "payment"}
    page.shot("sync")


def test_sync_all_shows_progress_then_the_review_with_the_seeds_errors_and_warnings(
    page: Page,
) -> None:
    page.sign_in("bob")
    page.find("#sync-all").click()
    page.wait(lambda d: "/jobs/" in d.current_url or "/runs/" in d.current_url)
    assert "/jobs/" in page.d.current_url, "the progress page was skipped"
    page.wait(lambda d: int(page.find("#n-extracted").text or 0) > 0 or "/runs/" in d.current_url)
    if "/jobs/" in page.d.current_url:
        page.shot("progress")
    page.wait(lambda d: "/runs/" in d.current_url)
    errors = page.wait_for("#errors").text  # the address changes before the page loads
    for code in ("GL_MAPPING_MISSING", "LEDGER_ACCOUNT_MISSING", "ADJUSTMENT_OVER_CAP"):
        assert code in errors
    warnings = page.find("#warnings").text
    for code in ("ROUNDING_APPLIED", "ADJUSTMENT_APPLIED", "TERMS_XREF", "NO_BILLING_CONTACT"):
        assert code in warnings
    counts = page.find("#counts").text
    assert "posted" in counts and "failed" in counts and "held" in counts
    page.shot("review")
    page.find("#show-held").click()  # held records, with the reason
    held = page.all("#records tr.row")
    assert held and all("held" in row.text for row in held), [row.text for row in held]
    # the billing-status hold, and the unbalanced export the source would not publish
    assert len([row for row in held if "BILLING_STATUS_HOLD" in row.text]) == 1
    assert [row for row in held if "SOURCE_TOTALS_MISMATCH" in row.text]


def test_replay_from_the_review_posts_what_the_ledger_fix_allows(page: Page, stack: Any) -> None:
    page.sign_in("bob")
    page.open(f"/runs?company={FIRST}")
    page.find("#runs a[href^='/runs/']").click()
    review_url = page.d.current_url
    stack.sandbox("xero", FIRST).app.create_account(*MISSING_ACCOUNT)  # the fix, at the ledger
    page.find(".code-LEDGER_ACCOUNT_MISSING a.button").click()
    what = page.find("#replay-what").text
    assert "will be read again from ConnectWise" in what
    page.shot("replay-confirm")
    page.find("#confirm-replay").click()
    page.wait(
        lambda d: (
            "/runs/" in d.current_url
            and "/replay" not in d.current_url
            and d.current_url != review_url
        )
    )
    page.wait_for("#records")  # the address changes before the new run's review loads
    posted = [r for r in page.all("#records tr.row") if "posted" in r.text]
    assert posted, page.find("#records").text
    assert "replay by console:bob" in page.find("#run-line").text


def test_an_option_saved_on_the_options_page_takes_effect_when_posting(page: Page) -> None:
    page.sign_in("ann")
    page.open(f"/options?company={FIRST}")
    cap = page.find("#opt-options\\.adjustment_cap")
    assert cap.get_attribute("value") == "10.00"
    assert page.find("#opt-xero\\.invoice_status")  # declared by the Xero plugin
    cap.clear()
    cap.send_keys("100.00")
    page.find("#save").click()
    page.wait(lambda d: "saved=1" in d.current_url)
    page.open(f"/runs?company={FIRST}")
    page.all("#runs a[href^='/runs/']")[-1].click()  # the first run: the Sync All
    review_url = page.d.current_url
    page.find(".code-ADJUSTMENT_OVER_CAP a.button").click()
    page.find("#confirm-replay").click()
    page.wait(
        lambda d: (
            "/runs/" in d.current_url
            and "replay" not in d.current_url
            and d.current_url != review_url
        )
    )
    page.wait(lambda d: any("posted" in r.text for r in page.all("#records tr.row")))
    (row,) = page.all("#records tr.row")
    assert "posted" in row.text and "ADJUSTMENT_APPLIED" in row.text, row.text
    assert row.find_elements("css selector", "a[href^='https://go.xero.com/']")
    page.shot("replayed-with-new-cap")


def test_a_user_is_refused_on_the_options_page(page: Page) -> None:
    page.sign_in("bob")
    page.open(f"/options?company={FIRST}")
    assert "for account admins" in page.find("#error-message").text
    page.shot("refused")


def test_a_post_without_the_csrf_token_is_refused(page: Page, stack: Any) -> None:
    from wisesync.store.options import OptionsStore

    page.sign_in("ann")
    page.open(f"/options?company={SECOND}")
    page.d.execute_script(  # a forged form from "another site": no CSRF token
        """const f = document.createElement('form');
           f.method = 'post'; f.action = '/options';
           for (const [k, v] of [['company', arguments[0]], ['sync_all', 'on']]) {
             const i = document.createElement('input'); i.name = k; i.value = v;
             f.appendChild(i);
           }
           document.body.appendChild(f); f.submit();""",
        SECOND,
    )
    page.wait(lambda d: "refused" in d.page_source)
    assert "security token" in page.d.page_source
    assert OptionsStore(stack.db).get(SECOND, "sync_all") is None
    page.shot("csrf-refused")


def test_markup_in_a_description_is_shown_as_text(page: Page, stack: Any) -> None:
    from wisesync.testing.console import feed, seeded_run

    feed(stack.db, seeded_run(SECOND, 10, run_id="run-markup", description=MARKUP))
    page.sign_in("bob")
    page.open("/runs/run-markup?code=GL_MAPPING_MISSING")
    cell = page.find("#records").text
    assert MARKUP in cell  # shown literally
    assert page.d.title != "pwned"
    assert page.all("#records img, #records script") == []
    page.shot("markup-inert")


def test_the_runs_page_is_live_with_the_service_and_connections(page: Page, stack: Any) -> None:
    from wisesync.testing.console import feed, seeded_run

    page.sign_in("bob")
    page.open(f"/runs?company={SECOND}")
    health = page.find("#health").text
    assert "poster running" in health and "reporter running" in health, health
    assert "acknowledger keeping up" in health, health
    assert page.all("#connections tr")  # the ledger connection's state, whatever it is
    assert page.all("#runs a[href='/runs/run-live']") == []
    feed(stack.db, seeded_run(SECOND, 10, run_id="run-live"))  # a run finishes meanwhile
    page.wait(lambda d: page.all("#runs a[href='/runs/run-live']"), timeout=30)  # no reload
    page.shot("runs")


def test_a_super_admin_adds_a_user_and_disables_them(page: Page) -> None:
    from selenium.webdriver.support.ui import Select

    page.sign_in("ann")
    assert page.all("#nav-users") == []  # account admins do not manage people
    page.sign_in("root")
    page.find("#nav-users").click()
    page.find("#new-username").send_keys("cat")
    page.find("#new-password").send_keys(PASSWORD)
    Select(page.find("#new-role")).select_by_value("user")
    page.find(f".new-company[value='{SECOND}']").click()
    page.find("#add").click()
    assert page.wait_for("#done").text.startswith(f"added cat (user of {SECOND})")
    page.shot("users")

    page.sign_in("cat")  # sees only the company of the account
    assert [o.get_attribute("value") for o in Select(page.find("#company")).options] == [SECOND]

    page.sign_in("root")
    page.open("/users")
    page.find("#user-cat button.disable").click()
    assert page.wait_for("#done").text.startswith("cat disabled")
    page.open("/audit")
    audit = page.find("#audit").text
    assert "user_added: cat" in audit and "user_disabled: cat" in audit
    page.d.delete_all_cookies()
    page.open("/signin")
    page.find("#username").send_keys("cat")
    page.find("#password").send_keys(PASSWORD)
    page.find("#signin").click()
    assert "wrong username or password" in page.wait_for("#signin-error").text


def test_the_readmes_console_images_are_the_screenshots_these_tests_took(page: Page) -> None:
    import re

    readme = (SHOTS.parents[1] / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+\.png)\)", readme)
    assert {"docs/screenshots/sync.png", "docs/screenshots/review.png"} <= set(images)
    root = SHOTS.parents[1]
    for image in images:  # each written by a test of this module, in this session
        assert (root / image).stat().st_mtime >= STARTED, f"{image} was not taken by this run"
