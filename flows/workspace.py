"""A workspace: one coalition's database, policy and connections, ready to run steps.

Built from a config file (``Workspace.from_config``) or in code (the demo builds one
around in-process sandboxes). Connectors are made fresh by ``connector(service)`` inside
the task that uses them, so no HTTP client crosses threads. The database is shared by
the per-service tasks of one run; ``lock`` serialises its writes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

from config.tenant import (
    Connection,
    FormConnection,
    ManualConnection,
    SecretRef,
    TenantConfig,
    TencentMeetingConnection,
    load_config,
)
from connectors import Runner, Sandbox, connector_class
from connectors._http import RetryPolicy
from mappings.policy import Policy, load_policy
from state import open_db

BASE_FIELDS = {"service", "base_url", "agentid", "enabled", "rate_limit", "sandbox"}
MEETING_ONLY_FIELDS = {"userid_from", "organiser"}  # Muster's settings, not the connector's
EVENT_FIELDS = {"verification_token", "encrypt_key"}  # the receiver's secrets, not the connector's


@dataclass
class Workspace:
    """Everything a run needs, for one coalition."""

    db: sqlite_utils.Database
    policy: Policy
    connections: dict[str, Connection]
    reports: Path
    actor: str = "muster"
    coalition: str = ""
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    transports: dict[str, httpx.BaseTransport] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    connector_options: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    forms: dict[str, FormConnection] = field(default_factory=dict)
    meetings: dict[str, TencentMeetingConnection] = field(default_factory=dict)
    config_file: Path | None = None  # where the connections were declared (named in errors about them)

    @classmethod
    def from_config(cls, path: str | Path, *, actor: str = "muster") -> Workspace:
        """Load ``muster.yaml`` and the policy it names; open (and migrate) the database."""
        cfg: TenantConfig = load_config(path)
        policy = load_policy(cfg.policy)
        _check_policy_services(cfg, policy)
        return cls(db=open_db(cfg.database), policy=policy, connections=cfg.enabled(), reports=cfg.reports,
                   actor=actor, coalition=cfg.coalition, forms=dict(cfg.forms), meetings=cfg.enabled_meetings(),
                   config_file=cfg.file)

    @property
    def services(self) -> list[str]:
        return sorted(self.connections)

    def connector(self, service: str) -> Runner:
        """A new connector for ``service`` wrapped in the ``Runner``."""
        conn = self.connections[service]
        if isinstance(conn, ManualConnection):  # no API: the groups confirmed by hand, read from the database
            from flows.work_items import manual_connector

            return Runner(manual_connector(self, service))
        cls = connector_class(service)
        opts = {"retry": self.retry, "rate_limit": conn.rate_limit, **self.connector_options}
        if service in self.sandboxes:
            return Runner(cls.from_sandbox(self.sandboxes[service], **opts))
        if conn.sandbox:
            from config._yaml import ConfigError

            raise ConfigError(f"services.{service} is an in-process sandbox, which only `muster demo` provides; "
                              "point base_url at `muster sandbox serve` instead")
        creds = _credentials(conn, skip=EVENT_FIELDS)
        if "agentid" in type(conn).model_fields:  # WeCom and DingTalk apps have one; Feishu's and SCIM's do not
            creds["agentid"] = conn.agentid
        return Runner(cls(base_url=conn.base_url, transport=self.transports.get(service), **creds, **opts))

    def meeting_connector(self, service: str) -> Runner:
        """A new connector for meeting service ``service`` (``meetings:`` section), wrapped in the ``Runner``."""
        from config._yaml import ConfigError
        from connectors import meeting_connector_class

        conn = self.meetings.get(service)
        cls = meeting_connector_class(service)
        opts = {"retry": self.retry, "rate_limit": conn.rate_limit if conn else True, **self.connector_options}
        if service in self.sandboxes:
            return Runner(cls.from_sandbox(self.sandboxes[service], **opts))
        if conn is None:
            raise ConfigError(f"no meetings.{service} connection in the config (or it is not enabled)")
        if conn.sandbox:
            raise ConfigError(f"meetings.{service} is an in-process sandbox, which only `muster demo` provides; "
                              "point base_url at `muster sandbox serve` instead")
        creds = _credentials(conn, skip=MEETING_ONLY_FIELDS)
        return Runner(cls(base_url=conn.base_url, transport=self.transports.get(service), **creds, **opts))


def _credentials(conn, *, skip: set[str]) -> dict[str, Any]:
    """The connector's constructor arguments from a connection: every field but Muster's own, secrets resolved."""
    out = {}
    for name in type(conn).model_fields:
        if name in BASE_FIELDS or name in skip:
            continue
        value = getattr(conn, name)
        out[name] = value.resolve(_prefect_secret) if isinstance(value, SecretRef) else value
    return out


def _check_policy_services(cfg: TenantConfig, policy: Policy) -> None:
    from config._yaml import ConfigError

    for service in sorted(set(policy.resources)):
        if service not in cfg.services:
            raise ConfigError(f"the policy manages {service} resources but {cfg.file} has no "
                              f"services.{service} connection", file=cfg.file or "")


def _prefect_secret(name: str) -> str:
    from prefect.blocks.system import Secret

    return Secret.load(name).get()


__all__ = ["Workspace"]
