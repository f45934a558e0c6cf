"""``python -m wisesync_qbo.sandbox --port N``: run the QBO sandbox in the foreground."""

from __future__ import annotations

import argparse

from . import describe, start_sandbox


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the sandbox, print how to reach it, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m wisesync_qbo.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--seed", type=int, default=0, help="seed for seeded data")
    parser.add_argument("--customers", type=int, default=0, help="pre-existing customers")
    parser.add_argument("--country", default="US", help="company country (US: sales tax)")
    args = parser.parse_args(argv)
    server = start_sandbox(
        port=args.port, seed=args.seed, customers=args.customers or None, country=args.country
    )
    for line in describe(server):
        print(line)
    print("Ctrl-C to stop.", flush=True)
    server.serve_until_stopped()


if __name__ == "__main__":
    main()
