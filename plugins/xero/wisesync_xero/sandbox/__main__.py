"""``python -m wisesync_xero.sandbox --port N``: run the Xero sandbox in the foreground."""

from __future__ import annotations

import argparse

from . import start_sandbox


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, start the sandbox, print how to reach it, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m wisesync_xero.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids and seeded data")
    parser.add_argument("--contacts", type=int, default=0, help="pre-existing contacts C00001...")
    parser.add_argument("--tenants", type=int, default=1, help="number of organisations")
    args = parser.parse_args(argv)
    server = start_sandbox(
        port=args.port, seed=args.seed, contacts=args.contacts or None, tenants=args.tenants
    )
    app = server.app
    print(f"Xero sandbox at {server.url}")
    print(f"  API base        {server.url}/api.xro/2.0")
    print(f"  token URL       {server.url}/connect/token")
    print(f"  authorize URL   {server.url}/identity/connect/authorize")
    print(f"  web app         client_id={app.client_id} client_secret={app.client_secret}")
    for tenant_id, org in app.orgs.items():
        creds = app.credentials(tenant_id)
        print(f"  organisation    {org.name!r} tenant_id={tenant_id}")
        print(
            f"    custom connection client_id={creds.client_id} client_secret={creds.client_secret}"
        )
    print("Ctrl-C to stop.", flush=True)
    server.serve_until_stopped()


if __name__ == "__main__":
    main()
