"""The results review: what posted, what did not and why, for a run or a period.

Shared by ``wisesync sync-all``, ``wisesync results`` and ``wisesync replay``. Queries read
the reporter's tables (:mod:`wisesync.pipeline.reporter`); renderers print the same review
for people (rich tables: counts per record type x status, then every error with its code
and fix hint, then every warning) or for machines (JSON, CSV).

The package: :mod:`~wisesync.review.model` (rows, runs, the review and its counts),
:mod:`~wisesync.review.queries` (reading them, ``--since``), :mod:`~wisesync.review.progress`
(waiting for a run and its acknowledgements) and :mod:`~wisesync.review.render` (tables, CSV).
Everything public is re-exported here.

One review row is one record:

* with ``run_id``: the record's last result *in that run* (``current_status`` says where it
  stands now, e.g. ``posted`` after a later replay);
* without: the record's latest state (``records``), optionally since a time.

Posted records whose acknowledgement at the source is still pending are counted as "not
yet acknowledged" and summed up as "acknowledging in ConnectWise: N to go"; once the source has failed or refused at least once they also carry a
synthetic ``ACKNOWLEDGE_PENDING`` warning with the last error (``codes=("ACKNOWLEDGE_PENDING",)``
selects every record still pending, tried or not). Dead letters in scope (messages that
never got a result) are listed after the warnings and count as not posted.

>>> review = load_review(db, ReviewFilter(run_id=run.run_id))       # doctest: +SKIP
>>> render_review(review)                                           # doctest: +SKIP
>>> sys.exit(review.exit_code())                                      # doctest: +SKIP
"""

from wisesync.review.model import (
    ACK_CODE,
    DEAD_LETTER_CODE,
    IN_LEDGER,
    NOT_A_FAILURE,
    SOURCE_LABELS,
    STATUS_LABELS,
    STATUSES,
    AckState,
    DeadLetterRow,
    RecordRow,
    Review,
    ReviewFilter,
    ReviewMessage,
    RunInfo,
    source_label,
)
from wisesync.review.progress import (
    RunProgress,
    acknowledgements_to_go,
    run_progress,
    wait_for_acknowledgements,
    wait_for_run,
)
from wisesync.review.queries import (
    get_run,
    latest_run_id,
    load_review,
    parse_since,
    query_dead_letters,
    query_records,
    status_counts,
    unacknowledged,
)
from wisesync.review.render import (
    CSV_COLUMNS,
    render_comparison,
    render_review,
    write_review_csv,
)

__all__ = [
    "ACK_CODE",
    "CSV_COLUMNS",
    "DEAD_LETTER_CODE",
    "IN_LEDGER",
    "NOT_A_FAILURE",
    "SOURCE_LABELS",
    "STATUSES",
    "STATUS_LABELS",
    "AckState",
    "DeadLetterRow",
    "RecordRow",
    "Review",
    "ReviewFilter",
    "ReviewMessage",
    "RunInfo",
    "RunProgress",
    "acknowledgements_to_go",
    "get_run",
    "latest_run_id",
    "load_review",
    "parse_since",
    "query_dead_letters",
    "query_records",
    "render_comparison",
    "render_review",
    "run_progress",
    "source_label",
    "status_counts",
    "unacknowledged",
    "wait_for_acknowledgements",
    "wait_for_run",
    "write_review_csv",
]
