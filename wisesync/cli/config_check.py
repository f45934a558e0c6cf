"""``wisesync config check``: every problem a start would hit, listed at once (exit 2).

Three stages, each listing all it finds: the file (TOML, core settings), each plugin's
settings (:meth:`wisesync.plugins.Registry.check_config`), then what a start needs
(:func:`wisesync.preflight.readiness`: variables set, ``WISESYNC_SECRET_KEY``, each
plugin's own). ``--online`` then tries every connection (:func:`wisesync.preflight.online_checks`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from wisesync.cli.context import EXIT_CONFIG, EXIT_NOT_ALL_POSTED, AppContext, print_json
from wisesync.company import ConfigProblem


def run_config_check(app: AppContext, *, as_json: bool, online: bool) -> None:
    """Check, print (people or ``--json``) and exit: 0 ok, 2 problems, 1 a connection failed."""
    from wisesync.config import ConfigInvalid, load_config
    from wisesync.plugins import registry
    from wisesync.preflight import online_checks, readiness

    reg = registry()
    try:
        config = load_config(app.config_file, required=True, require_dsn=False)
        problems = reg.check_config(config) + readiness(config, reg)
    except ConfigInvalid as exc:
        config, problems = None, list(exc.problems)
    if problems or config is None:
        _report_problems(problems, as_json)
        sys.exit(EXIT_CONFIG)
    checks = online_checks(config, reg) if online else []
    failed = [c for c in checks if not c.ok]
    if as_json:
        print_json(
            {
                "ok": not failed,
                "file": config.source_file,
                "companies": [c.key for c in config.companies],
                "problems": [],
                "checks": [c.to_json() for c in checks],
            }
        )
    else:
        click.echo(
            f"{config.source_file}: ok, {len(config.companies)} company(ies): "
            + ", ".join(f"{c.key} ({c.ledger})" for c in config.companies)
        )
        for check in checks:
            click.secho(f"  {check}", fg=None if check.ok else "red")
        if failed:
            click.secho(f"{len(failed)} connection(s) failed", fg="red", err=True)
    sys.exit(EXIT_NOT_ALL_POSTED if failed else 0)


def _report_problems(problems: list[ConfigProblem], as_json: bool) -> None:
    if as_json:
        print_json({"ok": False, "problems": [_problem_json(p) for p in problems], "checks": []})
        return
    click.secho(f"{len(problems)} problem(s):", fg="red", err=True)
    for problem in problems:
        click.echo(f"  {problem}", err=True)


def _problem_json(p: ConfigProblem) -> dict[str, Any]:
    return {"file": p.file, "key": p.key, "message": p.message, "hint": p.hint}
