"""Token endpoint and contact v3 (users, departments) of the Feishu sandbox (reference §3.1–§3.3).

Departments are keyed by ``department_id`` (root ``"0"``) and carry an
``open_department_id``; the ``department_id_type`` query picks which one requests use and
answers report (default ``open_department_id``). A department outside the app's contact
scope (``out_of_scope``) answers 40004 (HTTP 403), an unknown one 40015 "department not
exist" (the get-department error table).

Users are keyed by ``user_id``; a path or query id is read in the request's
``user_id_type`` (default ``open_id``). An id that names no user of that type, including
an id of another type, answers 41050 "no user authority error": the app cannot see such a
user (unverified for ids that exist nowhere; 41050 is what an id outside the scope gets).

Creating a user (a self-built app may set ``user_id``) checks, in this order: the body
(41006 no name, 41009 neither mobile nor email, 41004/41005 malformed), departments
(40015), the mobile and email against *other* users (41001/41002), then the ``user_id``
(41011). So 41011 means the id exists and the contacts clash with nobody else. A
``client_token`` already seen answers the first success again (§8.3). Deleting a user
hands their chats to the first member who joined after them (the documented default when
no chat acceptor is given), their documents to ``docs_acceptor_user_id`` (without one,
to their leader, which the sandbox does not model, so the documents are deleted; an
acceptor naming no other user is 99992402, a choice), and drops their document grants.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx

from connectors._sandbox import route
from connectors.feishu.sandbox._core import BAD_CREDENTIALS, FIELD_INVALID, PREFIX, Fail, phone_key, public

CONTACT_PAGE_MAX = 50
BATCH_MAX = 50
ROOT = "0"
DEPT_OUT_OF_SCOPE = 40004
NO_PARENT_AUTHORITY = 40014
DEPT_NOT_FOUND = 40015
DEPT_NAME_EMPTY = 40016
DEPT_NAME_TAKEN = 40018  # "duplicate name error" under one parent
MOBILE_TAKEN = 41001
EMAIL_TAKEN = 41002
MOBILE_INVALID = 41004
EMAIL_INVALID = 41005
NO_NAME = 41006
NO_CONTACT = 41009
USER_ID_TAKEN = 41011
NO_USER_AUTHORITY = 41050
MOBILE = re.compile(r"^\+?\d{6,16}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
USERS = PREFIX + "/contact/v3/users"
DEPARTMENTS = PREFIX + "/contact/v3/departments"


class ContactsMixin:
    """``tenant_access_token/internal``, departments get/children/create, users CRUD and listings."""

    # --- seeding -------------------------------------------------------------------

    def add_department(self, dept_id: str | int, name: str, parent_id: str | int = ROOT) -> str:
        """Seed a department (ids are strings; ints are accepted); returns its ``department_id``."""
        dept_id, parent_id = str(dept_id), str(parent_id)
        if parent_id not in self.departments:
            raise KeyError(f"no parent department {parent_id}")
        self.departments[dept_id] = {"department_id": dept_id, "open_department_id": "od-" + self.hex(32),
                                     "name": name, "parent_department_id": parent_id, "status": {"is_deleted": False}}
        return dept_id

    def add_user(self, user_id: str, name: str, *, mobile: str | None = None, email: str | None = None,
                 departments: Sequence[str | int] = (ROOT,)) -> str:
        """Seed an active user; returns its ``user_id`` (the key of ``users``)."""
        depts = [str(d) for d in departments] or [ROOT]
        for dept in depts:
            if dept not in self.departments:
                raise KeyError(f"no department {dept}")
        self.users[user_id] = self._new_user(user_id, name, mobile, email, depts, activated=True)
        return user_id

    def _new_user(self, user_id: str, name: str, mobile: str | None, email: str | None, depts: list[str], *,
                  activated: bool) -> dict[str, Any]:
        return {"user_id": user_id, "open_id": "ou_" + self.hex(32), "union_id": "on_" + self.hex(32),
                "name": name, "mobile": mobile, "email": email, "department_ids": depts, "employee_type": 1,
                "status": {"is_frozen": False, "is_resigned": False, "is_activated": activated,
                           "is_exited": False, "is_unjoin": not activated}}

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

    @route("GET", DEPARTMENTS + "/{department_id}")
    def _department_get(self, request: httpx.Request, department_id: str) -> httpx.Response:
        dept = self._dept(request, department_id)
        return self.ok({"department": self._dept_out(request, dept)})

    @route("GET", DEPARTMENTS + "/{department_id}/children")
    def _department_children(self, request: httpx.Request, department_id: str) -> httpx.Response:
        parent = self._dept(request, department_id)
        rows = [self._dept_out(request, d) for d in self._children(parent["department_id"],
                                                                  request.url.params.get("fetch_child") == "true")]
        return self.ok(self.page(request, rows, f"children:{parent['department_id']}", CONTACT_PAGE_MAX, 10))

    @route("POST", DEPARTMENTS)
    def _department_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)

        def make() -> dict[str, Any]:
            name = str(body.get("name") or "").strip()
            if not name:
                raise Fail(DEPT_NAME_EMPTY, "dept name can not be null error")
            try:
                parent = self._dept(request, str(body.get("parent_department_id") or ""))
            except Fail as exc:
                raise Fail(NO_PARENT_AUTHORITY, "no parent dept authority error", 403) from exc
            if any(d["name"] == name for d in self._children(parent["department_id"], False)):
                raise Fail(DEPT_NAME_TAKEN, "duplicate name error")
            dept_id = str(body.get("department_id") or "") or self._fresh_dept_id()
            if dept_id in self.departments:
                raise Fail(FIELD_INVALID, f"department_id {dept_id} is taken")
            self.add_department(dept_id, name, parent["department_id"])
            return {"department": self._dept_out(request, self.departments[dept_id])}

        return self.ok(self.once("department_create", request.url.params.get("client_token"), make))

    def _children(self, dept_id: str, deep: bool) -> list[dict[str, Any]]:
        out = []
        for dept in self.departments.values():
            if dept["parent_department_id"] == dept_id and dept["department_id"] != ROOT:
                out.append(dept)
                if deep:
                    out += self._children(dept["department_id"], True)
        return out

    def _fresh_dept_id(self) -> str:
        while True:
            dept_id = "D" + self.hex(6)
            if dept_id not in self.departments:
                return dept_id

    # --- users: reads --------------------------------------------------------------

    @route("GET", USERS + "/find_by_department")
    def _users_by_department(self, request: httpx.Request) -> httpx.Response:
        dept = self._dept(request, request.url.params.get("department_id") or "")
        dept_id = dept["department_id"]
        rows = [self._user_out(request, u) for u in self.users.values() if dept_id in u["department_ids"]]
        return self.ok(self.page(request, rows, f"users:{dept_id}", CONTACT_PAGE_MAX, 10))

    @route("GET", USERS + "/batch")
    def _users_batch(self, request: httpx.Request) -> httpx.Response:
        id_type = self.id_type(request, "user_id_type", FIELD_INVALID)
        ids = request.url.params.get_list("user_ids")
        if not 1 <= len(ids) <= BATCH_MAX:
            raise Fail(FIELD_INVALID, f"user_ids takes 1 to {BATCH_MAX} ids")
        found = [self.find_user(i, id_type) for i in ids]
        return self.ok({"items": [self._user_out(request, u) for u in found if u is not None]})

    @route("GET", USERS + "/{user_id}")
    def _user_get(self, request: httpx.Request, user_id: str) -> httpx.Response:
        return self.ok({"user": self._user_out(request, self._user(request, user_id))})

    # --- users: writes -------------------------------------------------------------

    @route("POST", USERS)
    def _user_create(self, request: httpx.Request) -> httpx.Response:
        body = self.payload(request)
        return self.ok(self.once("user_create", request.url.params.get("client_token"),
                                 lambda: {"user": self._user_out(request, self._create(request, body))}))

    def _create(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name") or "").strip()
        if not name:
            raise Fail(NO_NAME, "no user name error")
        mobile, email = body.get("mobile") or None, body.get("email") or None
        if not (mobile or email):
            raise Fail(NO_CONTACT, "no email or mobile error")
        self._check_contacts(mobile, email)
        if body.get("employee_type") not in (1, 2, 3, 4, 5):
            raise Fail(FIELD_INVALID, "field validation failed: employee_type is required (1-5)")
        depts = self._dept_ids_in(request, body.get("department_ids") or [ROOT])
        user_id = str(body.get("user_id") or "") or self.hex(8)
        if not USER_ID.match(user_id):
            raise Fail(FIELD_INVALID, "field validation failed: user_id")
        self._contacts_free(mobile, email, user_id)
        if user_id in self.users:
            raise Fail(USER_ID_TAKEN, "user id already exist error")
        self.users[user_id] = self._new_user(user_id, name, mobile, email, depts, activated=False)
        self.note_created(user_id)
        return self.users[user_id]

    @route("PATCH", USERS + "/{user_id}")
    def _user_patch(self, request: httpx.Request, user_id: str) -> httpx.Response:
        user = self._user(request, user_id)
        body = self.payload(request)
        if "name" in body and not str(body["name"] or "").strip():
            raise Fail(NO_NAME, "no user name error")
        mobile, email = body.get("mobile"), body.get("email")
        self._check_contacts(mobile, email)
        self._contacts_free(mobile, email, user["user_id"])
        depts = self._dept_ids_in(request, body["department_ids"]) if "department_ids" in body else None
        for key in ("name", "mobile", "email"):
            if body.get(key):
                user[key] = str(body[key]).strip() if key == "name" else body[key]
        if depts is not None:
            user["department_ids"] = depts
        return self.ok({"user": self._user_out(request, user)})

    @route("DELETE", USERS + "/{user_id}")
    def _user_delete(self, request: httpx.Request, user_id: str) -> httpx.Response:
        user = self._user(request, user_id)
        gone = user["user_id"]
        heir = (self.body(request) or {}).get("docs_acceptor_user_id")
        if heir:
            acceptor = self.find_user(heir, self.id_type(request, "user_id_type", FIELD_INVALID))
            if acceptor is None or acceptor["user_id"] == gone:
                raise Fail(FIELD_INVALID, "field validation failed: docs_acceptor_user_id is no other user")
            heir = acceptor["user_id"]
        for token, doc in list(self.docs.items()):
            if doc["owner"] == gone and heir:
                doc["owner"] = heir
                doc["members"].pop(heir, None)
            elif doc["owner"] == gone:  # no acceptor and no leader modelled: the documents go
                del self.docs[token]
        del self.users[gone]
        self.deleted_users[gone] = heir or None
        for chat in self.chats.values():
            if gone in chat["members"]:
                chat["members"].remove(gone)
                if chat["owner_id"] == gone:
                    chat["owner_id"] = chat["members"][0] if chat["members"] else None
                    chat["dissolved"] = chat["dissolved"] or not chat["members"]
        for doc in self.docs.values():
            doc["members"].pop(gone, None)
        return self.ok({})

    # --- helpers -------------------------------------------------------------------

    def _user(self, request: httpx.Request, some_id: str) -> dict[str, Any]:
        user = self.find_user(some_id, self.id_type(request, "user_id_type", FIELD_INVALID))
        if user is None:
            raise Fail(NO_USER_AUTHORITY, "no user authority error")
        return user

    @staticmethod
    def _check_contacts(mobile: Any, email: Any) -> None:
        if mobile and not MOBILE.match(str(mobile)):
            raise Fail(MOBILE_INVALID, "mobile is invalid error")
        if email and not EMAIL.match(str(email)):
            raise Fail(EMAIL_INVALID, "email is invalid error")

    def _contacts_free(self, mobile: Any, email: Any, user_id: str) -> None:
        """41001/41002 when another user (not ``user_id``) has the mobile or the email."""
        if mobile and self.users.taken("mobile", phone_key(mobile), user_id):
            raise Fail(MOBILE_TAKEN, "mobile has already exist error")
        if email and self.users.taken("email", str(email).lower(), user_id):
            raise Fail(EMAIL_TAKEN, "email has already exist error")

    def _dept_ids_in(self, request: httpx.Request, ids: Any) -> list[str]:
        if not isinstance(ids, list) or not ids:
            raise Fail(FIELD_INVALID, "field validation failed: department_ids must list 1 or more departments")
        return list(dict.fromkeys(self._dept(request, str(i))["department_id"] for i in ids))

    def _dept(self, request: httpx.Request, dept_id: str) -> dict[str, Any]:
        by_open = request.url.params.get("department_id_type", "open_department_id") == "open_department_id"
        found = None
        for dept in self.departments.values():
            if (dept["open_department_id"] if by_open else dept["department_id"]) == dept_id:
                found = dept
        if found is None:
            raise Fail(DEPT_NOT_FOUND, "department not exist")
        if found["department_id"] in self.out_of_scope:
            raise Fail(DEPT_OUT_OF_SCOPE, "no dept authority error", 403)
        return found

    def _dept_id_out(self, request: httpx.Request, dept_id: str) -> str:
        if request.url.params.get("department_id_type", "open_department_id") == "department_id":
            return dept_id
        return self.departments[dept_id]["open_department_id"] if dept_id in self.departments else dept_id

    def _dept_out(self, request: httpx.Request, dept: dict[str, Any]) -> dict[str, Any]:
        parent = dept["parent_department_id"]
        return {**dept, "parent_department_id": self._dept_id_out(request, parent) if parent else "",
                "department_id": dept["department_id"]}

    def _user_out(self, request: httpx.Request, user: dict[str, Any]) -> dict[str, Any]:
        row = {k: v for k, v in user.items() if v is not None}
        row["department_ids"] = [self._dept_id_out(request, d) for d in user["department_ids"]]
        if not self.user_id_scope:
            del row["user_id"]
        return row
