"""``python -m wisesync_xero.sandbox``: run the Xero sandbox in the foreground; the same
command and flags as ``wisesync sandbox xero`` (``--help`` lists them)."""

from __future__ import annotations

from wisesync_xero.connect_cli import sandbox_xero


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the sandbox, print how to reach it, wait for Ctrl-C."""
    sandbox_xero.main(args=argv, prog_name="python -m wisesync_xero.sandbox")


if __name__ == "__main__":
    main()
