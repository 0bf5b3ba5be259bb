"""The Feishu connector: roster, departments, chats, messages and document access.

Accounts are keyed by ``open_id``: it is what every API here takes without extra scopes
(chat members, messages, drive ``member_type=openid``), while ``user_id`` needs the
"get user_id" scope and ``union_id`` spans apps of one developer. ``union_id`` is kept in
``Account.union_id`` for correlation. An ``open_id`` is per app: a second Feishu app sees
other ids for the same people.

People are read by walking departments from the root ``"0"`` and paging each one's direct
members (``find_by_department``); a user in several departments is yielded once.

Chat writes read the chat first and send only what is missing; a new owner is added
first, then made owner (``PUT owner_id``), and only then are old members removed, so a
removal of the owner (232076) is never sent. Document access lives on drive v1
permission members: a ``doc``/``folder`` group's ``external_id`` is ``"<type>:<token>"``.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import InvalidPayload
from connectors._http import RetryPolicy
from connectors.feishu.client import BASE_URL, DOC_TYPES, MEMBER_BATCH, ROOT_DEPT, FeishuClient
from connectors.feishu.models import FeishuChat, FeishuDepartment, FeishuUser
from mappings.models import AccessDelta, Account, ApplyResult, Group, GroupSpec, Member, MembershipDelta

SANDBOX_URL = "http://feishu.sandbox"
LEVEL_TO_PERM = {"view": "view", "edit": "edit", "manage": "full_access"}
PERM_TO_LEVEL = {"view": "view", "edit": "edit", "full_access": "manage", "owner": "owner"}


class FeishuConnector:
    """Muster's capabilities on Feishu (a self-built app with contact, im and drive rights)."""

    name = "feishu"

    def __init__(self, *, base_url: str = BASE_URL, app_id: str, app_secret: SecretStr | str,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None,
                 rate_limit: bool = True, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        secret = app_secret if isinstance(app_secret, SecretStr) else SecretStr(app_secret)
        self.client = FeishuClient(base_url=base_url, app_id=app_id, app_secret=secret, transport=transport,
                                   retry=retry, rate_limit=rate_limit, clock=clock, sleep=sleep)

    @classmethod
    def from_sandbox(cls, sandbox: Any, **kw: Any) -> FeishuConnector:
        """A connector wired to an in-process ``FeishuSandbox`` and its credentials."""
        creds = sandbox.credentials
        kw.setdefault("base_url", SANDBOX_URL)
        kw.setdefault("transport", sandbox.transport())
        return cls(app_id=creds["app_id"], app_secret=SecretStr(creds["app_secret"]), **kw)

    def check(self) -> None:
        """Fetch a token and read the root department (``AuthError`` on bad credentials)."""
        self.client.get_department(ROOT_DEPT)

    def close(self) -> None:
        self.client.close()

    # --- people and groups ---------------------------------------------------------

    def list_people(self) -> Iterator[Account]:
        """Every user of every department the app can see, once each."""
        seen: set[str] = set()
        for dept_id in self._department_ids():
            for user in self.client.list_department_users(dept_id):
                if user.open_id not in seen:
                    seen.add(user.open_id)
                    yield _account(user)

    def list_groups(self) -> Iterator[Group]:
        """The root department, every department below it, then the chats the bot is in."""
        yield _department(self.client.get_department(ROOT_DEPT))
        queue = deque([ROOT_DEPT])
        while queue:
            for child in self.client.list_child_departments(queue.popleft()):
                queue.append(child.department_id)
                yield _department(child)
        for chat in self.client.list_chats():
            yield _chat(chat)

    def get_group(self, kind: str, external_id: str) -> Group:
        """A department, chat, or doc/folder (read through its permission list: drive gives no title here)."""
        if kind == "department":
            return _department(self.client.get_department(external_id))
        if kind == "chat":
            return _chat(self.client.get_chat(external_id))
        if kind in ("doc", "folder"):
            group = Group(service=self.name, kind=kind, external_id=external_id, name=external_id)
            doc_type, token = _doc(group)
            self.client.list_permission_members(token, doc_type)
            return group
        raise InvalidPayload(f"Feishu has no {kind!r} groups here", service=self.name)

    def list_members(self, group: Group) -> Iterator[Member]:
        """A chat's members (its owner at level "owner"), a department's direct members, or doc grants."""
        if group.kind == "chat":
            owner = self.client.get_chat(group.external_id).owner_id
            for member in self.client.list_chat_members(group.external_id):
                yield Member(external_id=member.member_id, level="owner" if member.member_id == owner else "member")
        elif group.kind == "department":
            for user in self.client.list_department_users(group.external_id):
                yield Member(external_id=user.open_id)
        elif group.kind in ("doc", "folder"):
            yield from self.list_grants(group)
        else:
            raise InvalidPayload(f"Feishu has no {group.kind!r} groups here", service=self.name)

    def _department_ids(self) -> Iterator[str]:
        queue = deque([ROOT_DEPT])
        while queue:
            dept_id = queue.popleft()
            yield dept_id
            queue.extend(d.department_id for d in self.client.list_child_departments(dept_id))

    # --- chats ---------------------------------------------------------------------

    def create_group(self, spec: GroupSpec) -> ApplyResult:
        """Create a chat owned by ``spec.owner``; ``spec.external_id`` is the de-duplication ``uuid``."""
        if spec.kind != "chat":
            raise InvalidPayload(f"Feishu groups of kind {spec.kind!r} are not created here", service=self.name)
        owner = spec.owner or (spec.members[0] if spec.members else None)
        if not owner:
            raise InvalidPayload("a Feishu chat needs an owner", service=self.name)
        key = spec.external_id or uuidlib.uuid4().hex
        chat_id = str(self.client.create_chat(spec.name, owner, [owner], key)["chat_id"])
        rest = sorted(set(spec.members) - {owner})
        calls, rejected = self._add(chat_id, rest)
        return ApplyResult(created_id=chat_id, calls=1 + calls, rejected=rejected)

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult:
        """Add/remove chat members and change the owner, in the safe order, sending only what is missing."""
        if group.kind != "chat":
            raise InvalidPayload(f"Feishu {group.kind!r} membership is not written here", service=self.name)
        chat_id = group.external_id
        owner = self.client.get_chat(chat_id).owner_id
        members = {m.member_id for m in self.client.list_chat_members(chat_id)}
        new_owner = delta.owner if delta.owner and delta.owner != owner else None
        add = (set(delta.add) | ({new_owner} if new_owner else set())) - members
        remove = set(delta.remove) & members
        if owner in remove and not new_owner:
            raise InvalidPayload("cannot remove the chat's owner without naming a new one", service=self.name)
        if not (add or remove or new_owner):
            return ApplyResult(calls=0, detail="already in place")
        adds = ([new_owner] if new_owner in add else []) + sorted(add - {new_owner})
        calls, rejected = self._add(chat_id, adds)
        if new_owner:
            if new_owner in rejected:
                raise InvalidPayload(f"new owner {new_owner} could not join the chat", service=self.name)
            self.client.set_chat_owner(chat_id, new_owner)
            calls += 1
        for batch in _chunks(sorted(remove), MEMBER_BATCH):
            self.client.remove_chat_members(chat_id, batch)
            calls += 1
        return ApplyResult(calls=calls, rejected=rejected)

    def _add(self, chat_id: str, open_ids: list[str]) -> tuple[int, tuple[str, ...]]:
        calls, rejected = 0, []
        for batch in _chunks(open_ids, MEMBER_BATCH):
            data = self.client.add_chat_members(chat_id, batch)
            calls += 1
            for key in ("invalid_id_list", "not_existed_id_list"):
                rejected += [i for i in data.get(key) or () if i not in rejected]
        return calls, tuple(rejected)

    def send_message(self, external_ids: list[str], text: str) -> ApplyResult:
        """One text message per recipient (im v1 has no batch); a ``uuid`` per message makes resends safe."""
        ids = sorted(set(external_ids))
        message_ids = [self.client.send_text(open_id, text, uuidlib.uuid4().hex) for open_id in ids]
        return ApplyResult(calls=len(ids), detail="message ids: " + ",".join(message_ids))

    # --- document access -----------------------------------------------------------

    def list_grants(self, group: Group) -> Iterator[Member]:
        """Collaborators of a doc/folder that are users (``openid``), levels mapped to ours.

        ``full_access`` is "manage". The listing does not include the owner (sandbox
        assumption, unverified); a row with ``perm == "owner"`` would map to "owner".
        """
        doc_type, token = _doc(group)
        for row in self.client.list_permission_members(token, doc_type):
            if row.member_type == "openid" and row.perm in PERM_TO_LEVEL:
                yield Member(external_id=row.member_id, level=PERM_TO_LEVEL[row.perm])

    def apply_access(self, group: Group, delta: AccessDelta) -> ApplyResult:
        """Grant/change/revoke after reading the current grants: nothing already in place is sent."""
        doc_type, token = _doc(group)
        wanted = {}
        for open_id, level in delta.grant.items():
            if level not in LEVEL_TO_PERM:
                raise InvalidPayload(f"level {level!r} cannot be granted on a Feishu doc", service=self.name)
            wanted[open_id] = LEVEL_TO_PERM[level]
        current = {m.external_id: m.level for m in self.list_grants(group)}
        calls = 0
        for open_id, perm in sorted(wanted.items()):
            level = current.get(open_id)
            if level == "owner" or level == PERM_TO_LEVEL[perm]:
                continue
            if level is None:
                self.client.add_permission_member(token, doc_type, open_id, perm)
            else:
                self.client.update_permission_member(token, doc_type, open_id, perm)
            calls += 1
        for open_id in sorted(set(delta.revoke) & set(current)):
            if current[open_id] != "owner":
                self.client.delete_permission_member(token, doc_type, open_id)
                calls += 1
        return ApplyResult(calls=calls, detail="" if calls else "already in place")

    def transfer_owner(self, group: Group, to_external_id: str, *, old_owner_perm: str = "view") -> ApplyResult:
        """Hand a doc/folder to ``to_external_id``; the old owner keeps ``view`` (never removed) by default."""
        doc_type, token = _doc(group)
        if old_owner_perm not in LEVEL_TO_PERM.values():
            raise InvalidPayload(f"old owner perm {old_owner_perm!r} is not a Feishu perm", service=self.name)
        self.client.transfer_owner(token, doc_type, to_external_id, remove_old_owner=False,
                                   old_owner_perm=old_owner_perm)
        return ApplyResult()


# --- mapping raw → domain ------------------------------------------------------------


def _account(user: FeishuUser) -> Account:
    active = not (user.status.is_frozen or user.status.is_resigned or user.status.is_exited)
    return Account(service="feishu", external_id=user.open_id, name=user.name, mobile=user.mobile or None,
                   email=user.email or None, union_id=user.union_id or None, active=active,
                   departments=tuple(user.department_ids))


def _department(dept: FeishuDepartment) -> Group:
    parent = dept.parent_department_id if dept.department_id != ROOT_DEPT else None
    return Group(service="feishu", kind="department", external_id=dept.department_id, name=dept.name,
                 parent_id=parent or None)


def _chat(chat: FeishuChat) -> Group:
    return Group(service="feishu", kind="chat", external_id=chat.chat_id, name=chat.name, owner=chat.owner_id)


def _doc(group: Group) -> tuple[str, str]:
    """``(type, token)`` of a doc/folder group whose external id is ``"<type>:<token>"``."""
    doc_type, sep, token = group.external_id.partition(":")
    if group.kind not in ("doc", "folder") or not sep or not token or doc_type not in DOC_TYPES:
        raise InvalidPayload(f"not a Feishu doc id: {group.external_id!r} (want '<type>:<token>')",
                             service="feishu")
    if (group.kind == "folder") != (doc_type == "folder"):
        raise InvalidPayload(f"a {group.kind} cannot have type {doc_type!r}", service="feishu")
    return doc_type, token


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["LEVEL_TO_PERM", "PERM_TO_LEVEL", "SANDBOX_URL", "FeishuConnector"]
