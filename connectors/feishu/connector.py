"""The Feishu connector: accounts, departments, chats, messages and document access.

Accounts are keyed by the tenant's own ``user_id``, not by ``open_id``. Muster creates an
account under a deterministic id (``userid_for(prefix, person)``) and links the person to
it before the service answers, so a create that is resent or re-run after a crash lands
on the same account instead of making a second one. Only ``user_id`` can be chosen by
the creator (a self-built app with the "get user_id" scope may set it); an ``open_id`` is
assigned by Feishu and differs per app, so it could not be known in advance. Every call
therefore names users by ``user_id`` (see ``client``); ``union_id`` is kept in
``Account.union_id`` for correlation across one developer's apps.

People are read by walking departments from the root ``"0"`` and paging each one's direct
members (``find_by_department``); a user in several departments is yielded once. Feishu
has no API to freeze a user, so removing an account deletes it (``DELETE users/:user_id``,
its chats go to their next member); department leaders are not managed here.

Chat writes read the chat first and send only what is missing; a new owner is added
first, then made owner (``PUT owner_id``), and only then are old members removed, so a
removal of the owner (232076) is never sent. Department membership lives on the user
(``department_ids``), changed one user at a time. Documents (metadata, folder listings,
access, ownership) are in ``_docs``.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import AlreadyExists, ConnectorError, InvalidPayload, NotFound
from connectors._http import RetryPolicy
from connectors.feishu._docs import LEVEL_TO_PERM, PERM_TO_LEVEL, DocAccess
from connectors.feishu.client import BASE_URL, MEMBER_BATCH, ROOT_DEPT, USER_ID_EXISTS, FeishuClient
from connectors.feishu.models import FeishuChat, FeishuDepartment, FeishuUser
from mappings.models import Account, AccountSpec, ApplyResult, Group, GroupSpec, Member, MembershipDelta

SANDBOX_URL = "http://feishu.sandbox"
UPDATABLE = frozenset({"name", "mobile", "email", "departments", "leader_of", "active"})
EMPLOYEE_REGULAR = 1  # employee_type: 1 regular, 2 intern, 3 outsourcing, 4 labour, 5 consultant
INVALID_USER = 232007  # chat create: an id in user_id_list is no user
TOKENS = uuidlib.UUID("0f7c5d3e-6b2a-4c1e-9a8d-5e4f3b2a1c0d")  # namespace of Muster's client_tokens


class FeishuConnector(DocAccess):
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
        """Release the HTTP connection pool."""
        self.client.close()

    # --- people and groups ---------------------------------------------------------

    def list_people(self) -> Iterator[Account]:
        """Every user of every department the app can see, once each."""
        seen: set[str] = set()
        for dept_id in self._department_ids():
            for user in self.client.list_department_users(dept_id):
                if user.key() not in seen:
                    seen.add(user.key())
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
        """A department, chat, or doc/folder (title and owner from its metadata)."""
        if kind == "department":
            return _department(self.client.get_department(external_id))
        if kind == "chat":
            return _chat(self.client.get_chat(external_id))
        if kind in ("doc", "folder"):
            return self.get_document(kind, external_id)
        raise InvalidPayload(f"Feishu has no {kind!r} groups here", service=self.name)

    def list_members(self, group: Group) -> Iterator[Member]:
        """A chat's members (its owner at level "owner"), a department's direct members, or doc grants."""
        if group.kind == "chat":
            owner = self.client.get_chat(group.external_id).owner_id
            for member in self.client.list_chat_members(group.external_id):
                yield Member(external_id=member.member_id, level="owner" if member.member_id == owner else "member")
        elif group.kind == "department":
            for user in self.client.list_department_users(group.external_id):
                yield Member(external_id=user.key())
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

    # --- accounts ------------------------------------------------------------------

    def create_account(self, spec: AccountSpec) -> ApplyResult:
        """Create a user with ``user_id = spec.external_id``; that id existing already counts as success.

        The ``client_token`` is derived from the user_id, so a resend (or a re-run) gets the
        first answer back. 41011 (user_id taken) is only answered when the mobile and email
        clash with nobody else, so it means our own earlier create; 41001/41002 (another
        user has the mobile/email) are real conflicts and raise ``AlreadyExists``. Leaders
        are not set: Feishu departments take members only here.
        """
        body: dict[str, Any] = {"user_id": spec.external_id, "name": spec.name,
                                "department_ids": list(spec.departments) or [ROOT_DEPT],
                                "employee_type": EMPLOYEE_REGULAR}
        body.update({k: v for k, v in (("mobile", spec.mobile), ("email", spec.email)) if v})
        try:
            self.client.create_user(body, client_token=client_token("user", spec.external_id))
        except AlreadyExists as exc:
            if exc.code != USER_ID_EXISTS:
                raise
            return ApplyResult(created_id=spec.external_id, detail="user_id already exists")
        return ApplyResult(created_id=spec.external_id)

    def update_account(self, external_id: str, fields: dict[str, Any]) -> ApplyResult:
        """Change name, mobile, email and departments (``PATCH``); ``active=False`` deletes the user.

        Feishu has no API to freeze or unfreeze a user, so ``active=True`` cannot be sent,
        and ``leader_of`` is not managed (departments take members only).
        """
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise InvalidPayload(f"cannot update {sorted(unknown)} on Feishu", service=self.name)
        if fields.get("active") is False:
            return self.disable_account(external_id)
        body = {k: fields[k] for k in ("name", "mobile", "email") if fields.get(k)}
        if fields.get("departments") is not None:
            body["department_ids"] = list(fields["departments"]) or [ROOT_DEPT]
        if not body:
            return ApplyResult(calls=0, detail="nothing Feishu can change (no unfreeze, no leaders)")
        self.client.patch_user(external_id, body)
        return ApplyResult()

    def disable_account(self, external_id: str, acceptor: str | None = None) -> ApplyResult:
        """Delete the user (Feishu cannot freeze one through the API); one already gone counts as success.

        Their documents go to ``acceptor`` (``docs_acceptor_user_id``); without one Feishu
        gives them to the user's leader or deletes them. Their chats pass to the next member.
        """
        try:
            self.client.delete_user(external_id, docs_acceptor=acceptor)
        except NotFound:  # 41050: no such user (an acceptor naming nobody is a 99992402, not this)
            return ApplyResult(detail="already absent (or outside the app's contact scope)")
        return ApplyResult(detail=f"documents handed to {acceptor}" if acceptor else "")

    # --- groups --------------------------------------------------------------------

    def create_group(self, spec: GroupSpec) -> ApplyResult:
        """Create a department (under ``parent_id``, default root) or a chat owned by ``spec.owner``."""
        if spec.kind == "department":
            return self._create_department(spec)
        if spec.kind == "chat":
            return self._create_chat(spec)
        raise InvalidPayload(f"Feishu groups of kind {spec.kind!r} are not created here", service=self.name)

    def _create_department(self, spec: GroupSpec) -> ApplyResult:
        parent = spec.parent_id or ROOT_DEPT
        token = client_token("department", parent, spec.name)
        try:
            dept = self.client.create_department(spec.name, parent, token, spec.external_id)
        except AlreadyExists:
            for child in self.client.list_child_departments(parent):
                if child.name == spec.name:
                    return ApplyResult(created_id=child.department_id, detail="department already exists")
            raise
        return ApplyResult(created_id=dept.department_id)

    def _create_chat(self, spec: GroupSpec) -> ApplyResult:
        """One create with up to 50 members; ``spec.external_id`` (else a fresh uuid) de-duplicates it.

        If a member is no user (232007), the chat is created with its owner alone and the
        others are added with partial success, which names the unknown ids.
        """
        owner = spec.owner or (spec.members[0] if spec.members else None)
        if not owner:
            raise InvalidPayload("a Feishu chat needs an owner", service=self.name)
        key = spec.external_id or uuidlib.uuid4().hex
        others = sorted(set(spec.members) - {owner})
        first, rest, calls = others[:MEMBER_BATCH], others[MEMBER_BATCH:], 1
        try:
            chat_id = str(self.client.create_chat(spec.name, owner, first, key)["chat_id"])
        except InvalidPayload as exc:
            if exc.code != INVALID_USER or not first:
                raise
            chat_id = str(self.client.create_chat(spec.name, owner, [], key)["chat_id"])
            rest, calls = others, 2
        try:
            added, rejected = self._add(chat_id, rest)
        except ConnectorError as exc:  # the chat exists: report it, the next sync adds the rest
            return ApplyResult(created_id=chat_id, calls=calls,
                               detail=f"created; adding the remaining members failed: {exc}")
        return ApplyResult(created_id=chat_id, calls=calls + added, rejected=rejected)

    # --- membership ----------------------------------------------------------------

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult:
        """Add/remove chat members and change the owner, or move users in and out of a department."""
        if group.kind == "chat":
            return self._apply_chat(group.external_id, delta)
        if group.kind == "department":
            return self._apply_department(group.external_id, delta)
        raise InvalidPayload(f"Feishu {group.kind!r} membership is not written here", service=self.name)

    def _apply_chat(self, chat_id: str, delta: MembershipDelta) -> ApplyResult:
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

    def _add(self, chat_id: str, user_ids: list[str]) -> tuple[int, tuple[str, ...]]:
        calls, rejected = 0, []
        for batch in _chunks(user_ids, MEMBER_BATCH):
            data = self.client.add_chat_members(chat_id, batch)
            calls += 1
            for key in ("invalid_id_list", "not_existed_id_list"):
                rejected += [i for i in data.get(key) or () if i not in rejected]
        return calls, tuple(rejected)

    def _apply_department(self, dept_id: str, delta: MembershipDelta) -> ApplyResult:
        """Department membership lives on the user: one ``PATCH department_ids`` per changed user."""
        if delta.owner:
            raise InvalidPayload("departments have no owner", service=self.name)
        current = {u.key(): u.department_ids for u in self.client.list_department_users(dept_id)}
        calls, rejected = 0, []
        for user_id in sorted(set(delta.add) - set(current)):
            try:
                depts = self.client.get_user(user_id).department_ids
            except NotFound:
                rejected.append(user_id)
                continue
            self.client.patch_user(user_id, {"department_ids": [*depts, dept_id]})
            calls += 1
        for user_id in sorted(set(delta.remove) & set(current)):
            left = [d for d in current[user_id] if d != dept_id] or [ROOT_DEPT]  # nowhere else: the root
            self.client.patch_user(user_id, {"department_ids": left})
            calls += 1
        detail = "" if calls or rejected else "already in place"
        return ApplyResult(calls=calls, rejected=tuple(rejected), detail=detail)

    # --- messages ------------------------------------------------------------------

    def send_message(self, external_ids: list[str], text: str, key: str | None = None) -> ApplyResult:
        """One text message per recipient (im v1 has no batch); a ``uuid`` per message makes resends safe.

        With a ``key`` (a named notice) the uuid is derived from it and the recipient, so
        sending the same notice again within Feishu's de-duplication window (1 h) delivers
        nothing new; without one every call is a new message, resent only within the call.
        """
        ids = sorted(set(external_ids))
        message_ids = [self.client.send_text(user_id, text, client_token("message", key, user_id) if key
                                             else uuidlib.uuid4().hex) for user_id in ids]
        return ApplyResult(calls=len(ids), detail="message ids: " + ",".join(message_ids))


# --- mapping raw → domain ------------------------------------------------------------


def client_token(*parts: str) -> str:
    """The idempotency key of a create, the same for the same object every time."""
    return str(uuidlib.uuid5(TOKENS, "/".join(parts)))


def _account(user: FeishuUser) -> Account:
    active = not (user.status.is_frozen or user.status.is_resigned or user.status.is_exited)
    return Account(service="feishu", external_id=user.key(), name=user.name, mobile=user.mobile or None,
                   email=user.email or None, union_id=user.union_id or None, active=active,
                   departments=tuple(user.department_ids))


def _department(dept: FeishuDepartment) -> Group:
    parent = dept.parent_department_id if dept.department_id != ROOT_DEPT else None
    return Group(service="feishu", kind="department", external_id=dept.department_id, name=dept.name,
                 parent_id=parent or None)


def _chat(chat: FeishuChat) -> Group:
    return Group(service="feishu", kind="chat", external_id=chat.chat_id, name=chat.name, owner=chat.owner_id)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["LEVEL_TO_PERM", "PERM_TO_LEVEL", "SANDBOX_URL", "FeishuConnector", "client_token"]
