"""Removal guards: the promises trusted provisioning systems make, applied to a plan.

1. Never remove because a read failed or came back empty: a service whose read was
   incomplete, or which listed no accounts at all, gets no removals.
2. A removal wave above a threshold stops: more than ``max_removal_fraction`` of one
   target's members (or accounts) — counted after this plan's additions to it — or more
   than ``max_removals`` in one service, waits for an explicit ``--allow-removals``.

Held changes leave the plan and become refusals that say how to proceed.
"""

from __future__ import annotations

from collections import Counter

from mappings.models import Change, Observed, Refusal
from mappings.policy import Guards


def _is_removal(change: Change) -> bool:
    return change.op == "remove" and change.object_id != "*"


def guard_plan(changes: list[Change], observed: dict[str, Observed], guards: Guards, *,
               allow_removals: bool = False) -> tuple[list[Change], list[Refusal]]:
    """Split ``changes`` into those that may go out and refusals for held removals."""
    held: set[str] = set()
    refused: list[Refusal] = []
    removals = [c for c in changes if _is_removal(c)]
    for service, obs in sorted(observed.items()):
        mine = [c for c in removals if c.service == service]
        if mine and (not obs.complete or not obs.accounts):
            why = "its read failed" if not obs.complete else "its read came back empty"
            refused.append(Refusal(service=service, target="*", count=len(mine), held=True,
                                   reason=f"held {len(mine)} removal(s) from {service}: {why}; "
                                          "nothing is removed on a failed or empty read"))
            held.update(c.key for c in mine)
    if not allow_removals:
        _hold_waves(changes, removals, held, refused, observed, guards)
    return [c for c in changes if c.key not in held], refused


def _hold_waves(changes: list[Change], removals: list[Change], held: set[str], refused: list[Refusal],
                observed: dict[str, Observed], guards: Guards) -> None:
    per_target = Counter((c.service, c.target) for c in removals if c.key not in held)
    for (service, target), count in sorted(per_target.items()):
        size = _target_size(observed.get(service), changes, service, target)
        if size and count > guards.max_removal_fraction * size:
            what = "active accounts" if target == "account" else "members"
            _hold(removals, held, refused, service, target,
                  f"held {count} removal(s) from {target}: {count / size:.0%} of its {size} {what} is above "
                  f"the {guards.max_removal_fraction:.0%} guard; re-run with --allow-removals to approve")
    per_service = Counter(c.service for c in removals if c.key not in held)
    for service, count in sorted(per_service.items()):
        if count > guards.max_removals:
            _hold(removals, held, refused, service, None,
                  f"held {count} removal(s) from {service}: above the guard of {guards.max_removals} "
                  "in one run; re-run with --allow-removals to approve")


def _target_size(obs: Observed | None, changes: list[Change], service: str, target: str) -> int:
    """The target's size now, or after this plan's additions if it is growing.

    A group that gains fifty members and loses one is not a removal wave; a group that only
    shrinks is measured against what it holds now.
    """
    if obs is None:
        return 0
    mine = [c for c in changes if c.service == service and c.target == target]
    adds = sum(1 for c in mine if c.op == "add" and c.object_id != "*")
    if target == "account":
        return sum(1 for a in obs.accounts if a.active) + adds
    group_ids = {c.group_id for c in mine if c.group_id}
    return sum(len(obs.members.get(g, [])) for g in group_ids) + adds


def _hold(removals: list[Change], held: set[str], refused: list[Refusal], service: str,
          target: str | None, reason: str) -> None:
    keys = [c.key for c in removals if c.service == service and (target is None or c.target == target)
            and c.key not in held]
    held.update(keys)
    refused.append(Refusal(service=service, target=target or "*", reason=reason, count=len(keys), held=True))


__all__ = ["guard_plan"]
