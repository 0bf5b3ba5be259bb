"""Token endpoint and contact v3 reads of the Feishu sandbox (reference §3.1, §3.3).

Departments are keyed by ``department_id`` (root ``"0"``) and carry an
``open_department_id``; the ``department_id_type`` query picks which one requests use and
answers report (default ``open_department_id``). Departments in ``out_of_scope`` answer
40004, as a department outside the app's contact scope does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.feishu.sandbox._core import BAD_CREDENTIALS, PREFIX, Fail, public

CONTACT_PAGE_MAX = 50
DEPT_OUT_OF_SCOPE = 40004
DEPT_NOT_FOUND = 40003  # chosen: "department not exist" (unverified)


class ContactsMixin:
    """``tenant_access_token/internal``, departments get/children, users find_by_department."""

    # --- seeding -------------------------------------------------------------------

    def add_department(self, dept_id: str, name: str, parent_id: str = "0") -> str:
        dept_id, parent_id = str(dept_id), str(parent_id)
        if parent_id not in self.departments:
            raise KeyError(f"no parent department {parent_id}")
        self.departments[dept_id] = {"department_id": dept_id, "open_department_id": "od-" + self.hex(32),
                                     "name": name, "parent_department_id": parent_id, "status": {"is_deleted": False}}
        return dept_id

    def add_user(self, open_id: str, name: str, *, mobile: str | None = None, email: str | None = None,
                 departments: Sequence[str] = ("0",)) -> str:
        depts = [str(d) for d in departments] or ["0"]
        for dept in depts:
            if dept not in self.departments:
                raise KeyError(f"no department {dept}")
        self.users[open_id] = {"open_id": open_id, "union_id": "on_" + self.hex(32), "user_id": self.hex(8),
                               "name": name, "mobile": mobile, "email": email, "department_ids": depts,
                               "status": {"is_frozen": False, "is_resigned": False, "is_activated": True,
                                          "is_exited": False, "is_unjoin": False}}
        return open_id

    # --- token ---------------------------------------------------------------------

    @public
    @route("POST", PREFIX + "/auth/v3/tenant_access_token/internal")
    def _tenant_token(self, request: httpx.Request) -> httpx.Response:
        body = self.body(request) or {}
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return self.fail(BAD_CREDENTIALS, "app secret invalid")
        token, expire = self.tokens.issue(self.app_id)
        return self.json({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire})

    # --- departments ---------------------------------------------------------------

    @route("GET", PREFIX + "/contact/v3/departments/{department_id}")
    def _department_get(self, request: httpx.Request, department_id: str) -> httpx.Response:
        dept = self._dept(request, department_id)
        return self.ok({"department": self._dept_out(request, dept)})

    @route("GET", PREFIX + "/contact/v3/departments/{department_id}/children")
    def _department_children(self, request: httpx.Request, department_id: str) -> httpx.Response:
        parent = self._dept(request, department_id)
        rows = [self._dept_out(request, d) for d in self._children(parent["department_id"],
                                                                  request.url.params.get("fetch_child") == "true")]
        return self.ok(self.page(request, rows, f"children:{parent['department_id']}", CONTACT_PAGE_MAX, 10))

    def _children(self, dept_id: str, deep: bool) -> list[dict[str, Any]]:
        out = []
        for dept in self.departments.values():
            if dept["parent_department_id"] == dept_id and dept["department_id"] != "0":
                out.append(dept)
                if deep:
                    out += self._children(dept["department_id"], True)
        return out

    # --- users ---------------------------------------------------------------------

    @route("GET", PREFIX + "/contact/v3/users/find_by_department")
    def _users_by_department(self, request: httpx.Request) -> httpx.Response:
        dept = self._dept(request, request.url.params.get("department_id") or "")
        dept_id = dept["department_id"]
        rows = [self._user_out(request, u) for u in self.users.values() if dept_id in u["department_ids"]]
        return self.ok(self.page(request, rows, f"users:{dept_id}", CONTACT_PAGE_MAX, 10))

    # --- helpers -------------------------------------------------------------------

    def _dept(self, request: httpx.Request, dept_id: str) -> dict[str, Any]:
        by_open = request.url.params.get("department_id_type", "open_department_id") == "open_department_id"
        found = None
        for dept in self.departments.values():
            if (dept["open_department_id"] if by_open else dept["department_id"]) == dept_id:
                found = dept
        if found is None:
            raise Fail(DEPT_NOT_FOUND, "department not exist")
        if found["department_id"] in self.out_of_scope:
            raise Fail(DEPT_OUT_OF_SCOPE, "department not in the app's contact scope", 403)
        return found

    def _dept_id_out(self, request: httpx.Request, dept_id: str) -> str:
        if request.url.params.get("department_id_type", "open_department_id") == "department_id":
            return dept_id
        return self.departments[dept_id]["open_department_id"]

    def _dept_out(self, request: httpx.Request, dept: dict[str, Any]) -> dict[str, Any]:
        parent = dept["parent_department_id"]
        return {**dept, "parent_department_id": self._dept_id_out(request, parent) if parent else ""}

    def _user_out(self, request: httpx.Request, user: dict[str, Any]) -> dict[str, Any]:
        row = {k: v for k, v in user.items() if v is not None}
        row["department_ids"] = [self._dept_id_out(request, d) for d in user["department_ids"]]
        return row
