"""The Users page (super admins): add people, set their role and companies, disable and
enable them. Every change goes through :class:`~wisesync.console.people.People` (audited
with the signed-in super admin, the old and the new state)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.datastructures import URL
from starlette.responses import RedirectResponse, Response

from wisesync.console.app import Console, view
from wisesync.console.people import People, describe
from wisesync.console.users import MIN_PASSWORD_LENGTH, Role, User, UserError

if TYPE_CHECKING:
    from starlette.requests import Request


def _people(console: Console) -> People:
    known = tuple(c.key for c in console.backend.config.companies)
    return People(console.users, console.audit, known)


def _page(console: Console, request: Request, user: User, error: str = "", status: int = 200):
    return console.page(
        request,
        user,
        "users.html",
        {
            "people": console.users.list(),
            "roles": list(Role),
            "all_companies": [c.key for c in console.backend.config.companies],
            "describe": describe,
            "done": request.query_params.get("done", "")[:200],
            "error": error,
            "min_password": MIN_PASSWORD_LENGTH,
        },
        status=status,
    )


@view(Role.SUPER_ADMIN)
def users_page(console: Console, request: Request, user: User) -> Response:
    """Everyone who may sign in, with their role, companies and state; the add form."""
    return _page(console, request, user)


def _change(console: Console, request: Request, user: User, change) -> Response:
    """Run ``change(people, actor, client)``; back to the page with what happened or why not."""
    try:
        done = change(_people(console), f"console:{user.username}", console.client(request))
    except UserError as exc:
        return _page(console, request, user, error=str(exc), status=400)
    return RedirectResponse(str(URL("/users").include_query_params(done=done)), 303)


@view(Role.SUPER_ADMIN)
def users_add(console: Console, request: Request, user: User) -> Response:
    """Add a user from the form."""
    form = request.state.form

    def add(people: People, actor: str, client: str) -> str:
        added = people.add(
            actor,
            str(form.get("username", ""))[:100],
            str(form.get("password", "")),
            str(form.get("role", "")),
            form.getlist("companies"),
            client=client,
        )
        return f"added {added.username} ({describe(added)})"

    return _change(console, request, user, add)


@view(Role.SUPER_ADMIN)
def users_role(console: Console, request: Request, user: User) -> Response:
    """Set a user's role and companies."""
    form = request.state.form
    name = request.path_params["username"]

    def set_role(people: People, actor: str, client: str) -> str:
        changed = people.set_role(
            actor, name, str(form.get("role", "")), form.getlist("companies"), client=client
        )
        return f"{changed.username} is now {describe(changed)}"

    return _change(console, request, user, set_role)


@view(Role.SUPER_ADMIN)
def users_disable(console: Console, request: Request, user: User) -> Response:
    """Disable a user (their sessions end at once), or enable them again."""
    form = request.state.form
    name = request.path_params["username"]
    disable = form.get("disabled") == "on"

    def toggle(people: People, actor: str, client: str) -> str:
        changed = people.set_disabled(actor, name, disable, client=client)
        return f"{changed.username} {'disabled' if changed.disabled else 'enabled'}"

    return _change(console, request, user, toggle)
