"""Long waits that give way: a thread about to sleep lends what it holds to others.

A poster posts at most ``workers`` companies at once. A company's worker that sleeps (a
ledger's Retry-After, the backoff before retrying a 5xx, its minute window, the retries
of an outage) would keep that place while other companies wait for one. Every wait of the
posting path goes through :func:`sleep` (:class:`wisesync.ratelimit.Clock` calls it), so
the poster installs, on each thread that posts for a company, a *lender*
(:func:`giving_way`): a context manager that gives the place up for the length of the
wait and takes one again after it (:meth:`wisesync.pipeline.lanes.Lanes.lend`). Threads
without a lender just sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

#: Waits shorter than this (real seconds) keep their place: lending costs a thread start.
LEND_AFTER_S = 1.0

Lender = Callable[[], AbstractContextManager[object]]

_local = threading.local()


@contextmanager
def giving_way(lender: Lender) -> Iterator[None]:
    """For the block, waits of :data:`LEND_AFTER_S` or more in this thread run inside
    ``lender()`` (nested blocks: the innermost lender)."""
    outer = getattr(_local, "lender", None)
    _local.lender = lender
    try:
        yield
    finally:
        _local.lender = outer


def sleep(seconds: float) -> None:
    """``time.sleep(seconds)``, inside this thread's lender when the wait is long."""
    if seconds <= 0:
        return
    lender = getattr(_local, "lender", None)
    if lender is None or seconds < LEND_AFTER_S:
        time.sleep(seconds)
        return
    with lender():
        time.sleep(seconds)
