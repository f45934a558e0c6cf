"""How wisesync refuses a name that does not exist: what was given, the closest valid name
("did you mean ...?") and the valid choices. Shared by the command line
(:mod:`wisesync.cli.choices`) and the config's company lookup."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def not_one_of(what: str, value: str, choices: Iterable[str], *, noun: str = "") -> str:
    """``'X' is not <what>; did you mean 'Y'? (<noun>: a, b, c)``."""
    known = sorted(set(choices))
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    text = f"{value!r} is not {what}"
    if close:
        text += f"; did you mean {close[0]!r}?"
    return text + f" ({noun or 'choices'}: {', '.join(known) or 'none'})"
