"""The tenant config file (``muster.yaml``): a coalition's database, policy and connections.

Secrets are only ever *references*: ``{env: NAME}`` or ``{prefect_secret: block-name}``.
A literal secret in the file is an error, so a config can be committed and shared.
Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Literal

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

    ``verification_token`` (and ``encrypt_key``, if the app sets one) are the app's event
    subscription secrets: with them ``muster serve`` takes Feishu's events at ``/events/feishu``
    and records who changed a chat's members or a document's collaborators.
    """

    service: Literal["feishu"] = "feishu"
    base_url: str = "https://open.feishu.cn"
    app_id: str = Field(min_length=1)
    app_secret: SecretRef
    verification_token: SecretRef | None = None
    encrypt_key: SecretRef | None = None

    @model_validator(mode="after")
    def _events_need_token(self):
        if self.encrypt_key is not None and self.verification_token is None:
            raise ValueError("encrypt_key needs verification_token (events are taken only with it)")
        return self


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


DURATION = r"^\s*\d+\s*[dhm]\s*$"  # 2d, 12h, 90m (as the policy's review durations)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_MOBILE_SEPARATORS = re.compile(r"[\s\-()（）.·—_/]+")


class DeclaredMember(BaseModel):
    """One declared member of a manual group: a roster person id, or a name with a mobile.

    A bare string is a person id (``- P000012``). A member given by mobile is matched to the
    roster by that mobile, never by name alone; one no one in the roster has stays unmatched.
    ``level`` is the access a Shimo collaborator holds (view, edit, manage); chats take member.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(None, min_length=1)
    name: str | None = None
    mobile: str | None = None
    level: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value):
        if isinstance(value, str):
            return {"id": value}
        if isinstance(value, dict) and isinstance(value.get("mobile"), int):
            return {**value, "mobile": str(value["mobile"])}
        return value

    @field_validator("mobile")
    @classmethod
    def _plausible_mobile(cls, value: str | None) -> str | None:
        if value is not None and not plausible_mobile(value):
            raise ValueError(f"{value!r} is not a mobile number (11 digits from 13–19, or +country number)")
        return value

    @model_validator(mode="after")
    def _identified(self):
        if self.id is None and self.mobile is None:
            raise ValueError("give the member's person id or mobile: members are never matched by name alone")
        return self


def plausible_mobile(text: str) -> bool:
    """What ``mappings.normalize.normalize_mobile`` accepts (config may not import mappings)."""
    digits = _MOBILE_SEPARATORS.sub("", text.strip().translate({0xFF10 + i: 0x30 + i for i in range(10)}))
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if not digits.isdigit():
        return False
    if digits.startswith("00"):
        digits, plus = digits[2:], True
    mainland = re.compile(r"^1[3-9]\d{9}$")
    return bool((digits.startswith("86") and mainland.match(digits[2:])) or (plus and 8 <= len(digits) <= 15)
                or mainland.match(digits))


class DeclaredGroup(BaseModel):
    """A group no API can read: its key (the policy's resource key), name, owner and members as declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    name: str = Field(min_length=1, max_length=50)
    owner: str = Field(min_length=1)  # a roster person id: the one who makes the changes by hand
    kind: str | None = None  # default: chat (wechat), folder (shimo)
    members: list[DeclaredMember] = Field(default_factory=list)


class ManualConnection(_Connection):
    """A service without a usable membership API: its groups are declared, its changes made by people.

    ``groups`` are declared inline and/or in ``groups_file`` (CSV or XLSX, one row per member:
    group, name, owner, member, mobile, level — see README "WeChat groups and Shimo"). A
    change Muster plans becomes a work item for the group's owner, reminded after
    ``remind_after`` (e.g. ``2d``, ``12h``) while it stays open.
    """

    kinds: ClassVar[dict[str, tuple[str, ...]]] = {}
    groups: list[DeclaredGroup] = Field(default_factory=list)
    groups_file: Path | None = None
    remind_after: str = Field("2d", pattern=DURATION)

    @property
    def default_kind(self) -> str:
        return next(iter(self.kinds))

    def remind_delay(self) -> timedelta:
        """``remind_after`` as a timedelta."""
        text = self.remind_after.strip().replace(" ", "")
        return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


class WeChatConnection(ManualConnection):
    """Personal WeChat groups (微信群): no API at all; the groups' owners add and remove people by hand."""

    kinds: ClassVar[dict[str, tuple[str, ...]]] = {"chat": ("member",)}
    service: Literal["wechat"] = "wechat"


class ShimoConnection(ManualConnection):
    """Shimo docs (石墨文档) folders and files: no collaborator API (reference §6.3); owners share by hand."""

    kinds: ClassVar[dict[str, tuple[str, ...]]] = {"folder": ("view", "edit", "manage"),
                                                   "doc": ("view", "edit", "manage")}
    service: Literal["shimo"] = "shimo"


CONNECTIONS = {"wecom": WeComConnection, "dingtalk": DingTalkConnection, "feishu": FeishuConnection,
               "scim": ScimConnection, "wechat": WeChatConnection, "shimo": ShimoConnection}
Connection = Annotated[WeComConnection | DingTalkConnection | FeishuConnection | ScimConnection | WeChatConnection
                       | ShimoConnection, Field(discriminator="service")]


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
        fix["services"] = {k: v.model_copy(update={"groups_file": (base / v.groups_file).resolve()})
                           if getattr(v, "groups_file", None) else v for k, v in self.services.items()}
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
    _check_manual(cfg, doc)
    return cfg


def _check_meetings(cfg: TenantConfig, doc: LocatedYaml) -> None:
    """``userid_from`` must name one of the config's sync services."""
    for name, conn in cfg.meetings.items():
        if conn.userid_from is not None and conn.userid_from not in cfg.services:
            known = ", ".join(sorted(cfg.services)) or "none"
            raise doc.error(("meetings", name, "userid_from"),
                            f"{conn.userid_from!r} is not a service of this config (services: {known})")


def _check_manual(cfg: TenantConfig, doc: LocatedYaml) -> None:
    """Declared groups: unique keys, a kind the service has, member levels that kind takes."""
    for name, conn in cfg.services.items():
        if not isinstance(conn, ManualConnection):
            continue
        keys: set[str] = set()
        for i, group in enumerate(conn.groups):
            here = ("services", name, "groups", i)
            if group.key in keys:
                raise doc.error(here + ("key",), f"duplicate group key {group.key!r}")
            keys.add(group.key)
            kind = group.kind or conn.default_kind
            if kind not in conn.kinds:
                raise doc.error(here + ("kind",), f"{name} has no {kind}s (it has: {', '.join(conn.kinds)})")
            for j, member in enumerate(group.members):
                if member.level is not None and member.level not in conn.kinds[kind]:
                    raise doc.error(here + ("members", j, "level"), f"a {name} {kind} member is "
                                    f"{' or '.join(conn.kinds[kind])}, not {member.level!r}")


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


__all__ = ["CONNECTIONS", "MEETING_CONNECTIONS", "Connection", "DeclaredGroup", "DeclaredMember",
           "DingTalkConnection", "FeishuConnection", "FormConnection", "ManualConnection", "ScimConnection",
           "SecretRef", "ShimoConnection", "TenantConfig", "TencentMeetingConnection", "WeChatConnection",
           "WeComConnection", "load_config", "parse_config", "plausible_mobile"]
