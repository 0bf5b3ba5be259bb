"""The legacy GET contact calls the community SDK's built-in methods still use.

``dingtalk-sdk`` 1.3.8 (``dingtalk.client.api.user``) reads users through the old
``GET /user/get?userid=`` and ``GET /user/list?department_id=&offset=&size=`` rather
than ``/topapi/v2/...``; serving them lets that SDK work against the sandbox unchanged.
Shapes as DingTalk documented them before the v2 APIs (from memory, unverified):
camelCase flags, ``department`` for the department ids, ``isLeaderInDepts`` as a
"{1:false}" string, and ``hasMore``/``userlist`` for offset pages of ≤100.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors._sandbox import route
from connectors.dingtalk.sandbox._core import invalid

MAX_PAGE = 100


class LegacyMixin:
    """``GET /user/get`` and ``GET /user/list``."""

    @route("GET", "/user/get")
    def _legacy_user_get(self, request: httpx.Request) -> httpx.Response:
        return self.ok(**_legacy_user(self.user(request.url.params.get("userid"))))

    @route("GET", "/user/list")
    def _legacy_user_list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        dept_id = self.department(params.get("department_id"))["dept_id"]
        try:
            offset, size = int(params.get("offset", 0)), int(params.get("size", MAX_PAGE))
        except ValueError:
            raise invalid("offset and size must be numbers") from None
        if offset < 0 or not 1 <= size <= MAX_PAGE:
            raise invalid(f"size must be between 1 and {MAX_PAGE}")
        members = [u for u in self.users.values() if dept_id in u["dept_id_list"]]
        page = [_legacy_user(u) for u in members[offset:offset + size]]
        return self.ok(hasMore=offset + size < len(members), userlist=page)


def _legacy_user(user: dict[str, Any]) -> dict[str, Any]:
    leads = ",".join(f"{d}:{'true' if d in user['leader_of'] else 'false'}" for d in user["dept_id_list"])
    row = {"userid": user["userid"], "unionid": user["unionid"], "name": user["name"],
           "mobile": user["mobile"], "email": user["email"], "stateCode": user["state_code"],
           "department": list(user["dept_id_list"]), "isLeaderInDepts": "{" + leads + "}",
           "active": user["active"], "isAdmin": False, "isBoss": False, "isHide": False}
    return {k: v for k, v in row.items() if v is not None}


__all__ = ["LegacyMixin"]
