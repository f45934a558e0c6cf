"""``python -m wisesync_connectwise.sandbox``: run the ConnectWise sandbox in the foreground."""

from __future__ import annotations

import argparse

from . import start_sandbox


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the sandbox, print how to reach it, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m wisesync_connectwise.sandbox")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--records", type=int, help="unposted records in all (split by type)")
    parser.add_argument("--invoices", type=int)
    parser.add_argument("--expenses", type=int)
    parser.add_argument("--procurement", type=int)
    parser.add_argument("--customers", type=int)
    parser.add_argument("--no-cases", action="store_true", help="ordinary records only")
    parser.add_argument("--max-page-size", type=int, default=1000)
    parser.add_argument("--rate-limit", type=float, help="calls per second before 429")
    args = parser.parse_args(argv)
    options = {
        k: v
        for k, v in {
            "records": args.records,
            "invoices": args.invoices,
            "expenses": args.expenses,
            "procurement": args.procurement,
            "customers": args.customers,
            "rate_limit": args.rate_limit,
        }.items()
        if v is not None
    }
    server = start_sandbox(
        port=args.port,
        seed=args.seed,
        cases=not args.no_cases,
        max_page_size=args.max_page_size,
        **options,
    )
    creds = server.app.credentials
    print(f"ConnectWise sandbox: {server.api_url}", flush=True)
    print(f"  company id:  {creds.company_id}")
    print(f"  public key:  {creds.public_key}")
    print(f"  private key: {creds.private_key}")
    print(f"  client id:   {creds.client_id}")
    print(f"  unposted:    {server.app.unposted_counts()}")
    print("Ctrl-C to stop.", flush=True)
    server.serve_until_stopped()


if __name__ == "__main__":
    main()
