"""The CLI's stderr shows a library's logged exception as one line, its own with a traceback."""

from __future__ import annotations

import io
import logging

from wisesync.cli import OneLineLibraryErrors


def _log_both(stream: io.StringIO) -> None:
    handler = logging.StreamHandler(stream)
    handler.addFilter(OneLineLibraryErrors())
    for name in ("kafka.net.transport", "wisesync.pipeline.poster"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
        try:
            try:
                raise AttributeError("'NoneType' object has no attribute 'recv'")
            except AttributeError:
                logger.exception("%s: Error receiving network data", "<transport>")
        finally:
            logger.removeHandler(handler)
            logger.propagate = True


def test_a_kafka_traceback_becomes_one_line_and_ours_stays_whole() -> None:
    stream = io.StringIO()
    _log_both(stream)
    kafka_part, ours = stream.getvalue().split("<transport>: Error receiving network data", 2)[1:]
    assert kafka_part.strip() == "(AttributeError: 'NoneType' object has no attribute 'recv')"
    assert "Traceback (most recent call last)" in ours
