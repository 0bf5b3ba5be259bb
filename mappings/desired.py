"""Desired state: who should have what, computed from roster + policy alone.

For every person and every rule that matches them, each grant of the rule adds a
``Want`` (level + the rule names that gave it) on that resource. Several rules granting
the same resource merge to the highest level and keep every rule name, so each planned
change can say exactly which rules want it. A person who holds any grant in a service
needs an account there. A person whose signup withheld consent for a service gets nothing
there.

Exceptions come last: facts an admin took in by hand (a drift adopted, a removal from an
access review). A ``deny`` takes an active person off a resource whatever the rules say; a
``grant`` sets their level there exactly, named after its source (``adopted D1a2b3c4``).
Exceptions never reach people who are not active, so a leaver loses them like any grant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from mappings.forms import consented
from mappings.models import LEVEL_RANK, Person
from mappings.policy import Policy, Rule


@dataclass(frozen=True)
class Want:
    """A desired level on one resource for one person, and the rules behind it."""

    level: str
    rules: tuple[str, ...]

    def merge(self, other: Want) -> Want:
        level = self.level if LEVEL_RANK[self.level] >= LEVEL_RANK[other.level] else other.level
        return Want(level, tuple(sorted(set(self.rules) | set(other.rules))))


@dataclass(frozen=True)
class GrantException:
    """A grant an admin set by hand on a policy resource: ``effect`` grant (at ``level``) or deny."""

    service: str
    resource: str
    person_id: str
    effect: str
    level: str | None = None
    source: str = "exception"


@dataclass
class DesiredService:
    """Everything one service should hold."""

    service: str
    grants: dict[str, dict[str, Want]] = field(default_factory=lambda: defaultdict(dict))  # key → pid → want
    accounts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # person id → rules

    def members_of(self, key: str) -> dict[str, Want]:
        return self.grants.get(key, {})


def matches(rule: Rule, person: Person, roles: frozenset[str]) -> bool:
    """Whether ``person`` (holding ``roles`` today) meets every condition of ``rule``."""
    when = rule.when
    if person.status not in when.status:
        return False
    if when.role is not None and not roles.intersection(when.role):
        return False
    if when.team is not None and person.team not in when.team:
        return False
    if when.tier is not None and person.tier not in when.tier:
        return False
    return all(person.attributes.get(k) in v for k, v in when.attributes.items())


def desired_state(people: list[Person], policy: Policy, today: date,
                  exceptions: Iterable[GrantException] = ()) -> dict[str, DesiredService]:
    """Desired grants and accounts per service for every service the policy names, exceptions applied."""
    services = set(policy.resources) | set(policy.services)
    out = {s: DesiredService(s) for s in services}
    rules_of: dict[str, dict[str, set[str]]] = {s: {} for s in services}
    for person in people:
        roles = person.role_names(today)
        for rule in policy.rules:
            if not matches(rule, person, roles):
                continue
            for grant in rule.grant:
                if not consented(person.attributes, grant.service):
                    continue  # the volunteer did not agree to be put in this service
                grants = out[grant.service].grants[grant.key]
                want = Want(grant.level, (rule.name,))
                current = grants.get(person.id)
                grants[person.id] = current.merge(want) if current else want
                rules_of[grant.service].setdefault(person.id, set()).add(rule.name)
    _apply_exceptions(out, rules_of, exceptions, {p.id for p in people if p.status == "active"})
    for service, by_person in rules_of.items():
        out[service].accounts = {pid: tuple(sorted(names)) for pid, names in by_person.items()}
    return out


def _apply_exceptions(out: dict[str, DesiredService], rules_of: dict[str, dict[str, set[str]]],
                      exceptions: Iterable[GrantException], active: set[str]) -> None:
    for exc in exceptions:
        if exc.service not in out or exc.person_id not in active:
            continue
        grants = out[exc.service].grants[exc.resource]
        if exc.effect == "deny":
            grants.pop(exc.person_id, None)
        elif exc.level:
            grants[exc.person_id] = Want(exc.level, (exc.source,))
            rules_of[exc.service].setdefault(exc.person_id, set()).add(exc.source)


__all__ = ["DesiredService", "GrantException", "Want", "desired_state", "matches"]
