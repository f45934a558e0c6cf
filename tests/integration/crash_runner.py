"""``wisesync run --role ...`` for the crash tests, with role options for fast restarts.

Usage: ``python crash_runner.py CONFIG ROLES`` (ROLES: ``poster`` or ``poster,reporter``),
role options as JSON in ``$CRASH_ROLE_OPTIONS`` (``{"poster": {"consumer_options": ...}}``).

It does what :func:`wisesync.cli.run.run_cmd` does (the same :class:`wisesync.daemon.Service`,
SIGTERM finishes the batch in hand, exit 1 when a role died), plus the one thing the CLI
cannot: constructor options for the roles. The crash tests use them for a short consumer
session and Kafka static membership (``group_instance_id``), so a member restarted after
``kill -9`` gets its partitions back at once instead of after the dead member's session
timeout; without that, ten kills would cost ten session timeouts of idle waiting.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

from wisesync.config import load_config
from wisesync.daemon import Service, parse_roles

OPTIONS_ENV = "CRASH_ROLE_OPTIONS"
READY = "wisesync running"


def main(argv: list[str]) -> int:
    """Run the roles until SIGTERM; 0 on a clean stop, 1 when a role died."""
    level = os.environ.get("CRASH_LOG_LEVEL", "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(threadName)s %(name)s %(message)s")
    config = load_config(argv[1], required=True)
    options = json.loads(os.environ.get(OPTIONS_ENV) or "{}")
    service = Service(config, roles=parse_roles([argv[2]]), role_options=options)
    stop = service.stop_event
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.open().start()
    print(f"{READY}: roles {', '.join(service.roles)} pid {os.getpid()}", file=sys.stderr)
    sys.stderr.flush()
    while not stop.wait(0.2):
        pass
    service.close()
    if service.errors:
        print(f"a role failed: {service.errors[0]!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
