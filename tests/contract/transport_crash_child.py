"""Child process for the contract suite's crash test: join a group, consume, commit part, hang.

Usage: python transport_crash_child.py KIND CONNECTION GROUP TOPIC EXPECTED COMMIT_UPTO OPTS_JSON

Consumes until EXPECTED messages arrived, commits offset COMMIT_UPTO on every partition it
owns (capped to what it read), prints ``READY`` and then sleeps until it is killed (SIGKILL
in the test: no close, no leave-group, so the group only learns from the session timeout).
"""

from __future__ import annotations

import json
import sys
import time

from wisesync.transport import open_transport


def main() -> None:
    """Run the child (see the module docstring)."""
    kind, conn, group, topic, expected, upto, opts = sys.argv[1:8]
    settings = {"bootstrap_servers": conn} if kind == "kafka" else {"dsn": conn}
    transport = open_transport(kind, **settings)
    consumer = transport.consumer(group, [topic], **json.loads(opts))
    got = []
    deadline = time.monotonic() + 60
    while len(got) < int(expected) and time.monotonic() < deadline:
        got.extend(consumer.poll(0.5))
    consumer.commit(
        {
            tp: min(int(upto), max(m.offset for m in got if m.tp == tp) + 1)
            for tp in {m.tp for m in got}
        }
    )
    print(f"READY {len(got)}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
