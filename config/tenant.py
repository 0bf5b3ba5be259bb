"""The tenant config file (``muster.yaml``): a coalition's database, policy and connections.

Secrets are only ever *references*: ``{env: NAME}`` or ``{prefect_secret: block-name}``.
A literal secret in the file is an error, so a config can be committed and shared.
Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from config._yaml import ConfigError, LocatedYaml, load_yaml, pydantic_error


class SecretRef(BaseModel):
    """Where a secret lives: an environment variable or a Prefect Secret block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    prefect_secret: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literals(cls, value):
        if isinstance(value, (str, int)):
            raise ValueError("secrets are only given by reference: use {env: VARIABLE} or {prefect_secret: NAME}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.env is None) == (self.prefect_secret is None):
            raise ValueError("give exactly one of env or prefect_secret")
        return self

    def resolve(self, prefect_lookup: Callable[[str], str] | None = None) -> SecretStr:
        """The secret's value; ``ConfigError`` when it is not set."""
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        if prefect_lookup is None:
            raise ConfigError(f"Prefect Secret block {self.prefect_secret!r} needs Prefect")
        return SecretStr(prefect_lookup(self.prefect_secret))


class _Connection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    rate_limit: bool = True  # the documented limits; off only against a local sandbox
    sandbox: bool = False  # run against an in-process sandbox (demo, tests)


class WeComConnection(_Connection):
    """WeCom self-built app: corp id, app secret, agent id, and the contacts-sync secret.

    ``contacts_secret`` is the secret of 通讯录同步 (contacts sync, 管理工具 → 通讯录同步).
    Real WeCom writes users and departments only with that secret's token, so it is
    required for contact writes; without it every call uses the app secret (reads, tags,
    chats and messages still work, user/department writes are refused with 48002).
    """

    service: Literal["wecom"] = "wecom"
    base_url: str = "https://qyapi.weixin.qq.com"
    corpid: str = Field(min_length=1)
    corpsecret: SecretRef
    agentid: int
    contacts_secret: SecretRef | None = None


class DingTalkConnection(_Connection):
    """DingTalk internal app: app key, app secret, agent id."""

    service: Literal["dingtalk"] = "dingtalk"
    base_url: str = "https://oapi.dingtalk.com"
    appkey: str = Field(min_length=1)
    appsecret: SecretRef
    agentid: int


class FeishuConnection(_Connection):
    """Feishu / Lark self-built app: app id and app secret (Lark: ``base_url: https://open.larksuite.com``).

    The app needs the contact, im and drive scopes Muster uses, including "get user_id"
    (``contact:user.employee_id:readonly``): Muster keys Feishu accounts by ``user_id``.
    """

    service: Literal["feishu"] = "feishu"
    base_url: str = "https://open.feishu.cn"
    app_id: str = Field(min_length=1)
    app_secret: SecretRef


class ScimConnection(_Connection):
    """Any SCIM 2.0 service provider: its SCIM endpoint and a bearer token.

    ``base_url`` is the root the provider serves ``/Users`` and ``/Groups`` under (often
    ending in ``/scim/v2``); ``page_size`` is the ``count`` asked for per list page, which
    a provider may serve fewer of.
    """

    service: Literal["scim"] = "scim"
    base_url: str
    token: SecretRef
    page_size: int = Field(100, ge=1, le=1000)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError("base_url must be the provider's SCIM endpoint URL, e.g. https://example.com/scim/v2")
        return value


CONNECTIONS = {"wecom": WeComConnection, "dingtalk": DingTalkConnection, "feishu": FeishuConnection,
               "scim": ScimConnection}
Connection = Annotated[WeComConnection | DingTalkConnection | FeishuConnection | ScimConnection,
                       Field(discriminator="service")]


class TencentMeetingConnection(_Connection):
    """Tencent Meeting enterprise app (AK/SK signing): training sessions and their attendance.

    ``operator_id`` is the enterprise user (an admin) who creates meetings and reads their
    participants. ``userid_from`` names a sync service whose account ids are the same as
    Tencent Meeting userids (enterprises commonly run it with their WeCom userids), so a
    participant can be matched to a person through that service's identities.
    ``organiser`` is the 组织方 of hours records for meetings the operator hosts (default:
    the coalition's name).
    """

    service: Literal["tencent_meeting"] = "tencent_meeting"
    base_url: str = "https://api.meeting.qq.com"
    app_id: str = Field(min_length=1)
    sdk_id: str = Field(min_length=1)
    secret_id: str = Field(min_length=1)
    secret_key: SecretRef
    operator_id: str = Field(min_length=1)
    userid_from: str | None = None
    organiser: str | None = None


# Meeting services are not sync services (the sync flow iterates ``services``): their own section.
MEETING_CONNECTIONS = {"tencent_meeting": TencentMeetingConnection}


class FormConnection(BaseModel):
    """A signup form: where its submissions come from and how they are authenticated.

    Jinshuju pushes carry no signature, so its push URL carries ``token`` (compared in
    constant time); Wenjuanxing signs each push with ``push_secret``. ``api_key`` and
    ``api_secret`` let ``muster forms poll`` read Jinshuju's API v1 instead of waiting for
    pushes. ``file`` forms only come in through ``muster forms import``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: Literal["jinshuju", "wenjuanxing", "file"]
    form: str = ""  # Jinshuju form token / Wenjuanxing activity id
    mapping: str | None = None  # the policy's forms.<mapping>; default: this form's name
    token: SecretRef | None = None
    push_secret: SecretRef | None = None
    base_url: str = "https://jinshuju.net"
    api_key: str | None = None
    api_secret: SecretRef | None = None
    max_body: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024)

    @model_validator(mode="after")
    def _auth_given(self):
        if self.service == "jinshuju" and self.token is None and self.api_key is None:
            raise ValueError("a jinshuju form needs token (for pushes) or api_key/api_secret (for polling)")
        if self.service == "wenjuanxing" and self.push_secret is None:
            raise ValueError("a wenjuanxing form needs push_secret (its pushes are signed with it)")
        if self.service != "file" and not self.form:
            raise ValueError(f"a {self.service} form needs form (its form token or activity id)")
        return self


class TenantConfig(BaseModel):
    """One coalition's config file."""

    model_config = ConfigDict(extra="forbid")

    coalition: str = Field(min_length=1)
    database: Path = Path("muster.db")
    policy: Path = Path("policy.yaml")
    reports: Path = Path("reports")
    services: dict[str, Connection] = Field(default_factory=dict)
    forms: dict[str, FormConnection] = Field(default_factory=dict)
    meetings: dict[str, TencentMeetingConnection] = Field(default_factory=dict)
    file: Path | None = Field(None, exclude=True)

    @field_validator("forms")
    @classmethod
    def _form_names(cls, value: dict) -> dict:
        import re

        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
                raise ValueError(f"form name {name!r}: use lower-case letters, digits and dashes (it is a URL path)")
        return value

    @field_validator("services", mode="before")
    @classmethod
    def _tag_services(cls, value):
        if not isinstance(value, dict):
            return value
        out = {}
        for name, conn in value.items():
            if name not in CONNECTIONS:
                raise ValueError(f"unknown service {name!r} (known: {', '.join(sorted(CONNECTIONS))})")
            out[name] = {**conn, "service": name} if isinstance(conn, dict) else conn
        return out

    def enabled(self) -> dict[str, Connection]:
        return {k: v for k, v in self.services.items() if v.enabled}

    @field_validator("meetings", mode="before")
    @classmethod
    def _meeting_services(cls, value):
        known = ", ".join(sorted(MEETING_CONNECTIONS))
        for name in value if isinstance(value, dict) else ():
            if name not in MEETING_CONNECTIONS:
                raise ValueError(f"unknown meeting service {name!r} (known: {known})")
        return value

    def enabled_meetings(self) -> dict[str, TencentMeetingConnection]:
        """The meeting services that are switched on."""
        return {k: v for k, v in self.meetings.items() if v.enabled}

    def resolve_paths(self, base: Path) -> TenantConfig:
        """Paths made absolute against ``base`` (the config file's folder)."""
        fix = {k: (base / getattr(self, k)).resolve() for k in ("database", "policy", "reports")}
        return self.model_copy(update=fix)


def load_config(path: str | Path) -> TenantConfig:
    """Load ``muster.yaml``; ``ConfigError`` names file, line and field."""
    path = Path(path)
    doc = load_yaml(path)
    return parse_config(doc).model_copy(update={"file": path}).resolve_paths(path.parent)


def parse_config(doc: LocatedYaml) -> TenantConfig:
    """Validate located YAML into a ``TenantConfig``."""
    if not isinstance(doc.data, dict):
        raise doc.error((), "the config must be a mapping (coalition, database, policy, services)")
    try:
        cfg = TenantConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise _located(doc, exc) from None
    _check_meetings(cfg, doc)
    return cfg


def _check_meetings(cfg: TenantConfig, doc: LocatedYaml) -> None:
    """``userid_from`` must name one of the config's sync services."""
    for name, conn in cfg.meetings.items():
        if conn.userid_from is not None and conn.userid_from not in cfg.services:
            known = ", ".join(sorted(cfg.services)) or "none"
            raise doc.error(("meetings", name, "userid_from"),
                            f"{conn.userid_from!r} is not a service of this config (services: {known})")


def _located(doc: LocatedYaml, exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    # tagged-union errors carry the tag in the location: ("services", "wecom", "wecom", "corpid")
    loc = list(first["loc"])
    if len(loc) >= 3 and loc[0] == "services" and loc[2] == loc[1]:
        del loc[2]
    fixed = [{**first, "loc": tuple(loc)}]

    class _Shim:
        def errors(self):
            return fixed

    return pydantic_error(doc, _Shim())


__all__ = ["CONNECTIONS", "MEETING_CONNECTIONS", "Connection", "DingTalkConnection", "FeishuConnection",
           "FormConnection", "ScimConnection", "SecretRef", "TenantConfig", "TencentMeetingConnection",
           "WeComConnection", "load_config", "parse_config"]
