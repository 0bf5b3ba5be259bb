"""Tokens, departments and users of the DingTalk sandbox (reference §1.1, §1.4).

Faithful points: ``gettoken`` and ``/v1.0/oauth2/accessToken`` issue the same app token;
``/topapi/v2/user/list`` pages a department's *direct* members with a numeric cursor from
0 and ``size`` ≤ 100 (``has_more``/``next_cursor``; list rows carry ``leader`` for that
department, ``user/get`` carries ``leader_in_dept``); ``listsub``/``listsubid`` go one
level deep; ``user/create`` requires name, mobile and ``dept_id_list`` (documented as a
comma string "2,3"; a JSON array is accepted too) and answers 60102 for a taken userid,
60104 for a taken mobile; unknown users 60121, unknown departments 60003.

Unverified and assumed: ``leader_in_dept`` ([{dept_id, leader}]) is accepted on create
and update to set led departments; a department name must be unique under its parent
(60008).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.dingtalk.sandbox._core import (
    BAD_CREDENTIALS,
    DEPT_NAME_TAKEN,
    MOBILE_TAKEN,
    USERID_TAKEN,
    Fail,
    NewFail,
    id_list,
    invalid,
    public,
)

MAX_PAGE = 100


class ContactsMixin:
    """Token endpoints, ``/topapi/v2/department/*`` and ``/topapi/v2/user/*``."""

    # --- seeding -------------------------------------------------------------------

    def add_department(self, dept_id: int, name: str, parent_id: int = 1) -> str:
        """Seed a department under ``parent_id``; returns its id as a string."""
        self.department(parent_id)
        self.departments[int(dept_id)] = {"dept_id": int(dept_id), "name": name, "parent_id": int(parent_id)}
        return str(dept_id)

    def add_user(self, userid: str, name: str, *, mobile: str | None = None, email: str | None = None,
                 departments: Sequence[int] = (1,), leader_of: Sequence[int] = (),
                 active: bool = True) -> str:
        """Seed a user (departments must exist); returns the userid."""
        for dept_id in departments:
            self.department(dept_id)
        self.users[userid] = {
            "userid": userid, "unionid": self._hex(20), "name": name, "mobile": mobile, "email": email,
            "dept_id_list": [int(d) for d in departments], "leader_of": [int(d) for d in leader_of],
            "active": active, "state_code": "86",
        }
        return userid

    # --- tokens --------------------------------------------------------------------

    @route("GET", "/gettoken")
    @public
    def _gettoken(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        key = params.get("appkey") or params.get("corpid")
        secret = params.get("appsecret") or params.get("corpsecret")
        if (key, secret) != (self.appkey, self.appsecret):
            raise Fail(BAD_CREDENTIALS, "不合法的appKey或appSecret")
        token, left = self.tokens.issue(self.appkey)
        return self.ok(access_token=token, expires_in=left)

    @route("POST", "/v1.0/oauth2/accessToken")
    @public
    def _access_token(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request)
        if not body:
            raise NewFail(400, "MissingBody", "body is mandatory for this action.")
        if (body.get("appKey"), body.get("appSecret")) != (self.appkey, self.appsecret):
            raise NewFail(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token, left = self.tokens.issue(self.appkey)
        return self.json({"accessToken": token, "expireIn": left})

    @route("GET", "/v1.0/contact/users/{union_id}")
    def _new_user(self, request: httpx.Request, union_id: str) -> httpx.Response:
        user = self.users.first("unionid", union_id)
        if user is None:
            raise NewFail(404, "resource.not.found", "用户不存在")
        body = {"nick": user["name"], "unionId": user["unionid"], "stateCode": user["state_code"],
                "mobile": user["mobile"], "email": user["email"], "avatarUrl": ""}
        return self.json({k: v for k, v in body.items() if v is not None})

    # --- departments ---------------------------------------------------------------

    @route("POST", "/topapi/v2/department/get")
    def _dept_get(self, request: httpx.Request) -> httpx.Response:
        dept = self.department(self.payload(request).get("dept_id"))
        managers = [u["userid"] for u in self.users.values() if dept["dept_id"] in u["leader_of"]]
        return self.ok(result={**_dept_row(dept), "dept_manager_userid_list": managers, "outer_dept": False})

    @route("POST", "/topapi/v2/department/listsub")
    def _dept_listsub(self, request: httpx.Request) -> httpx.Response:
        parent = self.department(self.payload(request).get("dept_id", 1))["dept_id"]
        rows = [_dept_row(d) for d in self.departments.values() if d["parent_id"] == parent]
        return self.ok(result=rows)

    @route("POST", "/topapi/v2/department/listsubid")
    def _dept_listsubid(self, request: httpx.Request) -> httpx.Response:
        parent = self.department(self.payload(request).get("dept_id"))["dept_id"]
        ids = [d["dept_id"] for d in self.departments.values() if d["parent_id"] == parent]
        return self.ok(result={"dept_id_list": ids})

    @route("POST", "/topapi/v2/department/create")
    def _dept_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        name, parent = str(body.get("name") or ""), self.department(body.get("parent_id"))["dept_id"]
        if not name:
            raise invalid("name is required")
        if any(d["parent_id"] == parent and d["name"] == name for d in self.departments.values()):
            raise Fail(DEPT_NAME_TAKEN, "父部门下该部门名称已存在")
        dept_id = max(self.departments) + 1
        self.departments[dept_id] = {"dept_id": dept_id, "name": name, "parent_id": parent}
        return self.ok(result={"dept_id": dept_id})

    # --- users ---------------------------------------------------------------------

    @route("POST", "/topapi/v2/user/get")
    def _user_get(self, request: httpx.Request) -> httpx.Response:
        return self.ok(result=_user_detail(self.user(self.payload(request).get("userid"))))

    @route("POST", "/topapi/v2/user/list")
    def _user_list(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        dept_id = self.department(body.get("dept_id"))["dept_id"]
        cursor, size = _page_args(body.get("cursor"), body.get("size"))
        members = [u for u in self.users.values() if dept_id in u["dept_id_list"]]
        page = members[cursor:cursor + size]
        result: dict[str, Any] = {"has_more": cursor + size < len(members),
                                  "list": [_user_row(u, dept_id) for u in page]}
        if result["has_more"]:
            result["next_cursor"] = cursor + size
        return self.ok(result=result)

    @route("POST", "/topapi/user/listid")
    def _user_listid(self, request: httpx.Request) -> httpx.Response:
        dept_id = self.department(self.payload(request).get("dept_id"))["dept_id"]
        ids = [u["userid"] for u in self.users.values() if dept_id in u["dept_id_list"]]
        return self.ok(result={"userid_list": ids})

    @route("POST", "/topapi/v2/user/create")
    def _user_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        if not body.get("name") or not body.get("mobile"):
            raise invalid("name and mobile are required")
        userid = str(body.get("userid") or self._hex(16))
        if userid in self.users:
            raise Fail(USERID_TAKEN, "该userid在公司中已存在")
        self._check_mobile(body["mobile"], userid)
        depts = self._dept_ids(body.get("dept_id_list"))
        leads = self._leads(body.get("leader_in_dept"), depts)
        self.add_user(userid, str(body["name"]), mobile=str(body["mobile"]), email=body.get("email"),
                      departments=depts, leader_of=leads)
        self.note_created(userid)
        return self.ok(result={"userid": userid, "unionId": self.users[userid]["unionid"]})

    @route("POST", "/topapi/v2/user/update")
    def _user_update(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        user = self.user(body.get("userid"))
        changes = self._user_changes(user, body)
        user.update(changes)  # all checks passed: apply at once
        return self.ok()

    @route("POST", "/topapi/v2/user/delete")
    def _user_delete(self, request: httpx.Request) -> httpx.Response:
        user = self.user(self.payload(request).get("userid"))
        del self.users[user["userid"]]
        for chat in self.chats.values():  # a deleted user leaves every chat
            if user["userid"] in chat["useridlist"] and user["userid"] != chat["owner"]:
                chat["useridlist"].remove(user["userid"])
        return self.ok()

    # --- validation helpers ---------------------------------------------------------

    def _user_changes(self, user: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {k: body[k] for k in ("name", "email") if body.get(k) is not None}
        if body.get("mobile"):
            self._check_mobile(body["mobile"], user["userid"])
            changes["mobile"] = str(body["mobile"])
        depts = user["dept_id_list"]
        if "dept_id_list" in body:
            depts = changes["dept_id_list"] = self._dept_ids(body["dept_id_list"])
        if "leader_in_dept" in body:
            changes["leader_of"] = self._leads(body["leader_in_dept"], depts)
        elif "dept_id_list" in changes:
            changes["leader_of"] = [d for d in user["leader_of"] if d in depts]
        return changes

    def _check_mobile(self, mobile: Any, userid: str) -> None:
        if self.users.taken("mobile", str(mobile), userid):
            raise Fail(MOBILE_TAKEN, "手机号码在公司中已存在")

    def _dept_ids(self, value: Any) -> list[int]:
        ids = id_list(value)
        if not ids:
            raise invalid("dept_id_list is required")
        return [self.department(d)["dept_id"] for d in ids]

    def _leads(self, rows: Any, depts: list[int]) -> list[int]:
        if rows is None:
            return []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise invalid("leader_in_dept must be a list of {dept_id, leader}")
        leads = [self.department(r.get("dept_id"))["dept_id"] for r in rows if r.get("leader")]
        if any(d not in depts for d in leads):
            raise invalid("a user can only lead a department they belong to")
        return leads


def _page_args(cursor: Any, size: Any) -> tuple[int, int]:
    try:
        cursor, size = int(cursor if cursor is not None else 0), int(size)
    except (TypeError, ValueError):
        raise invalid("cursor and size must be numbers") from None
    if cursor < 0 or not 1 <= size <= MAX_PAGE:
        raise invalid(f"size must be between 1 and {MAX_PAGE}")
    return cursor, size


def _dept_row(dept: dict[str, Any]) -> dict[str, Any]:
    row = {"dept_id": dept["dept_id"], "name": dept["name"], "create_dept_group": False,
           "auto_add_user": False}
    if dept["parent_id"] is not None:
        row["parent_id"] = dept["parent_id"]
    return row


def _user_base(user: dict[str, Any]) -> dict[str, Any]:
    row = {"userid": user["userid"], "unionid": user["unionid"], "name": user["name"], "avatar": "",
           "state_code": user["state_code"], "mobile": user["mobile"], "hide_mobile": False, "telephone": "",
           "job_number": "", "title": "", "email": user["email"], "org_email": "", "work_place": "",
           "remark": "", "dept_id_list": list(user["dept_id_list"]), "active": user["active"],
           "admin": False, "boss": False, "exclusive_account": False}
    return {k: v for k, v in row.items() if v is not None}


def _user_detail(user: dict[str, Any]) -> dict[str, Any]:
    """``/topapi/v2/user/get``'s shape: orders and leadership per department."""
    depts = user["dept_id_list"]
    return {**_user_base(user), "dept_order_list": [{"dept_id": d, "order": 0} for d in depts],
            "leader_in_dept": [{"dept_id": d, "leader": d in user["leader_of"]} for d in depts],
            "real_authed": True, "senior": False, "role_list": []}


def _user_row(user: dict[str, Any], dept_id: int) -> dict[str, Any]:
    """A ``/topapi/v2/user/list`` row: ``leader`` is about the listed department only."""
    return {**_user_base(user), "dept_order": 0, "leader": dept_id in user["leader_of"]}


__all__ = ["ContactsMixin"]
