"""The DingTalk connector: roster, departments, chats and work notices over the old API.

DingTalk has no "all users" call: the official recipe walks departments from the root
(``listsubid``) and pages each department's direct members (reference §1.4). A user in
several departments shows up in each, and a list row only says whether the user leads
*that* department, so accounts are merged across the walk before they are yielded.

Chats cannot be listed; they are read one by one (``/chat/get``) by the ids Muster keeps.
Membership writes read the chat first and send only what is missing, so re-applying a
delta sends nothing; what must be sent is packed into as few ``/chat/update`` calls as
the 40-ids-per-list cap allows, each call atomic (adds, removes and owner together).

Domain ids are strings; the API's integer department ids are converted here only.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import AlreadyExists, ConnectorError, InvalidPayload, NotFound
from connectors._http import RetryPolicy
from connectors.dingtalk.client import BASE_URL, CHAT_BATCH, MESSAGE_BATCH, ROOT_DEPT, DingTalkClient
from connectors.dingtalk.models import DingTalkChat, DingTalkDepartment, DingTalkUser
from mappings.models import Account, AccountSpec, ApplyResult, Group, GroupSpec, Member, MembershipDelta

SANDBOX_URL = "http://dingtalk.sandbox"
UPDATABLE = frozenset({"name", "mobile", "email", "departments", "leader_of", "active"})


class DingTalkConnector:
    """Muster's capabilities on DingTalk (an internal app with contact and chat rights)."""

    name = "dingtalk"

    def __init__(self, *, base_url: str = BASE_URL, appkey: str, appsecret: SecretStr | str, agentid: int,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None,
                 rate_limit: bool = True, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        secret = appsecret if isinstance(appsecret, SecretStr) else SecretStr(appsecret)
        self.agentid = int(agentid)
        self.client = DingTalkClient(base_url=base_url, appkey=appkey, appsecret=secret, transport=transport,
                                     retry=retry, rate_limit=rate_limit, clock=clock, sleep=sleep)

    @classmethod
    def from_sandbox(cls, sandbox: Any, **kw: Any) -> DingTalkConnector:
        """A connector wired to an in-process ``DingTalkSandbox`` and its credentials."""
        creds = sandbox.credentials
        kw.setdefault("base_url", SANDBOX_URL)
        kw.setdefault("transport", sandbox.transport())
        return cls(appkey=creds["appkey"], appsecret=SecretStr(creds["appsecret"]), agentid=creds["agentid"],
                   **kw)

    def check(self) -> None:
        """Fetch a token and read the root department (``AuthError`` on bad credentials)."""
        self.client.get_department(ROOT_DEPT)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.client.close()

    # --- reads ---------------------------------------------------------------------

    def list_people(self) -> Iterator[Account]:
        """Every user in every department, once each, with the departments they lead."""
        users: dict[str, DingTalkUser] = {}
        leads: dict[str, set[str]] = defaultdict(set)
        for dept_id in self._department_ids():
            for user in self.client.list_users(dept_id):
                users.setdefault(user.userid, user)
                if user.leader:
                    leads[user.userid].add(str(dept_id))
        for userid, user in users.items():
            yield _account(user, leads[userid])

    def list_groups(self) -> Iterator[Group]:
        """The root department and every department below it (chats cannot be listed)."""
        yield _department(self.client.get_department(ROOT_DEPT))
        queue = deque([ROOT_DEPT])
        while queue:
            for child in self.client.list_subdepartments(queue.popleft()):
                queue.append(child.dept_id)
                yield _department(child)

    def get_group(self, kind: str, external_id: str) -> Group:
        """One department or chat by id (``NotFound`` if absent); a chat comes with its owner."""
        if kind == "department":
            return _department(self.client.get_department(_dept(external_id)))
        if kind == "chat":
            return _chat(external_id, self.client.get_chat(external_id))
        raise InvalidPayload(f"DingTalk has no {kind!r} groups", service=self.name)

    def list_members(self, group: Group) -> Iterator[Member]:
        """A chat's members (its owner at level "owner") or a department's direct members."""
        if group.kind == "chat":
            chat = self.client.get_chat(group.external_id)
            for userid in chat.useridlist:
                yield Member(external_id=userid, level="owner" if userid == chat.owner else "member")
        elif group.kind == "department":
            for userid in self.client.list_user_ids(_dept(group.external_id)):
                yield Member(external_id=userid)
        else:
            raise InvalidPayload(f"DingTalk has no {group.kind!r} groups", service=self.name)

    def _department_ids(self) -> Iterator[int]:
        queue = deque([ROOT_DEPT])
        while queue:
            dept_id = queue.popleft()
            yield dept_id
            queue.extend(self.client.list_subdepartment_ids(dept_id))

    # --- accounts ------------------------------------------------------------------

    def create_account(self, spec: AccountSpec) -> ApplyResult:
        """Create a user with the given userid; an existing same userid counts as success."""
        departments = list(spec.departments) or [str(ROOT_DEPT)]
        body: dict[str, Any] = {"userid": spec.external_id, "name": spec.name, "mobile": spec.mobile,
                                "dept_id_list": _csv(departments)}
        if spec.email:
            body["email"] = spec.email
        if spec.leader_of:
            body["leader_in_dept"] = _leader_rows(departments, spec.leader_of)
        try:
            created = self.client.create_user({k: v for k, v in body.items() if v is not None})
        except AlreadyExists as exc:
            if exc.code != 60102:  # the mobile belongs to someone else: a real conflict
                raise
            return ApplyResult(created_id=spec.external_id, detail="userid already exists")
        return ApplyResult(created_id=created)

    def update_account(self, external_id: str, fields: dict[str, Any]) -> ApplyResult:
        """Change name, mobile, email, departments, led departments; ``active=False`` deletes.

        DingTalk's ``active`` only says whether the person has activated the app, so it
        cannot be set; turning an account inactive is the same as ``disable_account``.
        """
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise InvalidPayload(f"cannot update {sorted(unknown)} on DingTalk", service=self.name)
        if fields.get("active") is False:
            return self.disable_account(external_id)
        body = self._update_body(external_id, fields)
        if len(body) == 1:
            return ApplyResult(calls=0, detail="nothing DingTalk can change")
        self.client.update_user(body)
        return ApplyResult()

    def _update_body(self, external_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"userid": external_id}
        body.update({k: fields[k] for k in ("name", "mobile", "email") if k in fields})
        departments = fields.get("departments")
        if departments is not None:
            body["dept_id_list"] = _csv(departments)
        if "leader_of" in fields:
            if departments is None:
                departments = [str(d) for d in self.client.get_user(external_id).dept_id_list]
            body["leader_in_dept"] = _leader_rows(departments, fields["leader_of"] or ())
        return body

    def disable_account(self, external_id: str) -> ApplyResult:
        """Delete the user: DingTalk has no disabled state, so ``/topapi/v2/user/delete``.

        Deletion is final (the person leaves the organisation and its chats); an account
        already gone counts as success.
        """
        try:
            self.client.delete_user(external_id)
        except NotFound:
            return ApplyResult(detail="already absent")
        return ApplyResult()

    # --- groups --------------------------------------------------------------------

    def create_group(self, spec: GroupSpec) -> ApplyResult:
        """Create a department (under ``parent_id``, default root) or a chat (id from the answer)."""
        if spec.kind == "department":
            return self._create_department(spec)
        if spec.kind == "chat":
            return self._create_chat(spec)
        raise InvalidPayload(f"DingTalk has no {spec.kind!r} groups", service=self.name)

    def _create_department(self, spec: GroupSpec) -> ApplyResult:
        parent = _dept(spec.parent_id or str(ROOT_DEPT))
        try:
            return ApplyResult(created_id=str(self.client.create_department(spec.name, parent)))
        except AlreadyExists:
            for child in self.client.list_subdepartments(parent):
                if child.name == spec.name:
                    return ApplyResult(created_id=str(child.dept_id), detail="department already exists")
            raise

    def _create_chat(self, spec: GroupSpec) -> ApplyResult:
        owner = spec.owner or (spec.members[0] if spec.members else None)
        if not owner:
            raise InvalidPayload("a DingTalk chat needs an owner", service=self.name)
        members = [owner] + sorted(set(spec.members) - {owner})
        created, unknown = 1, []
        try:
            chatid = self.client.create_chat(spec.name, owner, members[:CHAT_BATCH])
        except NotFound as exc:  # 60121: set unknown users aside (all of them, batches to come too)
            unknown = self._unknown_users(exc, members, owner)
            members = [m for m in members if m not in unknown]
            created += 1
            chatid = self.client.create_chat(spec.name, owner, members[:CHAT_BATCH])
        try:
            calls, rejected = self._send_updates(chatid, members[CHAT_BATCH:], [], None)
        except ConnectorError as exc:  # the chat exists: report it, the next sync adds the rest
            detail = f"created; adding the remaining members failed: {exc}"
            return ApplyResult(created_id=chatid, calls=created, detail=detail, rejected=tuple(unknown))
        return ApplyResult(created_id=chatid, calls=created + calls, rejected=tuple(unknown) + rejected)

    # --- membership ----------------------------------------------------------------

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult:
        """Add/remove members of a chat (and change its owner) or of a department."""
        if group.kind == "chat":
            return self._apply_chat(group.external_id, delta)
        if group.kind == "department":
            return self._apply_department(_dept(group.external_id), delta)
        raise InvalidPayload(f"DingTalk has no {group.kind!r} groups", service=self.name)

    def _apply_chat(self, chatid: str, delta: MembershipDelta) -> ApplyResult:
        chat = self.client.get_chat(chatid)
        members = set(chat.useridlist)
        new_owner = delta.owner if delta.owner and delta.owner != chat.owner else None
        add = (set(delta.add) | ({new_owner} if new_owner else set())) - members
        remove = set(delta.remove) & members
        if chat.owner in remove and not new_owner:
            raise InvalidPayload("cannot remove the chat's owner without naming a new one", service=self.name)
        if not (add or remove or new_owner):
            return ApplyResult(calls=0, detail="already in place")
        # The new owner goes into the first batch, the owner change rides on that call.
        adds = ([new_owner] if new_owner in add else []) + sorted(add - {new_owner})
        calls, rejected = self._send_updates(chatid, adds, sorted(remove), new_owner)
        return ApplyResult(calls=calls, rejected=rejected)

    def _send_updates(self, chatid: str, adds: list[str], removes: list[str],
                      owner: str | None) -> tuple[int, tuple[str, ...]]:
        """/chat/update in as few calls as the caps allow; unknown userids are set aside."""
        calls, rejected = 0, []
        for i in range(0, max(len(adds), len(removes), 1 if owner else 0), CHAT_BATCH):
            batch_add, batch_remove = adds[i:i + CHAT_BATCH], removes[i:i + CHAT_BATCH]
            batch_owner = owner if i == 0 else None
            try:
                calls += 1
                self.client.update_chat(chatid, add=batch_add, remove=batch_remove, owner=batch_owner)
            except NotFound as exc:
                unknown = self._unknown_users(exc, batch_add, batch_owner)
                rejected += unknown
                batch_add = [u for u in batch_add if u not in unknown]
                if batch_add or batch_remove or batch_owner:
                    calls += 1
                    self.client.update_chat(chatid, add=batch_add, remove=batch_remove, owner=batch_owner)
        return calls, tuple(rejected)

    def _unknown_users(self, exc: NotFound, userids: list[str], owner: str | None) -> list[str]:
        """Which of ``userids`` DingTalk does not know (read one by one after a 60121)."""
        if exc.code != 60121:
            raise exc
        unknown = [u for u in userids if not self._user_exists(u)]
        if not unknown or owner in unknown:
            raise exc
        return unknown

    def _user_exists(self, userid: str) -> bool:
        try:
            self.client.get_user(userid)
        except NotFound:
            return False
        return True

    def _apply_department(self, dept_id: int, delta: MembershipDelta) -> ApplyResult:
        """Department membership lives on the user: one ``user/update`` per changed user."""
        if delta.owner:
            raise InvalidPayload("departments have no owner", service=self.name)
        current = set(self.client.list_user_ids(dept_id))
        changes = [(u, True) for u in sorted(set(delta.add) - current)]
        changes += [(u, False) for u in sorted(set(delta.remove) & current)]
        calls, rejected = 0, []
        for userid, joining in changes:
            depts = self._moved_departments(userid, dept_id, joining)
            if depts is None:
                rejected.append(userid)
                continue
            calls += 1
            self.client.update_user({"userid": userid, "dept_id_list": _csv(depts)})
        return ApplyResult(calls=calls, rejected=tuple(rejected),
                           detail="a user must stay in one department at least" if rejected else "")

    def _moved_departments(self, userid: str, dept_id: int, joining: bool) -> list[int] | None:
        try:
            depts = self.client.get_user(userid).dept_id_list
        except NotFound:
            return None
        moved = sorted(set(depts) | {dept_id}) if joining else [d for d in depts if d != dept_id]
        return moved or None

    # --- messages ------------------------------------------------------------------

    def send_message(self, external_ids: list[str], text: str, key: str | None = None) -> ApplyResult:
        """Send a text work notification (``asyncsend_v2``), ≤``MESSAGE_BATCH`` users per call.

        The call is asynchronous: success means queued. DingTalk silently drops the same
        text to the same user within a day and anything past 500 a user a day (§1.8) —
        that is its de-duplication, so ``key`` is not needed here.
        """
        userids = sorted(set(external_ids))
        batches = _chunks(userids, MESSAGE_BATCH)
        tasks = [self.client.send_work_notice(self.agentid, batch, text) for batch in batches]
        return ApplyResult(calls=len(tasks), detail="task ids: " + ",".join(str(t) for t in tasks))


# --- mapping raw → domain ------------------------------------------------------------


def _account(user: DingTalkUser, leads: Iterable[str] = ()) -> Account:
    leader_of = set(leads) | {str(row.dept_id) for row in user.leader_in_dept if row.leader}
    return Account(service="dingtalk", external_id=user.userid, name=user.name, mobile=user.mobile or None,
                   email=user.email or None, union_id=user.unionid or None, active=user.active,
                   departments=tuple(str(d) for d in user.dept_id_list), leader_of=tuple(sorted(leader_of)))


def _department(dept: DingTalkDepartment) -> Group:
    parent = str(dept.parent_id) if dept.parent_id else None
    return Group(service="dingtalk", kind="department", external_id=str(dept.dept_id), name=dept.name,
                 parent_id=parent)


def _chat(chatid: str, chat: DingTalkChat) -> Group:
    return Group(service="dingtalk", kind="chat", external_id=chatid, name=chat.name, owner=chat.owner)


def _dept(external_id: str) -> int:
    try:
        return int(external_id)
    except (TypeError, ValueError):
        raise NotFound(f"no department {external_id!r}: DingTalk department ids are numbers",
                       service="dingtalk") from None


def _csv(ids: Iterable[Any]) -> str:
    """DingTalk's list-as-string form (``dept_id_list: "2,3"``, ``userid_list: "u1,u2"``)."""
    return ",".join(str(i) for i in ids)


def _leader_rows(departments: Iterable[str], leader_of: Iterable[str]) -> list[dict[str, Any]]:
    leads = {str(d) for d in leader_of}
    depts = sorted({str(d) for d in departments} | leads, key=int)
    return [{"dept_id": int(d), "leader": d in leads} for d in depts]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["SANDBOX_URL", "DingTalkConnector"]
