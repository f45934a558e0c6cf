"""Topic and group name rules shared by both transports (Kafka's own rules)."""

from __future__ import annotations

import re

_LEGAL = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def validate_topic_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a legal Kafka topic name."""
    if not isinstance(name, str) or not _LEGAL.match(name) or name in (".", ".."):
        raise ValueError(
            f"illegal topic name {name!r}: use 1-249 characters from A-Z a-z 0-9 . _ - "
            "(Kafka's rule, applied to both transports)"
        )
