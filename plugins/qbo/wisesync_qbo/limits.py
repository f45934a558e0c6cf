"""QBO's API limits (qbo.md sections 4 and 5), enforced by the poster.

Per realm: 500 requests a minute and 10 a second (batch calls included), at most 30
operations in one batch request and 40 batch requests a minute. :data:`LIMITS` is what
the target declares (the poster's :class:`~wisesync.ratelimit.CallLimiter` enforces
it); :data:`BATCH_LIMITS` is the batch-call window the target keeps on top, per realm.
A 429 (QBO's body is XML, without Retry-After) is waited out for 60 s through the
limiter (:mod:`wisesync_qbo.client`).
"""

from __future__ import annotations

from wisesync.ratelimit import TargetLimits

#: one posting call is one batch of at most 30 documents; calls go one at a time per
#: realm (Intuit advises against concurrent calls to one realm)
LIMITS = TargetLimits(batch_size=30, calls_per_minute=500, calls_per_second=10, concurrency=1)
#: 40 batch requests a minute per realm
BATCH_LIMITS = TargetLimits(batch_size=30, calls_per_minute=40, concurrency=1)
