"""Who a broadcast or a training session is for: ``all``, ``team:X``, ``role:Y`` or ``person:ID``.

Several scopes may be given; a person is in scope when any of them includes them. Only
``active`` people are ever in scope: applicants, leavers and those who left are not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from mappings.models import Person

KINDS = ("all", "team", "role", "person")


class ScopeError(ValueError):
    """A scope text that names no known kind, or an unknown team or role."""


@dataclass(frozen=True)
class Scope:
    """One ``--to`` value, parsed."""

    kind: str
    value: str = ""

    def __str__(self) -> str:
        return self.kind if self.kind == "all" else f"{self.kind}:{self.value}"

    def includes(self, person: Person, roles: frozenset[str]) -> bool:
        if person.status != "active":
            return False
        if self.kind == "all":
            return True
        if self.kind == "team":
            return person.team == self.value
        if self.kind == "person":
            return person.id == self.value
        return self.value in roles


def parse_scope(text: str, *, teams: Iterable[str] | None = None, roles: Iterable[str] | None = None) -> Scope:
    """``all`` | ``team:X`` | ``role:Y`` | ``person:ID``; with ``teams``/``roles`` given, unknown names are errors."""
    raw = text.strip()
    if raw == "all":
        return Scope("all")
    kind, sep, value = raw.partition(":")
    kind, value = kind.strip(), value.strip()
    if not sep or kind not in ("team", "role", "person") or not value:
        raise ScopeError(f"scope {text!r}: use all, team:<team>, role:<role> or person:<id>")
    if kind == "person":
        return Scope(kind, value)
    known = teams if kind == "team" else roles
    if known is not None and value not in set(known):
        names = ", ".join(sorted(known)) or "none"
        raise ScopeError(f"scope {text!r}: no {kind} {value!r} in the policy (known: {names})")
    return Scope(kind, value)


def in_scope(people: Iterable[Person], scopes: Iterable[Scope], today: date) -> list[Person]:
    """Active people any of ``scopes`` includes, in roster order, once each."""
    scopes = list(scopes)
    return [p for p in people if any(s.includes(p, p.role_names(today)) for s in scopes)]


__all__ = ["KINDS", "Scope", "ScopeError", "in_scope", "parse_scope"]
