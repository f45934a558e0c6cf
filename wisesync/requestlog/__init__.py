"""The request log: every call wisesync makes to ConnectWise and to a ledger, kept for support.

One row per HTTP exchange (a retried request is one row per try, ``retry`` counting the tries
before it): when, company, plugin, method, host and path (secret query values and configured
secrets replaced by ``***``), status or error, duration, the ledger's correlation id and the
records the call was made for. Bodies only with ``requests.debug_bodies``, redacted.

Parts: :mod:`.context` (what the caller is doing: company, plugin, records),
:mod:`.redact` (what may be stored), :mod:`.recorder` (the hook in :mod:`wisesync.http`),
:mod:`.store` (the Postgres table, written off the calling thread, pruned, queried),
:mod:`.settings` (the ``[requests]`` table). ``wisesync requests`` shows it.
"""

from wisesync.requestlog.context import request_context

__all__ = ["request_context"]
