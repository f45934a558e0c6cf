"""QBO's API limits (qbo.md sections 4 and 5), enforced by the poster.

Per realm: 500 requests a minute and 10 a second (batch calls included), at most 30
operations in one batch request (:data:`BATCH_OPERATIONS`) and 40 batch requests a minute. :data:`LIMITS` is what
the target declares (the poster's :class:`~wisesync.ratelimit.CallLimiter` enforces
it); :data:`BATCH_LIMITS` is the batch-call window the target keeps on top, per realm.
A 429 (QBO's body is XML, without Retry-After) is waited out for 60 s through the
limiter (:mod:`wisesync_qbo.client`).
"""

from __future__ import annotations

from wisesync.ratelimit import TargetLimits

#: Records per post: ten /batch calls of 30 documents. The target packs each call full,
#: the new customers and vendors first and documents in the room left, so new parties cost
#: a share of a call, not calls of their own; the more records a post sees, the fewer
#: part-filled calls (per 1,000 invoices to 197 new customers: 63 calls at 30 records a
#: post, 45 at 150, 44 at 300; bench/qbo.py). Every call stamps the claims of the post's
#: records (the poster's fence), so a post of several calls is reconciled call by call.
#: Calls go one at a time per realm (Intuit advises against concurrent calls to a realm).
POST_RECORDS = 300
LIMITS = TargetLimits(
    batch_size=POST_RECORDS, calls_per_minute=500, calls_per_second=10, concurrency=1
)
#: "maximum number of payloads in a single BatchItemRequest is 30"
BATCH_OPERATIONS = 30
#: 40 batch requests a minute per realm
BATCH_LIMITS = TargetLimits(batch_size=BATCH_OPERATIONS, calls_per_minute=40, concurrency=1)
