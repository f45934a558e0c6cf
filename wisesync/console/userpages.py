"""The Users page (super admins): add people, set their role and companies, disable and
enable them. Every change goes through :class:`~wisesync.console.people.People` (audited
with the signed-in super admin, the old and the new state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import URL
from starlette.exceptions import HTTPException
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


def _add(people: People, actor: str, client: str, form: Any, _name: str) -> str:
    added = people.add(
        actor,
        str(form.get("username", ""))[:100],
        str(form.get("password", "")),
        str(form.get("role", "")),
        form.getlist("companies"),
        client=client,
    )
    return f"added {added.username} ({describe(added)})"


def _role(people: People, actor: str, client: str, form: Any, name: str) -> str:
    role, companies = str(form.get("role", "")), form.getlist("companies")
    changed = people.set_role(actor, name, role, companies, client=client)
    return f"{changed.username} is now {describe(changed)}"


def _disable(people: People, actor: str, client: str, form: Any, name: str) -> str:
    changed = people.set_disabled(actor, name, form.get("disabled") == "on", client=client)
    return f"{changed.username} {'disabled' if changed.disabled else 'enabled'}"


#: POST /users adds; POST /users/{username}/role sets role and companies;
#: POST /users/{username}/disable disables (``disabled=on``) or enables.
ACTIONS = {"add": _add, "role": _role, "disable": _disable}


@view(Role.SUPER_ADMIN)
def users_change(console: Console, request: Request, user: User) -> Response:
    """Add a user, set one's role and companies, or disable / enable one (see
    :data:`ACTIONS`); back to the page saying what happened, or why not."""
    action = ACTIONS.get(request.path_params.get("action", "add"))
    if action is None:
        raise HTTPException(404, "no such change")
    try:
        done = action(
            _people(console),
            f"console:{user.username}",
            console.client(request),
            request.state.form,
            request.path_params.get("username", ""),
        )
    except UserError as exc:
        return _page(console, request, user, error=str(exc), status=400)
    return RedirectResponse(str(URL("/users").include_query_params(done=done)), 303)
