"""A webhook URL (a credential) never reaches a handler through urllib3's request log lines."""

from __future__ import annotations

import logging

from wisesync.logmask import MASK, mask_in_logs
from wisesync.testing.canary import LogCapture


def test_registered_values_are_masked_in_the_http_libraries_records() -> None:
    mask_in_logs("/hooks/T0K3N-canary-9911", "short")
    pool = logging.getLogger("urllib3.connectionpool")
    with LogCapture() as capture:
        pool.debug('%s://%s:%s "%s %s %s" %s', "http", "h", 80, "POST", "/hooks/T0K3N-canary-9911",
                   "HTTP/1.1", 200)  # fmt: skip
        pool.debug("a short value stays: %s", "short")
        logging.getLogger("wisesync.other").debug("/hooks/T0K3N-canary-9911")
    masked, short, other = capture.texts
    assert "T0K3N" not in masked and f'"POST {MASK} HTTP/1.1" 200' in masked
    assert "stays: short" in short  # too short to mask (it would mask ordinary words)
    assert "T0K3N" in other  # only the libraries' loggers are filtered
