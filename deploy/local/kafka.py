#!/usr/bin/env python3
"""Start a real single-node Kafka (KRaft) broker on 127.0.0.1 by hand, without Docker.

    .venv/bin/python deploy/local/kafka.py start [--data-dir DIR] [--port N]
        prints the bootstrap address (e.g. 127.0.0.1:39211) and runs until Ctrl-C
    .venv/bin/python deploy/local/kafka.py resolve
        only downloads the broker jars (once, into ~/.cache/wisesync/kafka-<version>/libs)

Export the printed address as WISESYNC_TEST_KAFKA_BOOTSTRAP to make the test suite use this
broker instead of starting its own. Needs Java 17+ and Maven; the logic lives in
wisesync.testing.kafka_broker.
"""

import sys
from pathlib import Path

# This file is named kafka.py: drop its own folder from sys.path so that `import kafka` finds
# kafka-python, and put the checkout first so wisesync imports even without an install.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parents[1]))

from wisesync.testing.kafka_broker import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
