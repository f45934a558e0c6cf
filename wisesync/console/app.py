"""The console's routes (Starlette): every route checks the signed-in user's role and
companies on the server; a refused request is answered 403 and audited."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from wisesync.console import security
from wisesync.console.audit import ConsoleAudit, session_secret
from wisesync.console.jobs import Backend, Jobs
from wisesync.console.reviewpage import ReviewCache
from wisesync.console.users import Role, SignInThrottled, User, UserStore
from wisesync.events.models import RecordType
from wisesync.store.options import OptionsStore

HERE = Path(__file__).parent


class Forbidden(Exception):
    """The signed-in user may not do this (answered 403, audited)."""

    def __init__(self, why: str, company: str | None = None):
        super().__init__(why)
        self.company = company


@dataclass
class Console:
    """The console application's shared state (one per process)."""

    backend: Backend
    users: UserStore
    audit: ConsoleAudit
    options: OptionsStore
    jobs: Jobs
    templates: Jinja2Templates
    reviews: ReviewCache = field(default_factory=ReviewCache)

    # --- people ------------------------------------------------------------------------

    def user(self, request: Request) -> User | None:
        """The signed-in, enabled user of this request, or None."""
        uid = security.session_user_id(request.session)
        if uid is None:
            return None
        user = self.users.get(uid)
        if user is None or user.disabled:
            request.session.clear()
            return None
        return user

    def companies(self, user: User) -> list[Any]:
        """The configured companies ``user`` may see, in config order."""
        return [c for c in self.backend.config.companies if user.can_see(c.key)]

    def company(self, user: User, key: str | None) -> Any:
        """The company ``key`` (default: the first ``user`` sees); Forbidden when not theirs."""
        visible = self.companies(user)
        if not key:
            if not visible:
                raise Forbidden("no company is assigned to you", None)
            return visible[0]
        for c in visible:
            if c.key == key:
                return c
        raise Forbidden(f"company {key!r} is not one of yours", key)

    def client(self, request: Request) -> str:
        """The client address (for throttling and the audit)."""
        return request.client.host if request.client else "-"

    def refuse(self, request: Request, user: User | None, exc: Forbidden) -> Response:
        """403 page; the attempt is audited with who, what and where from."""
        self.audit.record(
            "forbidden",
            username=user.username if user else None,
            company=exc.company,
            detail=f"{request.method} {request.url.path}: {exc}",
            client=self.client(request),
        )
        return self.page(request, user, "error.html", {"message": str(exc)}, status=403)

    def page(
        self, request: Request, user: User | None, name: str, ctx: dict, status: int = 200
    ) -> Response:
        """Render template ``name`` with the layout's context."""
        base = {
            "user": user,
            "csrf": security.csrf_token(request.session),
            "csrf_field": security.CSRF_FIELD,
            "companies": self.companies(user) if user else [],
        }
        return self.templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def _console(request: Request) -> Console:
    return request.app.state.console


def view(min_role: Role = Role.USER) -> Callable:
    """Decorate a handler ``(console, request, user)``: sign-in required (GET redirects to the
    sign-in page), role at least ``min_role``, CSRF token checked on every POST."""
    order = [Role.USER, Role.ACCOUNT_ADMIN, Role.SUPER_ADMIN]

    def wrap(handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            console = _console(request)
            if request.method == "POST":
                form = await request.form()
                request.state.form = form
                if not security.csrf_ok(request.session, form.get(security.CSRF_FIELD)):
                    user = console.user(request)
                    console.audit.record(
                        "csrf_refused",
                        username=user.username if user else None,
                        detail=f"POST {request.url.path} without a valid CSRF token",
                        client=console.client(request),
                    )
                    return Response(
                        "refused: the form's security token is missing or out of date; "
                        "go back, reload the page and try again",
                        status_code=403,
                        media_type="text/plain",
                    )
            user = await _in_thread(console.user, request)
            if user is None:
                if request.method == "GET":
                    return RedirectResponse(
                        str(URL("/signin").include_query_params(next=_next(request))), 303
                    )
                return Response("sign in first", status_code=401, media_type="text/plain")
            try:
                if order.index(user.role) < order.index(min_role):
                    raise Forbidden(f"this page is for {min_role.label}s", None)
                return await _in_thread(handler, console, request, user)
            except Forbidden as exc:
                return await _in_thread(console.refuse, request, user, exc)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def _in_thread(fn: Callable, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def _next(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def _safe_next(value: str | None) -> str:
    """Only local paths (no //host, no scheme) after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/sync"


# --- sign-in ------------------------------------------------------------------------------


async def signin(request: Request) -> Response:
    """The sign-in form and its POST (CSRF-checked, throttled, audited)."""
    console = _console(request)
    nxt = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return console.page(request, None, "signin.html", {"next": nxt, "error": None})
    form = await request.form()
    if not security.csrf_ok(request.session, form.get(security.CSRF_FIELD)):
        return Response("refused: reload the sign-in page", status_code=403)
    username = str(form.get("username", ""))[:100]
    client = console.client(request)
    error = None
    try:
        user = await _in_thread(
            console.users.authenticate, username, str(form.get("password", "")), client
        )
    except SignInThrottled as exc:
        user, error = None, str(exc)
        console.audit.record("signin_throttled", username=username, client=client)
    if user is None:
        if error is None:
            error = "wrong username or password"
            console.audit.record("signin_failed", username=username, client=client)
        return console.page(
            request,
            None,
            "signin.html",
            {"next": _safe_next(str(form.get("next", ""))), "error": error},
            status=429 if "too many" in error else 401,
        )
    security.start_session(request.session, user.id)
    console.audit.record("signin", username=user.username, client=client)
    return RedirectResponse(_safe_next(str(form.get("next", ""))), 303)


@view()
def signout(console: Console, request: Request, user: User) -> Response:
    """Sign out (POST with CSRF token)."""
    request.session.clear()
    console.audit.record("signout", username=user.username, client=console.client(request))
    return RedirectResponse("/signin", 303)


# --- Sync ---------------------------------------------------------------------------------


@view()
def sync_page(console: Console, request: Request, user: User) -> Response:
    """The Sync page: company selector (first preselected), record types, Sync All button."""
    company = console.options.effective(console.company(user, request.query_params.get("company")))
    return console.page(
        request,
        user,
        "sync.html",
        {
            "company": company,
            "sync_all_on": console.options.sync_all(company),
            "all_types": [t.value for t in RecordType],
            "ticked": {str(t) for t in company.record_types},
        },
    )


@view()
def sync_start(console: Console, request: Request, user: User) -> Response:
    """Press Sync All: start the job, go to its progress page."""
    form = request.state.form
    company = console.options.effective(console.company(user, str(form.get("company", ""))))
    if not console.options.sync_all(company):
        raise Forbidden(f"Sync All is switched off for {company.key}", company.key)
    types = [RecordType(t) for t in form.getlist("types") if t in RecordType._value2member_map_]
    if not types:
        return console.page(
            request, user, "error.html", {"message": "tick at least one record type"}, status=400
        )
    job = console.jobs.sync_all(company, types, user.username)
    detail = f"types {', '.join(map(str, types))}; run {job.run_ids[0]}"
    return _started(console, request, user, job, detail)


def _job(console: Console, request: Request, user: User) -> Any:
    job = console.jobs.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, "no such sync (the console keeps those of the last 30 days)")
    console.company(user, job.company)
    return job


@view()
def job_page(console: Console, request: Request, user: User) -> Response:
    """Live progress (polled by /static/progress.js; refreshes itself without JavaScript)."""
    job = _job(console, request, user)
    progress = job.progress(console.backend.db)
    if progress["finished"] and job.run_ids:
        return RedirectResponse(f"/runs/{job.run_ids[0]}", 303)
    return console.page(request, user, "progress.html", {"job": job, "p": progress})


@view()
def job_progress(console: Console, request: Request, user: User) -> Response:
    """The progress numbers as JSON (what the page polls)."""
    job = _job(console, request, user)
    progress = job.progress(console.backend.db)
    if progress["finished"] and job.run_ids:
        progress["review_url"] = f"/runs/{job.run_ids[0]}"
    return JSONResponse(progress)


# --- review -------------------------------------------------------------------------------


def _run(console: Console, user: User, run_id: str) -> Any:
    from wisesync.review import get_run

    with console.backend.db.connection() as conn:
        run = get_run(conn, run_id)
    if run is None:
        raise HTTPException(404, "no such run (or its manifest has not arrived yet)")
    console.company(user, run.company)
    return run


def load_run_review(console: Console, run_id: str) -> Any:
    """The shared review read model for one run."""
    from wisesync.review import ReviewFilter, load_review

    return load_review(console.backend.db, ReviewFilter(run_id=run_id))


@view()
def review_page(console: Console, request: Request, user: User) -> Response:
    """The review of one run: counts, errors and fixes, warnings, held, posted; filters,
    paging, CSV, replay buttons."""
    from wisesync.console import reviewpage

    run = _run(console, user, request.path_params["run_id"])
    company = console.company(user, run.company)
    review, summary = console.reviews.get(console.backend.db, run.run_id, run.company)
    flt = reviewpage.PageFilter.from_query(request.query_params)
    page = reviewpage.build(review, flt, _document_link(console, company), summary)
    return console.page(request, user, "review.html", {"run": run, "company": company, "pg": page})


def _document_link(console: Console, company: Any) -> Callable:
    manager = console.backend.registry.manager

    def link(row: Any) -> str | None:
        for url in manager.hook.console_document_url(
            company=company, target=row.target, record_type=row.record_type, ledger_id=row.ledger_id
        ):
            if url and url.startswith("https://"):
                return url
        return None

    return link


@view()
def review_csv(console: Console, request: Request, user: User) -> Response:
    """The run's review as CSV (one row per message), the CLI's format."""
    from wisesync.review import write_review_csv

    run = _run(console, user, request.path_params["run_id"])
    out = io.StringIO()
    write_review_csv(load_run_review(console, run.run_id), out)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"content-disposition": f'attachment; filename="review-{run.run_id}.csv"'},
    )


def _selection(console: Console, run: Any, source: Any) -> tuple[Any, str]:
    """What a replay form asks for: (selection, description)."""
    from wisesync import replay

    scope = str(source.get("scope", "failed"))
    code = str(source.get("code", ""))[:80]
    selection = replay.select(
        console.backend.db, run_id=run.run_id, company=run.company, codes=(code,) if code else ()
    )
    if scope == "one":
        record = str(source.get("record", ""))
        selection.records = [
            w for w in selection.records if f"{w.record_type}:{w.source_id}" == record
        ]
        what = "this record"
    elif code:
        what = f"every record of this run that failed with {code}"
    else:
        what = "every record of this run that failed or was held"
    return selection, what


@view()
def replay_confirm(console: Console, request: Request, user: User) -> Response:
    """Say what a replay will do, and ask."""
    run = _run(console, user, request.path_params["run_id"])
    selection, what = _selection(console, run, request.query_params)
    return console.page(
        request,
        user,
        "replay.html",
        {
            "run": run,
            "what": what,
            "records": selection.records[:50],
            "count": len(selection.records),
            "params": dict(request.query_params),
        },
    )


@view()
def replay_start(console: Console, request: Request, user: User) -> Response:
    """Start the confirmed replay; go to its progress page."""
    run = _run(console, user, request.path_params["run_id"])
    selection, what = _selection(console, run, request.state.form)
    if not selection.records:
        return console.page(
            request, user, "error.html", {"message": "nothing to replay: " + what}, status=400
        )
    job = console.jobs.replay(selection, run.company, user.username)
    detail = f"{len(selection.records)} record(s) of run {run.run_id}: {what}"
    return _started(console, request, user, job, detail)


def _started(console: Console, request: Request, user: User, job: Any, detail: str) -> Response:
    """Audit a started Sync All or replay and go to its progress page."""
    console.audit.record(
        job.kind,
        username=user.username,
        company=job.company,
        detail=detail,
        client=console.client(request),
    )
    return RedirectResponse(f"/jobs/{job.id}", 303)


# --- runs ---------------------------------------------------------------------------------


@view()
def runs_page(console: Console, request: Request, user: User) -> Response:
    """Run history per company, what runs now (from any console process), the daemon's
    health and the ledger connections. /static/live.js refreshes it in place; without
    JavaScript it refreshes itself while something runs."""
    from wisesync.console import status

    company = console.company(user, request.query_params.get("company"))
    return console.page(
        request,
        user,
        "runs.html",
        {
            "company": company,
            "active": console.jobs.active(company.key),
            "runs": status.run_history(console.backend.db, company.key),
            "health": status.daemon_health(console.backend),
            "last": status.last_result(console.backend.db, company.key),
            "connections": status.connections(console.backend.db, company),
        },
    )


# --- options & audit ----------------------------------------------------------------------


@view(Role.ACCOUNT_ADMIN)
def options_page(console: Console, request: Request, user: User) -> Response:
    """Options (admins): Sync All switch, defaults, holds, cap, the ledger's own options."""
    from wisesync.console import settings

    company = console.company(user, request.query_params.get("company"))
    fields = settings.company_fields(company, console.backend.registry)
    values = settings.values(console.options, company, fields)
    saved = request.query_params.get("saved") == "1"
    return _options_form(console, request, user, company, fields, values, saved=saved)


def _options_form(
    console: Console,
    request: Request,
    user: User,
    company: Any,
    fields: list,
    values: dict,
    *,
    errors: list[str] = (),
    saved: bool = False,
) -> Response:
    ctx = {"company": company, "fields": fields, "values": values, "errors": list(errors)}
    return console.page(
        request, user, "options.html", {**ctx, "saved": saved}, status=400 if errors else 200
    )


@view(Role.ACCOUNT_ADMIN)
def options_save(console: Console, request: Request, user: User) -> Response:
    """Save the options that changed, each audited with the signed-in user."""
    from wisesync.console import settings

    form = request.state.form
    company = console.company(user, str(form.get("company", "")))
    fields = settings.company_fields(company, console.backend.registry)
    current = settings.values(console.options, company, fields)
    errors, changes = [], {}
    for f in fields:
        if f.kind not in ("bool", "multi") and f.name not in form:
            continue  # not on the form that was sent: unchanged (checkboxes send nothing = off)
        if f.kind == "bool":
            raw = "on" if form.get(f.name) else "off"
        elif f.kind == "multi":
            raw = ",".join(form.getlist(f.name))
        else:
            raw = str(form.get(f.name, ""))
        try:
            value = f.normalise(raw)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if value != current[f.name]:
            changes[f.name] = value
    if errors:
        return _options_form(console, request, user, company, fields, current, errors=errors)
    for name, value in changes.items():
        console.options.set(company.key, name, value, changed_by=f"console:{user.username}")
    return RedirectResponse(f"/options?company={company.key}&saved=1", 303)


@view(Role.ACCOUNT_ADMIN)
def audit_page(console: Console, request: Request, user: User) -> Response:
    """Option changes and console events (super admins: everything; account admins: their
    companies)."""
    scope = None if user.role is Role.SUPER_ADMIN else user.companies
    return console.page(request, user, "audit.html", {"entries": console.audit.entries(scope)})


async def home(request: Request) -> Response:
    """/ goes to the Sync page."""
    return RedirectResponse("/sync", 303)


async def not_found(request: Request, exc: HTTPException) -> Response:
    """Plain error pages (no stack, nothing from the request echoed unescaped)."""
    console = _console(request)
    return console.page(
        request, None, "error.html", {"message": exc.detail}, status=exc.status_code
    )


def create_app(backend: Backend, *, secure_cookies: bool | None = None) -> Starlette:
    """The console application on ``backend``. ``secure_cookies`` marks the session cookie
    Secure always (True) or never (False); by default (None, and
    ``WISESYNC_CONSOLE_SECURE_COOKIES`` unset) it is Secure whenever the request came over TLS
    (directly or through a proxy uvicorn trusts). The variable set to 1/0 forces it on/off."""
    import os

    if secure_cookies is None:
        flag = os.environ.get("WISESYNC_CONSOLE_SECURE_COOKIES", "").strip().lower()
        if flag in ("1", "true", "yes", "on"):
            secure_cookies = True
        elif flag in ("0", "false", "no", "off"):
            secure_cookies = False
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from wisesync.console import userpages

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["ts"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if v else ""
    templates = Jinja2Templates(env=env)
    console = Console(
        backend=backend,
        users=UserStore(backend.db),
        audit=ConsoleAudit(backend.db),
        options=OptionsStore(backend.db),
        jobs=Jobs(backend),
        templates=templates,
    )
    routes = [
        Route("/", home),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/sync", sync_page),
        Route("/sync", sync_start, methods=["POST"]),
        Route("/jobs/{job_id}", job_page),
        Route("/jobs/{job_id}/progress.json", job_progress),
        Route("/runs", runs_page),
        Route("/runs/{run_id}", review_page),
        Route("/runs/{run_id}/review.csv", review_csv),
        Route("/runs/{run_id}/replay", replay_confirm),
        Route("/runs/{run_id}/replay", replay_start, methods=["POST"]),
        Route("/options", options_page),
        Route("/options", options_save, methods=["POST"]),
        Route("/audit", audit_page),
        Route("/users", userpages.users_page),
        Route("/users", userpages.users_change, methods=["POST"]),
        Route("/users/{username}/{action}", userpages.users_change, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(security.SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=session_secret(backend.db),
            session_cookie="wisesync_session",
            max_age=security.ABSOLUTE_S,
            same_site="lax",
            https_only=bool(secure_cookies),
        ),
    ]
    if secure_cookies is None:  # outermost: sees the session middleware's Set-Cookie
        middleware.insert(0, Middleware(security.SecureCookiesOverTLS))
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: not_found}
    )
    app.state.console = console
    app.state.started = time.time()
    return app
