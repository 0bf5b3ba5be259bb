"""Sandbox contacts: users and departments (reference §2.4, wechatpy.enterprise.client.api.user/department).

Quirks kept: userids are unique regardless of letter case; mobile (60104) and email (60106)
are unique too, and one of them is required (60129); a user created by the API is "not
activated" (status 4) until they join, a disabled one has status 2; ``user/list_id`` pages
user–department *relations* with an opaque string cursor, an empty ``next_cursor`` ending the
list; ``legacy_contacts_blocked`` refuses the detail lists as WeCom has done since
2022-08-15 for contacts-sync secrets on new IPs (48002, unverified code).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.wecom.client import api
from connectors.wecom.sandbox._core import WeComCore, WeComFault, _department, decode_cursor, encode_cursor

USERID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_\-@.]{0,63}$")  # 1–64 bytes of [0-9A-Za-z_-@.] (40003)
MOBILE_RE = re.compile(r"^\+?[0-9][0-9 \-]{0,31}$")  # ≤32 chars of digits, + and - (60103)
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
BAD_DEPT_CHARS = set('\\:?*"<>|“”')  # 60009


class ContactsMixin(WeComCore):
    """user/* and department/* routes, and their seeding."""

    # --- seeding --------------------------------------------------------------------

    def add_department(self, dept_id: int, name: str, parent_id: int = 1) -> str:
        """Seed a department under ``parent_id``; returns its id as a string."""
        if dept_id in self.departments or parent_id not in self.departments:
            raise ValueError(f"department {dept_id} exists or parent {parent_id} does not")
        self.departments[dept_id] = _department(dept_id, name, parent_id)
        return str(dept_id)

    def add_user(
        self,
        userid: str,
        name: str,
        *,
        mobile: str | None = None,
        email: str | None = None,
        departments: Sequence[int] = (1,),
        leader_of: Sequence[int] = (),
        active: bool = True,
    ) -> str:
        """Seed an activated user (status 1), or a disabled one (status 2) when not ``active``."""
        if self.find_user(userid) or any(d not in self.departments for d in (*departments, *leader_of)):
            raise ValueError(f"user {userid} exists or a department is unknown")
        depts = list(dict.fromkeys([*departments, *leader_of]))
        self._store_user(
            {
                "userid": userid,
                "name": name,
                "mobile": mobile or "",
                "email": email or "",
                "department": depts,
                "is_leader_in_dept": [int(d in leader_of) for d in depts],
                "enable": int(active),
                "activated": True,
            }
        )
        return userid

    def _store_user(self, user: dict[str, Any]) -> None:
        user["status"] = _status(user)
        self.users[user["userid"]] = user  # ``users`` keeps its indexes (userid, mobile, email) itself

    # --- users: read ----------------------------------------------------------------

    @route("GET", api("user/get"))
    def _user_get(self, request: httpx.Request) -> httpx.Response:
        user = self.find_user(self.param(request, "userid", 41009))
        if user is None:
            raise WeComFault(60111)
        return self.ok(**user_view(user))

    @route("GET", api("user/list"))
    def _user_list(self, request: httpx.Request) -> httpx.Response:
        return self.ok(userlist=[user_view(u) for u in self._users_under(request)])

    @route("GET", api("user/simplelist"))
    def _user_simplelist(self, request: httpx.Request) -> httpx.Response:
        keys = ("userid", "name", "department")
        return self.ok(
            userlist=[
                {k: u[k] for k in keys} | {"open_userid": u["userid"]} for u in self._users_under(request)
            ]
        )

    def _users_under(self, request: httpx.Request) -> list[dict[str, Any]]:
        if self.legacy_contacts_blocked:
            raise WeComFault(48002)
        dept = self.int_value(self.param(request, "department_id", 40058), 60123)
        if dept not in self.departments:
            raise WeComFault(60003)
        scope = set(self._subtree(dept)) if request.url.params.get("fetch_child") == "1" else {dept}
        return [u for u in self.users.values() if scope & set(u["department"])]

    @route("POST", api("user/list_id"))
    def _user_list_id(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        limit = self.int_value(body.get("limit", self.limits.list_id_limit), 40058)
        start = decode_cursor(str(body["cursor"])) if body.get("cursor") else 0
        if not 1 <= limit <= self.limits.list_id_limit or start < 0:
            raise WeComFault(40058)
        rows = [
            {"userid": u["userid"], "department": d} for u in self.users.values() for d in u["department"]
        ]
        end = start + limit
        return self.ok(next_cursor=encode_cursor(end) if end < len(rows) else "", dept_user=rows[start:end])

    # --- users: write ---------------------------------------------------------------

    @route("POST", api("user/create"))
    def _user_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        userid = str(body.get("userid") or "")
        if not userid:
            raise WeComFault(41009)
        if not USERID_RE.match(userid):
            raise WeComFault(40003)
        if self.find_user(userid):
            raise WeComFault(60102)
        _check_name(body.get("name"))
        if "department" not in body:
            raise WeComFault(60127)
        user = {
            "userid": userid,
            "name": body["name"],
            "mobile": "",
            "email": "",
            "activated": False,
            "enable": 1 if body.get("enable", 1) else 0,
        }
        user |= self._placement(body["department"], body.get("is_leader_in_dept"))
        user |= self._contact(body, None)
        self._store_user(user)
        self.note_created(userid)
        return self.ok("created")

    @route("POST", api("user/update"))
    def _user_update(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        if not body.get("userid"):
            raise WeComFault(41009)
        user = self.find_user(body["userid"])
        if user is None:
            raise WeComFault(60111)
        changes: dict[str, Any] = {}
        if "name" in body:
            changes["name"] = _check_name(body["name"])
        if "department" in body:
            changes |= self._placement(body["department"], body.get("is_leader_in_dept"))
        elif "is_leader_in_dept" in body:
            changes |= self._placement(user["department"], body["is_leader_in_dept"])
        changes |= self._contact(body, user["userid"], user)
        if "enable" in body:
            changes["enable"] = 1 if body["enable"] else 0
        user.update(changes)
        user["status"] = _status(user)
        return self.ok("updated")

    def _placement(self, departments: Any, leaders: Any) -> dict[str, list[int]]:
        if not isinstance(departments, list) or not departments:
            raise WeComFault(60127)
        depts = [self.int_value(d, 40066) for d in departments]
        if any(d not in self.departments for d in depts):
            raise WeComFault(40066)
        if len(set(depts)) > self.limits.user_departments:
            raise WeComFault(60110)
        flags = [1 if f else 0 for f in leaders] if isinstance(leaders, list) else [0] * len(depts)
        if len(flags) != len(depts):
            raise WeComFault(40058, "invalid parameter: is_leader_in_dept must match department")
        return {"department": depts, "is_leader_in_dept": flags}

    def _contact(
        self, body: dict[str, Any], own: str | None, current: dict[str, Any] | None = None
    ) -> dict[str, str]:
        # Only the fields a request sends are checked, against everyone else's.
        sent = {k: str(body[k] or "") for k in ("mobile", "email") if k in body}
        merged = {
            "mobile": "",
            "email": "",
            **{k: (current or {}).get(k, "") for k in ("mobile", "email")},
            **sent,
        }
        if not merged["mobile"] and not merged["email"]:
            raise WeComFault(60129)
        mobile, email = sent.get("mobile"), sent.get("email")
        if mobile and not MOBILE_RE.match(mobile):
            raise WeComFault(60103)
        if email and (len(email) > 64 or not EMAIL_RE.match(email)):
            raise WeComFault(60105)
        if mobile and self.users.taken("mobile", mobile, own):
            raise WeComFault(60104)
        if email and self.users.taken("email", email.lower(), own):
            raise WeComFault(60106)
        return merged

    # --- departments ----------------------------------------------------------------

    def _subtree(self, dept_id: int) -> list[int]:
        found, todo = [], [dept_id]
        while todo:
            current = todo.pop(0)
            found.append(current)
            todo += sorted(d for d, v in self.departments.items() if v["parentid"] == current)
        return found

    def _depth(self, dept_id: int) -> int:
        depth = 1
        while self.departments[dept_id]["parentid"]:
            dept_id, depth = self.departments[dept_id]["parentid"], depth + 1
        return depth

    def _scope(self, request: httpx.Request) -> list[int]:
        if "id" not in request.url.params:
            return self._subtree(1)
        dept = self.int_value(request.url.params["id"], 60123)
        if dept not in self.departments:
            raise WeComFault(60003)
        return self._subtree(dept)

    def _department_view(self, dept_id: int) -> dict[str, Any]:
        leaders = [
            u["userid"]
            for u in self.users.values()
            if any(d == dept_id and f for d, f in zip(u["department"], u["is_leader_in_dept"], strict=False))
        ]
        return {**self.departments[dept_id], "department_leader": leaders}

    @route("GET", api("department/list"))
    def _department_list(self, request: httpx.Request) -> httpx.Response:
        if self.legacy_contacts_blocked:
            raise WeComFault(48002)
        return self.ok(department=[self._department_view(d) for d in self._scope(request)])

    @route("GET", api("department/simplelist"))
    def _department_simplelist(self, request: httpx.Request) -> httpx.Response:
        keys = ("id", "parentid", "order")
        return self.ok(
            department_id=[{k: self.departments[d][k] for k in keys} for d in self._scope(request)]
        )

    @route("GET", api("department/get"))
    def _department_get(self, request: httpx.Request) -> httpx.Response:
        dept = self.int_value(self.param(request, "id", 40058), 60123)
        if dept not in self.departments:
            raise WeComFault(60003)
        return self.ok(department=self._department_view(dept))

    @route("POST", api("department/create"))
    def _department_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        name = str(body.get("name") or "")
        if not name or len(name) > 32:
            raise WeComFault(60001)
        if BAD_DEPT_CHARS & set(name):
            raise WeComFault(60009)
        parent = self.int_value(body.get("parentid"), 60004)
        if parent not in self.departments:
            raise WeComFault(60004)
        dept_id = self.int_value(body.get("id", max(self.departments) + 1), 60123)
        siblings = (v["name"] for v in self.departments.values() if v["parentid"] == parent)
        if dept_id <= 1:
            raise WeComFault(60123)
        if dept_id in self.departments or name in siblings:
            raise WeComFault(60008)
        if self._depth(parent) + 1 > self.limits.department_depth:
            raise WeComFault(81002)
        self.departments[dept_id] = _department(
            dept_id, name, parent, self.int_value(body.get("order", 0), 40058)
        )
        return self.ok("created", id=dept_id)


def _status(user: dict[str, Any]) -> int:
    """user/get ``status``: 2 disabled, else 1 active or 4 not activated yet."""
    if not user["enable"]:
        return 2
    return 1 if user["activated"] else 4


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise WeComFault(60112)
    return name


def user_view(user: dict[str, Any]) -> dict[str, Any]:
    """A user as ``user/get`` and ``user/list`` give it."""
    depts = user["department"]
    return {
        "userid": user["userid"],
        "name": user["name"],
        "department": depts,
        "order": [0] * len(depts),
        "position": "",
        "mobile": user["mobile"],
        "gender": "0",
        "email": user["email"],
        "is_leader_in_dept": user["is_leader_in_dept"],
        "direct_leader": [],
        "avatar": "",
        "thumb_avatar": "",
        "telephone": "",
        "alias": "",
        "status": user["status"],
        "address": "",
        "open_userid": user["userid"],
        "main_department": depts[0] if depts else 1,
    }


__all__ = ["ContactsMixin", "user_view"]
