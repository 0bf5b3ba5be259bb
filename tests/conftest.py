"""Suite-wide environment: Prefect stays local, quiet and offline; no test uses ~/.prefect."""

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="muster-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
# task runs are not read back by any test; the recorder is what makes SQLite lock up (prefect.md §3)
os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED"] = "false"
