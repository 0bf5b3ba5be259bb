"""The manual connector: services whose groups only people can read or change.

Personal WeChat groups have no API at all; Shimo (石墨文档) has none for collaborators
(reference §6.3). For such a service Muster's "observed state" is what is confirmed by
hand — the groups as declared, then every work item marked done — plus what open work
items have asked their owners to do (the stored last-applied state covering a service
that cannot be read back, as for any write whose effect cannot be seen yet). The flows
build it (``flows.work_items.manual_connector``) and hand it over whole, so this class
only serves the read protocols the pull step uses: ``list_people`` and, for the chats,
folders and files the policy names, ``get_group`` and ``list_members``.

There are no writes: the apply step turns a manual service's changes into work items. A
write that reaches this connector anyway (an offboarding's hand-over) is refused with a
message that says a person must do it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from connectors._errors import NotFound, PermissionDenied
from connectors.manual.models import ManualGroup
from mappings.models import Account, ApplyResult, Group, Member


class ManualConnector:
    """One manual service (``wechat``, ``shimo``) over the groups the flows confirmed."""

    def __init__(self, service: str, groups: Iterable[ManualGroup] = ()):
        self.name = service
        self.groups = {(g.kind, g.external_id): g for g in groups}

    def check(self) -> None:
        """Nothing to reach: a manual service is always there."""

    def close(self) -> None:
        """Nothing to close."""

    def list_people(self) -> Iterator[Account]:
        """Everyone in a group or owning one, once each (by member id)."""
        seen: set[str] = set()
        for group in sorted(self.groups.values(), key=lambda g: g.key):
            for m in ((group.owner,) if group.owner else ()) + group.members:
                if m.member_id not in seen:
                    seen.add(m.member_id)
                    yield Account(service=self.name, external_id=m.member_id, name=m.name, mobile=m.mobile)

    def get_group(self, kind: str, external_id: str) -> Group:
        """A declared group by the id the policy gives it; ``NotFound`` when it is not declared."""
        group = self.groups.get((kind, external_id))
        if group is None:
            raise NotFound(f"no {kind} {external_id!r} is declared (services.{self.name}.groups or groups_file)",
                           service=self.name)
        return Group(service=self.name, kind=group.kind, external_id=group.external_id, name=group.name,
                     owner=group.owner.member_id if group.owner else None)

    def list_members(self, group: Group) -> Iterator[Member]:
        """The group's members at their levels; its owner at ``owner``."""
        found = self.groups.get((group.kind, group.external_id))
        if found is None:
            raise NotFound(f"no {group.kind} {group.external_id!r} is declared", service=self.name)
        owner = found.owner.member_id if found.owner else None
        for m in found.members:
            if m.member_id != owner:
                yield Member(external_id=m.member_id, level=m.level)
        if owner:
            yield Member(external_id=owner, level="owner")

    def apply_membership(self, group: Group, delta) -> ApplyResult:
        """Refused: people change a manual group (see ``muster tasks``)."""
        raise PermissionDenied(_BY_HAND, service=self.name)

    def transfer_owner(self, group: Group, to_external_id: str) -> ApplyResult:
        """Refused: people change a manual group (see ``muster tasks``)."""
        raise PermissionDenied(_BY_HAND, service=self.name)


_BY_HAND = "no API for this: a person makes the change by hand (see `muster tasks`)"

__all__ = ["ManualConnector"]
