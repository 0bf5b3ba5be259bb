"""The policy: which roster facts grant which access, in which service.

A policy is YAML validated by pydantic (Airbyte-style discriminated models, no template
or expression language). Rules say *when* (role, team, tier, status, attributes — each
an any-of list, all given keys must match) and *grant* (a resource by ``service/key`` at
a level). Everything a rule names must be declared: roles, teams, tiers, resources, so a
typo is an error with file, line and field instead of a silent no-op.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config._yaml import ConfigError, LocatedYaml, load_yaml, load_yaml_text, pydantic_error
from mappings.forms import FormSpec
from mappings.hours import HoursRule
from mappings.models import GroupKind, Level, Status, digest
from mappings.services import ACCESS_KINDS, SERVICES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Guards(_Strict):
    """Removal waves above these stop and wait for ``--allow-removals``."""

    max_removal_fraction: float = Field(0.10, ge=0, le=1)
    max_removals: int = Field(50, ge=0)


class ServicePolicy(_Strict):
    """Per-service behaviour."""

    leavers: Literal["remove", "keep"] = "remove"  # remove = the service's removal (disable/delete)
    unknown_members: Literal["keep", "remove"] = "keep"  # members matching no roster person
    userid_prefix: str = Field("m", pattern=r"^[a-z][a-z0-9]{0,9}$")


class BroadcastPolicy(_Strict):
    """How ``muster broadcast`` reaches people: the channels, best first."""

    channels: list[str] = Field(default_factory=lambda: ["dingtalk", "wecom", "feishu"], min_length=1)


class PrivacyPolicy(_Strict):
    """Who reads personal data in full in reports: readers in these tiers (and active); everyone else masked."""

    see_contacts: list[str] = Field(default_factory=list)

    _tiers = field_validator("see_contacts", mode="before")(lambda v: [v] if isinstance(v, str) else v)


DURATION = r"^[1-9][0-9]*[dhm]$"  # 7d, 36h, 90m
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def duration(text: str) -> timedelta:
    """``7d`` / ``36h`` / ``90m`` as a timedelta; ValueError for anything else."""
    if not re.fullmatch(DURATION, text.strip()):
        raise ValueError(f"{text!r} is not a duration: use a number and d, h or m (7d, 36h, 90m)")
    text = text.strip()
    return timedelta(**{_UNITS[text[-1]]: int(text[:-1])})


class ReviewPolicy(_Strict):
    """Access reviews: who answers for what no one owns, and when reminders and escalation come."""

    coordinator: str | None = None  # a person id or a role key (its first active holder)
    deadline: str = "7d"
    remind_after: str = "2d"

    @field_validator("coordinator")
    @classmethod
    def _one_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\S+", value):
            raise ValueError(f"{value!r}: name one person id or role key")
        return value

    @field_validator("deadline", "remind_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration(value)
        return value.strip()


class Named(_Strict):
    """A declared role or team."""

    name: str


class Resource(_Strict):
    """A department, tag, chat, document or folder Muster manages in one service."""

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    kind: GroupKind
    name: str = Field(min_length=1, max_length=50)
    parent: str | None = None  # parent department key (departments only)
    external_id: str | None = None  # when the group already exists and cannot be found by name


class GrantSpec(_Strict):
    """``resource: wecom/all-hands``, ``level: member``."""

    resource: str = Field(pattern=r"^[a-z]+/[a-z0-9][a-z0-9-]*$")
    level: Level = "member"

    @property
    def service(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.resource.split("/", 1)[1]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, int)) else value


class When(_Strict):
    """Conditions; each is any-of, all given ones must hold. Empty = every person in ``status``."""

    role: list[str] | None = None
    team: list[str] | None = None
    tier: list[str] | None = None
    status: list[Status] = ["active", "leaving"]
    attributes: dict[str, list[str]] = Field(default_factory=dict)

    _lists = field_validator("role", "team", "tier", "status", mode="before")(_as_list)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attr_lists(cls, value: Any) -> Any:
        return {k: _as_list(v) for k, v in value.items()} if isinstance(value, dict) else value


class Rule(_Strict):
    """One named rule: when → grants."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    when: When = When()
    grant: list[GrantSpec] = Field(min_length=1)
    description: str = ""

    _grants = field_validator("grant", mode="before")(lambda v: [v] if isinstance(v, dict) else v)


class Policy(_Strict):
    """The whole policy file."""

    version: Literal[1] = 1
    guards: Guards = Guards()
    services: dict[str, ServicePolicy] = Field(default_factory=dict)
    roles: dict[str, Named] = Field(default_factory=dict)
    teams: dict[str, Named] = Field(default_factory=dict)
    tiers: list[str] = Field(default_factory=list)
    resources: dict[str, list[Resource]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    forms: dict[str, FormSpec] = Field(default_factory=dict)
    successors: dict[str, str] = Field(default_factory=dict)  # role → who takes over a leaver's things
    hours: HoursRule = HoursRule()  # how meeting minutes round to service hours
    broadcast: BroadcastPolicy = BroadcastPolicy()
    privacy: PrivacyPolicy = PrivacyPolicy()
    review: ReviewPolicy = ReviewPolicy()

    def resource(self, service: str, key: str) -> Resource:
        for res in self.resources.get(service, []):
            if res.key == key:
                return res
        raise KeyError(f"{service}/{key}")

    def service(self, name: str) -> ServicePolicy:
        return self.services.get(name) or ServicePolicy()

    @property
    def digest(self) -> str:
        return digest(self.model_dump(mode="json"))

    def role_key(self, label: str) -> str | None:
        """A role's key from its key or display name (spreadsheets use either)."""
        return _lookup(self.roles, label)

    def team_key(self, label: str) -> str | None:
        """A team's key from its key or display name."""
        return _lookup(self.teams, label)


def _lookup(table: dict[str, Named], label: str) -> str | None:
    label = label.strip()
    if label in table:
        return label
    for key, named in table.items():
        if named.name == label:
            return key
    return None


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file; ``ConfigError`` names file, line and field."""
    return parse_policy(load_yaml(path))


def parse_policy_text(text: str, file: str = "policy.yaml") -> Policy:
    """Parse policy YAML given as text."""
    return parse_policy(load_yaml_text(text, file))


def parse_policy(doc: LocatedYaml) -> Policy:
    """Validate located YAML into a ``Policy`` and cross-check every name it uses."""
    if not isinstance(doc.data, dict):
        raise doc.error((), "a policy must be a mapping with rules, resources, roles ...")
    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    _check_resources(policy, doc)
    _check_rules(policy, doc)
    _check_forms(policy, doc)
    _check_privacy(policy, doc)
    _check_review(policy, doc)
    return policy


def _check_review(policy: Policy, doc: LocatedYaml) -> None:
    if duration(policy.review.remind_after) >= duration(policy.review.deadline):
        raise doc.error(("review", "remind_after"), f"remind_after {policy.review.remind_after} must be shorter "
                        f"than the deadline {policy.review.deadline}")


def _check_privacy(policy: Policy, doc: LocatedYaml) -> None:
    for i, tier in enumerate(policy.privacy.see_contacts):
        if tier not in policy.tiers:
            known = ", ".join(policy.tiers) or "none declared"
            raise doc.error(("privacy", "see_contacts", i), f"unknown tier {tier!r} (known: {known})")


def _check_resources(policy: Policy, doc: LocatedYaml) -> None:
    for service in set(policy.services) | set(policy.resources):
        if service not in SERVICES:
            where = ("services", service) if service in policy.services else ("resources", service)
            raise doc.error(where, f"unknown service {service!r} (known: {', '.join(sorted(SERVICES))})")
    for service, resources in policy.resources.items():
        traits, keys = SERVICES[service], set()
        for i, res in enumerate(resources):
            here = ("resources", service, i)
            if res.kind not in traits.kinds:
                raise doc.error(here + ("kind",), f"{service} has no {res.kind}s "
                                f"(it has: {', '.join(traits.kinds)})")
            if res.key in keys:
                raise doc.error(here + ("key",), f"duplicate resource key {res.key!r}")
            keys.add(res.key)
        for i, res in enumerate(resources):
            if res.kind in ACCESS_KINDS:
                _check_document(service, traits, res, doc, ("resources", service, i))
            if res.parent is not None and (res.kind != "department" or res.parent not in keys):
                raise doc.error(("resources", service, i, "parent"),
                                f"parent must be another department of {service}, got {res.parent!r}")


def _check_document(service: str, traits, res: Resource, doc: LocatedYaml, here: tuple) -> None:
    """A doc or folder is named by ``"<type>:<token>"``: Muster neither creates nor finds them by name."""
    types = ("folder",) if res.kind == "folder" else traits.doc_types
    example = f"{types[0]}:<token>" if types else "<type>:<token>"
    if not res.external_id:
        raise doc.error(here + ("key",), f"{service} {res.kind} {res.key!r} needs external_id "
                        f"({example}, from its URL): documents are shared, never created or found by name")
    kind, sep, token = res.external_id.partition(":")
    if not sep or kind not in types or not re.fullmatch(r"[A-Za-z0-9_-]{4,64}", token):
        raise doc.error(here + ("external_id",), f"{res.external_id!r} is not a {service} {res.kind} id: "
                        f"want {example} with type one of {', '.join(types)}")


def _check_rules(policy: Policy, doc: LocatedYaml) -> None:
    names: set[str] = set()
    for i, rule in enumerate(policy.rules):
        here = ("rules", i)
        if rule.name in names:
            raise doc.error(here + ("name",), f"duplicate rule name {rule.name!r}")
        names.add(rule.name)
        for field, table in (("role", policy.roles), ("team", policy.teams), ("tier", policy.tiers)):
            for value in getattr(rule.when, field) or []:
                if value not in table:
                    known = ", ".join(table) or "none declared"
                    raise doc.error(here + ("when", field), f"unknown {field} {value!r} (known: {known})")
        for j, grant in enumerate(rule.grant):
            _check_grant(policy, doc, grant, here + ("grant", j))


def _check_forms(policy: Policy, doc: LocatedYaml) -> None:
    for name, spec in policy.forms.items():
        for i, rule in enumerate(spec.screening):
            here = ("forms", name, "screening", i)
            for role in rule.roles:
                if role not in policy.roles:
                    raise doc.error(here + ("roles",), f"unknown role {role!r} (known: {', '.join(policy.roles)})")
            if rule.team is not None and rule.team not in policy.teams:
                raise doc.error(here + ("team",), f"unknown team {rule.team!r} (known: {', '.join(policy.teams)})")
            if rule.tier is not None and rule.tier not in policy.tiers:
                raise doc.error(here + ("tier",), f"unknown tier {rule.tier!r} (known: {', '.join(policy.tiers)})")
        for service in {t.split(".", 1)[1] for t in spec.fields.values() if t.startswith("consent.")}:
            if service not in SERVICES:
                raise doc.error(("forms", name, "fields"), f"consent for unknown service {service!r}")
    for role in policy.successors:
        if role not in policy.roles:
            raise doc.error(("successors", role), f"unknown role {role!r}")
    seen: set[str] = set()
    for i, service in enumerate(policy.broadcast.channels):
        if service not in MESSAGE_CHANNELS or service in seen:
            why = "listed twice" if service in seen else f"not a message channel (use {', '.join(MESSAGE_CHANNELS)})"
            raise doc.error(("broadcast", "channels", i), f"{service!r} is {why}")
        seen.add(service)


MESSAGE_CHANNELS = ("dingtalk", "wecom", "feishu")  # services whose connectors send notices


def _check_grant(policy: Policy, doc: LocatedYaml, grant: GrantSpec, here: tuple) -> None:
    if grant.service not in SERVICES:
        raise doc.error(here + ("resource",), f"unknown service {grant.service!r}")
    try:
        res = policy.resource(grant.service, grant.key)
    except KeyError:
        raise doc.error(here + ("resource",), f"unknown resource {grant.resource!r} "
                        f"(declare it under resources.{grant.service})") from None
    allowed = SERVICES[grant.service].kinds[res.kind]
    if grant.level not in allowed:
        raise doc.error(here + ("level",), f"a {grant.service} {res.kind} takes level "
                        f"{' or '.join(allowed)}, not {grant.level!r}")


__all__ = [
    "BroadcastPolicy",
    "ConfigError",
    "GrantSpec",
    "Guards",
    "Named",
    "Policy",
    "PrivacyPolicy",
    "ReviewPolicy",
    "Resource",
    "Rule",
    "ServicePolicy",
    "When",
    "duration",
    "load_policy",
    "parse_policy",
    "parse_policy_text",
]
