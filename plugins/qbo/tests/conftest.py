"""QBO plugin tests: make the shared helpers (``qbo_testkit``) importable.

pytest runs with ``--import-mode=importlib``, which does not put test folders on
``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# the plugin's own result codes (SYNC_TOKEN_CONFLICT), as the service installs them when
# it builds its plugin registry
from wisesync.messages import install  # noqa: E402
from wisesync_qbo.codes import CODES  # noqa: E402

install(("qbo", code) for code in CODES)
