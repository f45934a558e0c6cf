"""Secret values kept out of the log records of the HTTP libraries.

urllib3 logs every request line at DEBUG (``"POST /hooks/T0K3N HTTP/1.1" 200``) and every
retry with its URL. Our API paths hold no secret, but a notification webhook's URL does
(Slack's and Teams' URLs are credentials). :func:`mask_in_logs` registers such a value: from
then on it is replaced by ``***`` in every record of those loggers, before any handler (the
CLI's stderr, a test's capture, a log shipper) sees the record.

>>> mask_in_logs("https://hooks.slack.com/services/T000/B000/XXXX")    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading

MASK = "***"
#: shorter values are not masked (they would mask ordinary words)
MIN_LENGTH = 6
#: the loggers that print request URLs
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)


class SecretMask(logging.Filter):
    """Replaces every registered value in a record's message (args merged in)."""

    def __init__(self) -> None:
        super().__init__()
        self._values: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        """Mask ``values`` (those of :data:`MIN_LENGTH` characters or more) from now on."""
        with self._lock:
            new = {v for v in values if v and len(v) >= MIN_LENGTH} - set(self._values)
            if new:  # longest first: a URL is masked whole, not around its path
                self._values = tuple(sorted({*self._values, *new}, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        """logging.Filter hook: rewrite the record when it holds a registered value."""
        values = self._values
        if not values:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record is left to the handler's own error handling
            return True
        masked = text
        for value in values:
            if value in masked:
                masked = masked.replace(value, MASK)
        if masked is not text and masked != text:
            record.msg, record.args = masked, None
        return True


_mask = SecretMask()
_installed = False
_install_lock = threading.Lock()


def mask_in_logs(*values: str) -> None:
    """Keep ``values`` out of the HTTP libraries' log records (installs the filter once)."""
    global _installed
    with _install_lock:
        if not _installed:
            for name in LIBRARY_LOGGERS:
                logging.getLogger(name).addFilter(_mask)
            _installed = True
    _mask.add(*values)
