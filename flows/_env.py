"""Process environment for Prefect, set before prefect is first imported.

Prefect reads its settings at import time. Muster keeps its home project-local (never
``~/.prefect``), turns off analytics and telemetry (no machine here reaches the
internet, and coalitions' data stays theirs), and quietens per-task log lines.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

_DONE = False


def prepare(home: Path | None = None, *, log_level: str = "WARNING") -> None:
    """Set Prefect's environment once per process (explicit env vars always win)."""
    global _DONE
    if _DONE:
        return
    _DONE = True
    home = home or Path.cwd() / ".prefect"
    defaults = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": log_level,
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS": "8",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_UI_ENABLED": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    logging.getLogger("httpx").setLevel(logging.WARNING)


__all__ = ["prepare"]
