"""One way for every command to refuse a name that does not exist (exit 2, the valid choices).

A typo'd message code, run id, consumer group, topic or company key is a usage error
that names what was given, the closest valid name ("did you mean ...?") and the valid
choices: never "nothing to do" with exit 0. ``results``, ``replay``, ``sync-all``,
``requests`` and ``notify`` all go through these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from wisesync.names import not_one_of

if TYPE_CHECKING:
    from wisesync.config import AppConfig, CompanyConfig

#: The pipeline roles that consume as a Kafka / embedded consumer group (``<group>-<role>``).
CONSUMER_ROLES = ("poster", "reporter")
#: How many recent run ids a "no such run" answer lists.
RECENT_RUNS = 5


def message_codes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """Click callback: ``--code`` values (repeatable, comma lists), upper-cased, each a
    known message code (the core's and every installed plugin's)."""
    from wisesync.messages import CATALOG
    from wisesync.plugins import registry

    registry()  # installs the plugins' codes into the catalog
    out = []
    for value in values:
        for code in (c.strip().upper() for c in value.split(",") if c.strip()):
            if code not in CATALOG:
                raise click.BadParameter(
                    not_one_of("a message code", code, CATALOG, noun="known codes"),
                    ctx=ctx,
                    param=param,
                )
            out.append(code)
    return tuple(out)


def company(config: AppConfig, key: str | None) -> CompanyConfig:
    """The company ``--company KEY`` names (None: the first configured one, Wise-Sync's
    default selection); a key that is not configured is a usage error listing the keys."""
    if key is None:
        return config.company(None)
    for c in config.companies:
        if c.key == key:
            return c
    raise click.BadParameter(
        not_one_of(
            "a configured company", str(key), (c.key for c in config.companies), noun="configured"
        ),
        param_hint="'--company'",
    )


def check_company(config: AppConfig, key: str | None) -> None:
    """Refuse a ``--company`` that is not configured (None is fine: every company)."""
    if key is not None:
        company(config, key)


def run_id(conn: Any, value: str, company_key: str | None = None, *, option: str = "--run") -> None:
    """Refuse a run id no run manifest or result carries; the answer lists recent runs."""
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM sync_runs WHERE run_id = %(r)s)"
        " OR EXISTS (SELECT 1 FROM attempts WHERE run_id = %(r)s)",
        {"r": value},
    ).fetchone()[0]
    if found:
        return
    recent = [
        r[0]
        for r in conn.execute(
            "SELECT run_id FROM sync_runs WHERE %(c)s::text IS NULL OR company = %(c)s"
            " ORDER BY started_at DESC LIMIT %(n)s",
            {"c": company_key, "n": RECENT_RUNS},
        ).fetchall()
    ]
    listed = ", ".join(recent) if recent else "none recorded yet"
    raise click.BadParameter(
        f"no run {value!r} is recorded (recent runs: {listed}; "
        "`wisesync results --run last` shows the newest)",
        param_hint=f"'{option}'",
    )


def consumer_group(config: AppConfig, value: str) -> None:
    """Refuse a consumer group wisesync does not run (``<group>-poster``, ``-reporter``)."""
    groups = [config.group_for(role) for role in CONSUMER_ROLES]
    if value not in groups:
        raise click.BadParameter(
            not_one_of("a wisesync consumer group", value, groups, noun="groups"),
            param_hint="'--group'",
        )


def topic(value: str) -> None:
    """Refuse a topic that is not one of wisesync's (named without the deployment prefix)."""
    from wisesync.transport.topics import ALL

    if value not in ALL:
        raise click.BadParameter(
            not_one_of("a wisesync topic", value, ALL, noun="topics"), param_hint="'--topic'"
        )


def show_statuses(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """Click callback: ``--show posted,held`` (repeatable, comma lists) -> the record lists
    the review prints (:data:`wisesync.review.render.SHOWABLE`), in the order given."""
    from wisesync.review.render import SHOWABLE

    out: list[str] = []
    for value in values:
        for name in (v.strip().lower() for v in value.split(",") if v.strip()):
            if name not in SHOWABLE:
                raise click.BadParameter(
                    not_one_of("a list the review can show", name, SHOWABLE),
                    ctx=ctx,
                    param=param,
                )
            if name not in out:
                out.append(name)
    return tuple(out)


def show_option(function: Any) -> Any:
    """The ``--show`` option of the commands that print a review."""
    return click.option(
        "--show",
        "show",
        multiple=True,
        callback=show_statuses,
        metavar="LIST",
        help="Also list these records one a line: posted, held, failed (comma list), "
        "e.g. --show posted,held.",
    )(function)


def roles(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    """Click callback: ``--role poster --role reporter`` or ``--role poster,reporter``, each
    a role of ``wisesync run`` (the pipeline's roles, and ``console``)."""
    from wisesync.daemon import ROLES

    known = (*ROLES, "console")
    names = [r.strip() for v in values for r in v.split(",") if r.strip()]
    for name in names:
        if name not in known:
            raise click.BadParameter(
                not_one_of("a role", name, known, noun="roles"), ctx=ctx, param=param
            )
    return tuple(names)
