"""The records of a manual service: groups as people confirmed them, and members as a list names them.

No API stands behind these, so there are no raw payloads: a group is built by the flows
from the declaration (muster.yaml or a groups file) and the work items marked done, and
handed to ``ManualConnector`` whole.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ManualMember(_Frozen):
    """One member of a manual group: ``member_id`` is the id Muster knows them by in that service.

    A roster person's id is ``userid_for(prefix, person id)``; someone the roster does not
    know (yet) is ``tel:<mobile>``, so identity resolution can still match them by mobile.
    """

    member_id: str
    name: str = ""
    mobile: str | None = None  # normalised (+86…)
    level: str = "member"  # member (chats); view, edit, manage (Shimo folders and files)


class ManualGroup(_Frozen):
    """A declared group: ``key`` is the policy's resource key, ``external_id`` what the policy calls it."""

    key: str
    external_id: str
    kind: str
    name: str
    owner: ManualMember | None = None  # the person who makes the changes by hand
    members: tuple[ManualMember, ...] = ()


class DeclaredMember(_Frozen):
    """A member as declared: a roster person id, or a mobile (with the name a list shows)."""

    person_id: str | None = None
    name: str = ""
    mobile: str | None = None  # normalised
    level: str
    where: str  # "services.wechat.groups[0].members[2]" or "row 7": for errors about it


class DeclaredGroup(_Frozen):
    """A group as declared in muster.yaml or a groups file, before its people are looked up."""

    key: str
    kind: str
    name: str
    owner: str  # a roster person id
    members: tuple[DeclaredMember, ...] = ()
    file: str  # where it was declared
    where: str


class ListedMember(_Frozen):
    """One line of an exported member list: a name, a mobile, or both."""

    line: int
    name: str = ""
    mobile: str | None = None


__all__ = ["DeclaredGroup", "DeclaredMember", "ListedMember", "ManualGroup", "ManualMember"]
