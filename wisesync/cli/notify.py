"""``wisesync notify``: check the notification channels."""

from __future__ import annotations

import sys

import click

from wisesync.cli import choices
from wisesync.cli.context import EXIT_CONFIG, AppContext, pass_app, print_json

EXIT_NOT_DELIVERED = 1


@click.group("notify")
def notify_group() -> None:
    """Failure notifications (e-mail, webhook) sent by the notifier role of `wisesync run`.

    \b
    Example:
      wisesync notify test          # send a test message on every configured channel
    """


@notify_group.command("test")
@click.option("--company", metavar="KEY", help="Use this company's channels (default: [notify]).")
@click.option(
    "--channel",
    type=click.Choice(["email", "webhook", "all"]),
    default="all",
    show_default=True,
    help="Which channel to test.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def notify_test(app: AppContext, company: str | None, channel: str, as_json: bool) -> None:
    """Send a test message on the configured channels and say how each went.

    \b
    Exit 0 when every tested channel delivered, 1 when one did not (the reason is
    printed, never a secret), 2 when no channel is configured for the selection.

    \b
    Examples:
      wisesync notify test                       # every channel of [notify]
      wisesync notify test --company acme --channel webhook --json
    """
    from wisesync.notify.channels import DeliveryFailed
    from wisesync.notify.events import Notice
    from wisesync.notify.notifier import channel_name, deliver

    config = app.config
    choices.check_company(config, company)
    settings = config.notify.for_company(company)
    channels = [c for c in settings.channels if channel in ("all", channel_name(c))]
    if not channels:
        where = f"[companies.notify] of {company} or [notify]" if company else "[notify]"
        click.secho(
            f"no {'' if channel == 'all' else channel + ' '}channel is configured in {where}; "
            "see README, Notifications",
            fg="red",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    notice = Notice(
        key="test",
        kind="test",
        company=company,
        title=f"{company or 'wisesync'}: test notification from `wisesync notify test`",
        detail="If you can read this, failures will reach you here.",
    )
    report = {}
    for ch in channels:
        try:
            deliver(ch, company, [notice], test=True)
            report[channel_name(ch)] = "ok"
        except DeliveryFailed as exc:
            report[channel_name(ch)] = str(exc)
    if as_json:
        print_json({"company": company, "channels": report})
    else:
        for name, outcome in report.items():
            if outcome == "ok":
                click.echo(f"{name}: sent")
            else:
                click.secho(f"{name}: NOT sent: {outcome}", fg="red", err=True)
    sys.exit(0 if all(v == "ok" for v in report.values()) else EXIT_NOT_DELIVERED)


COMMANDS = [notify_group]
