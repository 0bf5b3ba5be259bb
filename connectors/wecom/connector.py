"""The WeCom connector: maps WeCom's contacts, tags, app chats and app messages to domain records.

Two secrets (reference §2.1): the app's ``corpsecret`` and the contacts-sync (通讯录同步)
``contacts_secret``. Real WeCom writes users and departments only with the contacts-sync
token, and app chats and app messages only with the app's; ``self.client`` holds both token
caches and sends ``user/*`` and ``department/*`` with the contacts one, everything else
(tags included: an app may create tags and edit its own) with the app's. Without a
``contacts_secret`` every call uses the app token, and a contact write refused with 48002
says that the contacts secret is missing.

Reads prefer the one-call detail lists (``user/list?department_id=1&fetch_child=1``,
``department/list``). Since 2022-08-15 WeCom refuses those to contacts-sync secrets on newly
added IPs (reference §2.4, document/path/96021); on a permission refusal the connector
falls back to the paged ``user/list_id`` plus ``user/get`` per user, and to
``department/simplelist`` plus ``department/get``. Chats cannot be listed by any WeCom API:
only ``get_group("chat", id)`` reads them.

Writes are idempotent. A userid, department, tag or chatid that already exists is a success
when it is the same object (a re-run after a crash); membership writes read the group first
and send only what is not yet true (see ``_membership``), so a delta that already holds
sends nothing. Domain ids are strings; WeCom's integer department and tag ids are
converted at the boundary, in ``_mapping``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import AlreadyExists, ConnectorError, InvalidPayload, NotFound, PermissionDenied
from connectors._http import RetryPolicy
from connectors._paging import CursorPaginator, PageRequest
from connectors.wecom import _membership as plan
from connectors.wecom._mapping import ROOT_DEPARTMENT, department_group, numeric_id, placement, to_account
from connectors.wecom.client import (
    BASE_URL,
    CHATID_EXISTS,
    LIST_ID_LIMIT,
    MESSAGE_BATCH,
    SERVICE,
    TAG_BATCH,
    USERID_EXISTS,
    WeComClient,
    api,
)
from connectors.wecom.models import (
    WeComChat,
    WeComDepartment,
    WeComDeptUser,
    WeComPartial,
    WeComTag,
    WeComTagDetail,
    WeComUser,
)
from mappings.models import Account, AccountSpec, ApplyResult, Group, GroupSpec, Member, MembershipDelta

DUPLICATE_CHECK_MAX = 14_400  # message/send duplicate_check_interval: at most 4 hours (§2.6)
SANDBOX_URL = "http://wecom.sandbox"
UPDATABLE = frozenset({"name", "mobile", "email", "departments", "leader_of", "active"})
ALL_INVALID = frozenset({40070, 40031, 81013, 82001})  # "every id in the list is invalid"


class WeComConnector:
    """Contacts, departments, tags, app chats and app messages of one WeCom corp and app.

    ``corpsecret`` is the self-built app's secret; ``contacts_secret`` the contacts-sync
    (通讯录同步) secret, which real WeCom requires for user and department writes.
    ``client.calls``, ``client.writes`` and ``client.auth.fetches`` count both tokens' calls.
    """

    name = SERVICE

    def __init__(
        self,
        *,
        base_url: str = BASE_URL,
        corpid: str,
        corpsecret: SecretStr | str,
        agentid: int,
        contacts_secret: SecretStr | str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = LIST_ID_LIMIT,
    ):
        self.agentid = int(agentid)
        self.page_size = page_size
        self.client = WeComClient(
            base_url,
            corpid=corpid,
            corpsecret=corpsecret,
            contacts_secret=contacts_secret,
            transport=transport,
            retry=retry,
            rate_limit=rate_limit,
            clock=clock,
            sleep=sleep,
        )

    @classmethod
    def from_sandbox(cls, sandbox: Any, **kw: Any) -> WeComConnector:
        """A connector wired to ``sandbox`` in-process, with the sandbox's credentials.

        The contacts secret comes from ``credentials["contacts_secret"]`` when the sandbox has
        one; pass ``contacts_secret=None`` to model a connector configured with the app secret only.
        """
        creds = sandbox.credentials
        kw.setdefault("base_url", SANDBOX_URL)
        kw.setdefault("transport", sandbox.transport())
        if "contacts_secret" not in kw and creds.get("contacts_secret"):
            kw["contacts_secret"] = SecretStr(creds["contacts_secret"])
        return cls(
            corpid=creds["corpid"], corpsecret=SecretStr(creds["corpsecret"]), agentid=creds["agentid"], **kw
        )

    def check(self) -> None:
        """Get a token and make one cheap read; ``AuthError`` on bad credentials.

        The read is a contacts read, so with two secrets it checks the contacts-sync one; a
        wrong app secret shows on the first tag, chat or message call.
        """
        self.client.get("department/simplelist")

    def close(self) -> None:
        self.client.close()

    # --- people ---------------------------------------------------------------------

    def list_people(self) -> Iterator[Account]:
        """Every user the app can see, disabled ones included (``active`` False)."""
        try:
            users: Iterator[WeComUser] = iter(self._users_in(ROOT_DEPARTMENT, fetch_child=True))
        except PermissionDenied:
            users = self._users_by_id()
        for user in users:
            yield to_account(user)

    def _users_by_id(self) -> Iterator[WeComUser]:
        for userid in self._user_ids():
            try:
                yield self._user(userid)
            except NotFound:  # left between the id page and this read
                continue

    def _users_in(self, department: int, *, fetch_child: bool) -> list[WeComUser]:
        payload = self.client.get("user/list", department_id=department, fetch_child=int(fetch_child))
        return [WeComUser.model_validate(u) for u in payload.get("userlist", [])]

    def _user(self, userid: str) -> WeComUser:
        return WeComUser.model_validate(self.client.get("user/get", userid=userid))

    def _relations(self) -> Iterator[WeComDeptUser]:
        request = PageRequest("POST", api("user/list_id"), json={"limit": self.page_size})
        paginator = CursorPaginator("cursor", ("next_cursor",), location="json")
        for page in self.client.paginate(request, paginator, lambda p: p.get("dept_user", [])):
            yield from (WeComDeptUser.model_validate(row) for row in page)

    def _user_ids(self, department: int | None = None) -> Iterator[str]:
        """Each userid once, from the paged ``user/list_id`` (a user has a row per department)."""
        seen: set[str] = set()
        for row in self._relations():
            if row.userid not in seen and department in (None, row.department):
                seen.add(row.userid)
                yield row.userid

    # --- groups ---------------------------------------------------------------------

    def list_groups(self) -> Iterator[Group]:
        """Departments, then tags. App chats cannot be listed through the WeCom API."""
        for dept in self._departments():
            yield department_group(dept)
        for tag in self.client.get("tag/list").get("taglist", []):
            raw = WeComTag.model_validate(tag)
            yield Group(service=SERVICE, kind="tag", external_id=str(raw.tagid), name=raw.tagname)

    def _departments(self) -> list[WeComDepartment]:
        try:
            rows = self.client.get("department/list").get("department", [])
        except PermissionDenied:
            ids = [d["id"] for d in self.client.get("department/simplelist").get("department_id", [])]
            return [self._department(i) for i in ids]
        return [WeComDepartment.model_validate(d) for d in rows]

    def _department(self, dept_id: int) -> WeComDepartment:
        return WeComDepartment.model_validate(self.client.get("department/get", id=dept_id)["department"])

    def _tag(self, tagid: int) -> WeComTagDetail:
        return WeComTagDetail.model_validate(self.client.get("tag/get", tagid=tagid))

    def _chat(self, chatid: str) -> WeComChat:
        return WeComChat.model_validate(self.client.get("appchat/get", chatid=chatid)["chat_info"])

    def get_group(self, kind: str, external_id: str) -> Group:
        """One department, tag or chat by id; ``NotFound`` if WeCom has none."""
        if kind == "department":
            return department_group(self._department(numeric_id(kind, external_id)))
        if kind == "tag":
            tagid = numeric_id(kind, external_id)
            return Group(service=SERVICE, kind="tag", external_id=str(tagid), name=self._tag(tagid).tagname)
        if kind == "chat":
            chat = self._chat(external_id)
            return Group(
                service=SERVICE,
                kind="chat",
                external_id=chat.chatid,
                name=chat.name,
                owner=chat.owner or None,
            )
        raise InvalidPayload(f"unknown group kind {kind!r}", service=SERVICE)

    def list_members(self, group: Group) -> Iterator[Member]:
        """A chat's members (its owner at level owner), a tag's users, a department's direct users."""
        if group.kind == "chat":
            chat = self._chat(group.external_id)
            for uid in chat.userlist:
                yield Member(external_id=uid, level="owner" if uid == chat.owner else "member")
        elif group.kind == "tag":
            for user in self._tag(numeric_id("tag", group.external_id)).userlist:
                yield Member(external_id=user.userid)
        else:
            for uid in self._department_user_ids(numeric_id("department", group.external_id)):
                yield Member(external_id=uid)

    def _department_user_ids(self, dept_id: int) -> list[str]:
        try:
            payload = self.client.get("user/simplelist", department_id=dept_id, fetch_child=0)
        except PermissionDenied:
            return list(self._user_ids(dept_id))
        return [u["userid"] for u in payload.get("userlist", [])]

    # --- accounts -------------------------------------------------------------------

    def create_account(self, spec: AccountSpec) -> ApplyResult:
        """``user/create``; a userid that already exists counts as created (a re-run)."""
        body = {"userid": spec.external_id, "name": spec.name, **placement(spec.departments, spec.leader_of)}
        body.update({k: v for k, v in (("mobile", spec.mobile), ("email", spec.email)) if v})
        try:
            self.client.post("user/create", body, idempotent=True)
        except AlreadyExists as exc:
            if exc.code != USERID_EXISTS:
                raise
            return ApplyResult(created_id=spec.external_id, detail="userid already exists")
        return ApplyResult(created_id=spec.external_id)

    def update_account(self, external_id: str, fields: dict[str, Any]) -> ApplyResult:
        """``user/update`` of the given fields (department changes read the user first)."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise InvalidPayload(f"cannot update {sorted(unknown)}", service=SERVICE)
        body: dict[str, Any] = {"userid": external_id}
        body.update({k: fields[k] or "" for k in ("name", "mobile", "email") if k in fields})
        if "active" in fields:
            body["enable"] = 1 if fields["active"] else 0
        if "departments" in fields or "leader_of" in fields:
            body.update(self._new_placement(external_id, fields))
        self.client.post("user/update", body, idempotent=True)
        return ApplyResult()

    def _new_placement(self, external_id: str, fields: dict[str, Any]) -> dict[str, list[int]]:
        # department and is_leader_in_dept are parallel lists: send both, keeping the
        # leader flags of departments the user stays in unless leader_of is given.
        current = self._user(external_id)
        departments = fields.get("departments", [str(d) for d in current.department])
        leader_of = fields.get("leader_of", [str(d) for d in current.leader_of() if str(d) in departments])
        return placement(departments, leader_of)

    def disable_account(self, external_id: str) -> ApplyResult:
        """``user/update`` with ``enable=0``: WeCom keeps the account, disabled (status 2)."""
        self.client.post("user/update", {"userid": external_id, "enable": 0}, idempotent=True)
        return ApplyResult()

    # --- groups: create -------------------------------------------------------------

    def create_group(self, spec: GroupSpec) -> ApplyResult:
        """Create a department, tag (with its members) or app chat; ``created_id`` is its id."""
        if spec.kind == "department":
            return self._create_department(spec)
        if spec.kind == "tag":
            return self._create_tag(spec)
        return self._create_chat(spec)

    def _create_department(self, spec: GroupSpec) -> ApplyResult:
        parent = numeric_id("department", spec.parent_id or str(ROOT_DEPARTMENT))
        body: dict[str, Any] = {"name": spec.name, "parentid": parent}
        if spec.external_id:
            body["id"] = numeric_id("department", spec.external_id)
        try:
            created = self.client.post("department/create", body, idempotent=True)  # names are unique
        except AlreadyExists:
            existing = self._same_department(spec, parent)
            if existing is None:
                raise
            return ApplyResult(created_id=str(existing.id), calls=1, detail="department already exists")
        return ApplyResult(created_id=str(created["id"]))

    def _same_department(self, spec: GroupSpec, parent: int) -> WeComDepartment | None:
        if spec.external_id:  # 60008 says "id or name taken": only the same id, name and parent is ours
            try:
                found = self._department(numeric_id("department", spec.external_id))
            except NotFound:
                return None
            return found if (found.name, found.parentid) == (spec.name, parent) else None
        siblings = self.client.get("department/list", id=parent).get("department", [])
        matches = (WeComDepartment.model_validate(d) for d in siblings)
        return next((d for d in matches if d.parentid == parent and d.name == spec.name), None)

    def _create_tag(self, spec: GroupSpec) -> ApplyResult:
        body: dict[str, Any] = {"tagname": spec.name}
        if spec.external_id:
            body["tagid"] = numeric_id("tag", spec.external_id)
        calls, detail = 1, ""
        try:
            tagid = str(self.client.post("tag/create", body, idempotent=True)["tagid"])  # names are unique
        except (AlreadyExists, NotFound):  # name taken (40071) or tagid taken
            tagid = self._same_tag(spec)
            if tagid is None:
                raise
            detail = "tag already exists"
        if not spec.members:
            return ApplyResult(created_id=tagid, calls=calls, detail=detail)
        added = self.apply_membership(
            self._tag_group(tagid, spec.name), MembershipDelta(add=frozenset(spec.members))
        )
        return ApplyResult(
            created_id=tagid, rejected=added.rejected, calls=calls + added.calls, detail=detail
        )

    def _same_tag(self, spec: GroupSpec) -> str | None:
        for tag in self.client.get("tag/list").get("taglist", []):
            raw = WeComTag.model_validate(tag)
            if raw.tagname == spec.name and spec.external_id in (None, str(raw.tagid)):
                return str(raw.tagid)
        return None

    @staticmethod
    def _tag_group(tagid: str, name: str) -> Group:
        return Group(service=SERVICE, kind="tag", external_id=tagid, name=name)

    def _create_chat(self, spec: GroupSpec) -> ApplyResult:
        members = list(dict.fromkeys([*([spec.owner] if spec.owner else []), *spec.members]))
        body: dict[str, Any] = {"name": spec.name, "userlist": members}
        if spec.owner:
            body["owner"] = spec.owner
        if spec.external_id:
            body["chatid"] = spec.external_id
        try:
            created = self.client.post("appchat/create", body, idempotent=bool(spec.external_id))
        except AlreadyExists as exc:
            # A deterministic chatid that exists already is ours from an earlier run when
            # its name matches; anything else is a real collision.
            if exc.code != CHATID_EXISTS or self._chat(spec.external_id or "").name != spec.name:
                raise
            return ApplyResult(created_id=spec.external_id, calls=1, detail="chat already exists")
        return ApplyResult(created_id=str(created.get("chatid") or spec.external_id))

    # --- membership -----------------------------------------------------------------

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult:
        """Add/remove chat or tag members and change a chat's owner, sending only what is needed."""
        if group.kind == "chat":
            return self._apply_chat(group.external_id, delta)
        if group.kind == "tag":
            return self._apply_tag(numeric_id("tag", group.external_id), delta)
        raise InvalidPayload(
            "department membership is set by update_account(departments=...)", service=SERVICE
        )

    def _apply_chat(self, chatid: str, delta: MembershipDelta) -> ApplyResult:
        chat = self._chat(chatid)
        bodies = plan.chat_updates(chat.chatid, chat.owner, chat.userlist, delta)
        for body in bodies:
            self.client.post("appchat/update", body, idempotent=True)
        return ApplyResult(calls=len(bodies), detail="" if bodies else "already true")

    def _apply_tag(self, tagid: int, delta: MembershipDelta) -> ApplyResult:
        current = [u.userid for u in self._tag(tagid).userlist]
        add, remove = plan.effective(current, delta)
        rejected: list[str] = []
        calls = 0
        for name, ids in (("tag/addtagusers", add), ("tag/deltagusers", remove)):
            for batch in plan.batches(ids, TAG_BATCH):
                rejected += self._partial(name, {"tagid": tagid, "userlist": batch}, batch)
                calls += 1
        return ApplyResult(
            rejected=tuple(sorted(rejected)), calls=calls, detail="" if calls else "already true"
        )

    def _partial(
        self, name: str, body: dict[str, Any], ids: list[str], *, idempotent: bool = True
    ) -> list[str]:
        """Send a list write; return the ids WeCom reported invalid (all of them on an all-invalid code)."""
        try:
            payload = self.client.post(name, body, idempotent=idempotent)
        except ConnectorError as exc:
            if exc.code in ALL_INVALID:
                return list(ids)
            raise
        return WeComPartial.model_validate(payload).rejected()

    # --- messages -------------------------------------------------------------------

    def send_message(self, external_ids: list[str], text: str, key: str | None = None) -> ApplyResult:
        """App text message to users, ≤1000 a call; ids WeCom reports invalid are ``rejected``.

        With a ``key`` (a named notice) WeCom's duplicate check is on for its longest
        interval, 4 h (§2.6): the same text to the same member again is dropped by WeCom,
        so a resend after an unanswered call is safe and retried like an idempotent write.
        """
        rejected: list[str] = []
        chunks = plan.batches(list(dict.fromkeys(external_ids)), MESSAGE_BATCH)
        for batch in chunks:
            body = {
                "touser": "|".join(batch),
                "msgtype": "text",
                "agentid": self.agentid,
                "text": {"content": text},
                "safe": 0,
            }
            if key:
                body |= {"enable_duplicate_check": 1, "duplicate_check_interval": DUPLICATE_CHECK_MAX}
            # Without the duplicate check a resend after an unanswered call could deliver twice.
            rejected += self._partial("message/send", body, batch, idempotent=bool(key))
        return ApplyResult(rejected=tuple(sorted(rejected)), calls=len(chunks))


__all__ = ["SANDBOX_URL", "WeComConnector"]
