"""HTTP client for DingTalk's old ``oapi`` API, and its quirks.

DingTalk answers every old-API call with HTTP 200 and reports failure in the body:
``{errcode, errmsg, request_id}``, with ``errcode 88`` hiding the real reason in
``sub_code``/``sub_msg`` (reference §1.2). So errors are chosen by ``errcode`` through
one table, ``ERRCODES``, never by ``errmsg`` (its wording changes). The new API
(``api.dingtalk.com``) answers non-2xx with ``{code, message, requestid}``; the same
client understands that too, so a later ``/v1.0`` call needs no new plumbing.

The app token is fetched from ``/gettoken`` and sent as ``?access_token=``. It lives
7200 s but can be revoked early; on the token-error codes the community SDK retries
on (``dingtalk.client.DingTalkClient._handle_request_except``: 33001, 40001, 42001,
40014) the auth flow fetches a new token and sends the call once more.

Limits: 20 QPS per app per API for an internal app (reference §1.3); calls are spaced
per API path a little under that, so a correct client never meets errcode 90002.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._auth import TokenAuth, set_query_token, token_failure
from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    ConnectorError,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connectors._http import ApiClient, RetryPolicy
from connectors._paging import CursorPaginator, PageRequest
from connectors._ratelimit import RateLimiter
from connectors.dingtalk.models import DingTalkChat, DingTalkDepartment, DingTalkUser, DingTalkUserPage

BASE_URL = "https://oapi.dingtalk.com"
NEW_API_URL = "https://api.dingtalk.com"  # /v1.0/... (header x-acs-dingtalk-access-token)
ROOT_DEPT = 1
PAGE_SIZE = 100  # /topapi/v2/user/list: size ≤ 100 (§1.4)
QPS_PER_API = 20  # internal app, standard edition, per app per API (§1.3)
CLIENT_QPS = 18.0  # 10 % headroom: network jitter bunches calls the client spaced evenly
CHAT_BATCH = 40  # /chat/create useridlist, /chat/update add/del lists (SDK dingtalk.client.api.chat)
CHAT_CAP = 1000  # members per group (SDK chat docstring, "old figure")
# asyncsend_v2 recipients per call: reference §1.8 says ≤5000 (internal app); the API's
# parameter table, as remembered, caps userid_list at 100. The smaller is safe either way.
MESSAGE_BATCH = 100
NOTICE_RECIPIENTS_PER_MINUTE = 5000  # work notices per internal app; beyond it they are silently dropped
RATE_LIMIT_WAIT = 1.0  # 90002's punishment ends the next second (ali-sdk/node-dingtalk#32)

TOKEN_ERRCODES = frozenset({33001, 40001, 40014, 42001})  # SDK _handle_request_except

ERRCODES: dict[int, type[ConnectorError]] = {
    -1: TransientError,  # 系统繁忙: retry, at most 3 times (global code list)
    88: PermissionDenied,  # 鉴权异常: the reason is in sub_code, looked up here too
    404: InvalidPayload,  # URI does not exist: our bug, never "object absent"
    33001: TokenExpired,
    40001: TokenExpired,
    40014: TokenExpired,
    42001: TokenExpired,
    40089: AuthError,  # gettoken: 不合法的corpId或corpSecret (open-dingtalk/corp_demo_php#3)
    60011: PermissionDenied,  # 没有调用该接口的权限 (usually as sub_code of 88)
    60020: PermissionDenied,  # caller IP not in the app's whitelist
    60003: NotFound,  # department
    60121: NotFound,  # user (observed as a generic not-found)
    34001: NotFound,  # chat: 无效的会话id (unverified)
    40009: AlreadyExists,  # department id
    60008: AlreadyExists,  # department name under the same parent (unverified)
    60102: AlreadyExists,  # userid
    60104: AlreadyExists,  # mobile (assumed, §8.1)
    34028: CapacityExceeded,  # chat member cap: code chosen by the sandbox, no source found
    90020: CapacityExceeded,  # monthly metered-API quota used up
    90002: RateLimited,  # per-API limit (global and, as the sandbox answers, per app)
    90018: RateLimited,  # per-app limit as widely quoted (unverified, §1.3)
    90019: RateLimited,  # third-party app per corp per API
    400002: InvalidPayload,  # invalid parameter
}

# New-API ``code`` strings (HTTP 4xx): token errors seen as HTTP 400 "InvalidAuthentication"
# (satorijs/satori#240, alibabacloud-sdk-php/dingtalk#1).
NEW_API_CODES: dict[str, type[ConnectorError]] = {
    "InvalidAuthentication": TokenExpired,
    "Forbidden.AccessDenied.ApiCountLimitForOrg": CapacityExceeded,
}

WRITE_APIS = frozenset({
    "/topapi/v2/user/create",
    "/topapi/v2/user/update",
    "/topapi/v2/user/delete",
    "/topapi/v2/department/create",
    "/chat/create",
    "/chat/update",
    "/topapi/message/corpconversation/asyncsend_v2",
})


def errcode_of(payload: Any) -> tuple[int | None, int | None]:
    """(errcode, sub_code) of an old-API body, as ints; None where absent or unreadable."""
    if not isinstance(payload, dict):
        return None, None
    return _int(payload.get("errcode")), _int(payload.get("sub_code"))


def errcode_error(errcode: int, sub_code: int | None, message: str, api: str) -> ConnectorError:
    """The error class ``ERRCODES`` selects; errcode 88 is decided by its ``sub_code``."""
    cls = ERRCODES.get(errcode, InvalidPayload)
    code: int | str = errcode
    if errcode == 88 and sub_code is not None:
        cls, code = ERRCODES.get(sub_code, PermissionDenied), f"88/{sub_code}"
    if issubclass(cls, RateLimited):
        return cls(message, service="dingtalk", api=api, code=code, retry_after=RATE_LIMIT_WAIT)
    return cls(message, service="dingtalk", api=api, code=code)


class DingTalkAuth(TokenAuth):
    """App token from ``GET /gettoken?appkey=&appsecret=``, sent as ``?access_token=``."""

    def __init__(self, base_url: str, appkey: str, appsecret: SecretStr, *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(base_url, clock=clock)
        self._appkey = appkey
        self._appsecret = appsecret

    def token_request(self) -> httpx.Request:
        params = {"appkey": self._appkey, "appsecret": self._appsecret.get_secret_value()}
        return httpx.Request("GET", self.base_url.join("gettoken"), params=params)

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        errcode, _ = errcode_of(payload)
        if errcode == 0 and payload.get("access_token"):
            return payload["access_token"], float(payload.get("expires_in") or 7200)
        transient = response.status_code >= 500 or errcode in (-1, 90002, 90018) or errcode is None
        message = f"gettoken refused: {payload.get('errmsg', '') if isinstance(payload, dict) else ''}"
        raise token_failure("dingtalk", "/gettoken", errcode or response.status_code, message,
                            transient=transient)

    def attach(self, request: httpx.Request, token: str) -> None:
        if request.url.path.startswith("/v1.0/"):
            request.headers["x-acs-dingtalk-access-token"] = token
        else:
            set_query_token(request, "access_token", token)

    def is_token_error(self, response: httpx.Response) -> bool:
        try:
            payload = response.json()
        except ValueError:
            return False
        errcode, sub_code = errcode_of(payload)
        if errcode in TOKEN_ERRCODES or (errcode == 88 and sub_code in TOKEN_ERRCODES):
            return True
        return isinstance(payload, dict) and payload.get("code") == "InvalidAuthentication"


class DingTalkClient(ApiClient):
    """The old ``oapi`` API slice Muster uses: contacts, chats, work notices."""

    service = "dingtalk"

    def __init__(self, *, base_url: str = BASE_URL, appkey: str, appsecret: SecretStr,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None,
                 rate_limit: bool = True, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.auth = DingTalkAuth(base_url, appkey, appsecret, clock=clock)
        limiter = RateLimiter(CLIENT_QPS if rate_limit else None, clock=clock, sleep=sleep)
        super().__init__(base_url, auth=self.auth, transport=transport, retry=retry, limiter=limiter)
        self._pace_notices = rate_limit
        self._clock, self._sleep = clock, sleep
        self._notices: deque[tuple[float, int]] = deque()  # (sent at, recipients) of the last minute

    def is_write(self, api: str) -> bool:
        return api in WRITE_APIS

    def check_payload(self, payload: Any, response: httpx.Response, api: str) -> None:
        errcode, sub_code = errcode_of(payload)
        if errcode not in (None, 0):
            message = str(payload.get("sub_msg") or payload.get("errmsg") or errcode)
            raise errcode_error(errcode, sub_code, message, api)
        if response.status_code >= 400 and isinstance(payload, dict) and payload.get("code"):
            cls = NEW_API_CODES.get(str(payload["code"]))
            if cls is not None:
                message = str(payload.get("message", ""))
                raise cls(message, service=self.service, api=api, code=payload["code"])

    # --- plumbing ------------------------------------------------------------------

    def post(self, api: str, body: dict[str, Any], *, idempotent: bool = True) -> dict[str, Any]:
        """POST a JSON body; reads are idempotent, writes say whether a resend is safe."""
        return self.request("POST", api, json=body, idempotent=idempotent)

    def result(self, api: str, body: dict[str, Any], *, idempotent: bool = True) -> Any:
        """POST and return the ``result`` member of the answer (the ``topapi`` convention)."""
        return self.post(api, body, idempotent=idempotent).get("result")

    # --- departments ---------------------------------------------------------------

    def get_department(self, dept_id: int) -> DingTalkDepartment:
        """One department (``NotFound`` on 60003)."""
        result = self.result("/topapi/v2/department/get", {"dept_id": dept_id})
        return DingTalkDepartment.model_validate(result)

    def list_subdepartments(self, dept_id: int) -> list[DingTalkDepartment]:
        """Direct children only (listsub is one level deep)."""
        rows = self.result("/topapi/v2/department/listsub", {"dept_id": dept_id}) or []
        return [DingTalkDepartment.model_validate(row) for row in rows]

    def list_subdepartment_ids(self, dept_id: int) -> list[int]:
        """Ids of the direct children only."""
        result = self.result("/topapi/v2/department/listsubid", {"dept_id": dept_id}) or {}
        return [int(i) for i in result.get("dept_id_list", [])]

    def create_department(self, name: str, parent_id: int) -> int:
        """Create a department; returns its id (``AlreadyExists`` if the name is taken there)."""
        body = {"name": name, "parent_id": parent_id}
        # A resend after a lost answer collides with our own department (AlreadyExists),
        # which the connector resolves by name, so resending is safe.
        return int(self.result("/topapi/v2/department/create", body)["dept_id"])

    # --- users ---------------------------------------------------------------------

    def get_user(self, userid: str) -> DingTalkUser:
        """One user (``NotFound`` on 60121)."""
        return DingTalkUser.model_validate(self.result("/topapi/v2/user/get", {"userid": userid}))

    def list_users(self, dept_id: int) -> Iterator[DingTalkUser]:
        """Every direct member of one department, all pages (numeric cursor from 0)."""
        request = PageRequest("POST", "/topapi/v2/user/list", json={"dept_id": dept_id, "size": PAGE_SIZE})
        paginator = CursorPaginator("cursor", ("result", "next_cursor"), ("result", "has_more"), start=0)
        for page in self.paginate(request, paginator, _user_page):
            yield from page

    def list_user_ids(self, dept_id: int) -> list[str]:
        """Userids of a department's direct members (unpaged, not limited by contact scope)."""
        result = self.result("/topapi/user/listid", {"dept_id": dept_id}) or {}
        return list(result.get("userid_list", []))

    def create_user(self, body: dict[str, Any]) -> str:
        """Create a user; duplicate userid → ``AlreadyExists`` (60102), safe to resend."""
        return str(self.result("/topapi/v2/user/create", body)["userid"])

    def update_user(self, body: dict[str, Any]) -> None:
        """Set the given fields of ``body['userid']`` (setting is idempotent)."""
        self.post("/topapi/v2/user/update", body)

    def delete_user(self, userid: str) -> None:
        """Delete a user (``NotFound`` if already gone)."""
        self.post("/topapi/v2/user/delete", {"userid": userid})

    # --- chats and notices ---------------------------------------------------------

    def get_chat(self, chatid: str) -> DingTalkChat:
        """A chat's name, owner and members (``GET /chat/get?chatid=``)."""
        payload = self.request("GET", "/chat/get", params={"chatid": chatid})
        return DingTalkChat.model_validate(payload["chat_info"])

    def create_chat(self, name: str, owner: str, userids: list[str]) -> str:
        """Create a chat with ≤40 first members (owner among them); returns the chatid."""
        body = {"name": name, "owner": owner, "useridlist": userids, "showHistoryType": 0, "searchable": 0,
                "validationType": 0, "mentionAllAuthority": 0, "chatBannedType": 0, "managementType": 0}
        # Never resent: /chat/create takes no client id, so a resend makes a second chat.
        return str(self.post("/chat/create", body, idempotent=False)["chatid"])

    def update_chat(self, chatid: str, *, add: Sequence[str] = (), remove: Sequence[str] = (),
                    owner: str | None = None) -> None:
        """One atomic /chat/update: ≤40 adds, ≤40 removes, optional new owner."""
        body: dict[str, Any] = {"chatid": chatid}
        if owner:
            body["owner"] = owner
        if add:
            body["add_useridlist"] = list(add)
        if remove:
            body["del_useridlist"] = list(remove)
        # Resending is safe: adding a member twice or removing an absent one is a no-op (§8.1).
        self.post("/chat/update", body)

    def send_work_notice(self, agent_id: int, userids: list[str], text: str) -> int | None:
        """Queue a text work notification to ≤``MESSAGE_BATCH`` users; returns the task id."""
        body = {"agent_id": agent_id, "userid_list": ",".join(userids),
                "msg": {"msgtype": "text", "text": {"content": text}}}
        self._wait_for_recipients(len(userids))
        # Resending is safe: the same content to the same user is delivered once a day (§1.8).
        return _int(self.post("/topapi/message/corpconversation/asyncsend_v2", body).get("task_id"))


    def _wait_for_recipients(self, count: int) -> None:
        """Keep to ≤``NOTICE_RECIPIENTS_PER_MINUTE``: past it DingTalk answers ok and delivers nothing (§1.8)."""
        if not self._pace_notices:
            return
        while True:
            now = self._clock()
            while self._notices and self._notices[0][0] <= now - 60:
                self._notices.popleft()
            if sum(n for _, n in self._notices) + count <= NOTICE_RECIPIENTS_PER_MINUTE or not self._notices:
                break
            self._sleep(self._notices[0][0] + 60 - now)
        self._notices.append((self._clock(), count))


def _user_page(payload: Any) -> list[DingTalkUser]:
    return DingTalkUserPage.model_validate((payload or {}).get("result") or {}).users


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "BASE_URL",
    "CHAT_BATCH",
    "CHAT_CAP",
    "CLIENT_QPS",
    "ERRCODES",
    "MESSAGE_BATCH",
    "NEW_API_URL",
    "PAGE_SIZE",
    "QPS_PER_API",
    "TOKEN_ERRCODES",
    "WRITE_APIS",
    "DingTalkAuth",
    "DingTalkClient",
    "errcode_error",
    "errcode_of",
]
