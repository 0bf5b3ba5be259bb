"""Process settings from ``MUSTER_*`` environment variables (pydantic-settings).

These say where things are, not what a coalition wants: the tenant's connections and
policy live in the config file (``config.tenant``).
"""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "muster"


class Settings(BaseSettings):
    """``MUSTER_CONFIG``, ``MUSTER_ACTOR``, ``MUSTER_LOG_LEVEL``, ``MUSTER_PREFECT_HOME``."""

    model_config = SettingsConfigDict(env_prefix="MUSTER_", extra="ignore")

    config: Path = Path("muster.yaml")
    actor: str = _user()
    log_level: str = "WARNING"
    prefect_home: Path | None = None  # default: .prefect next to the config / demo folder


__all__ = ["Settings"]
