"""HTTP client for Feishu / Lark (飞书) open APIs, and their quirks.

Every answer carries ``{code, msg, data}``; ``code != 0`` is a failure whatever the HTTP
status (most errors come as 400/403/404/429/500, some legacy endpoints as 200), so errors
are chosen by ``code`` through one table, ``CODES``, and only unknown codes fall back to the
HTTP status (reference §3.2, §8.3). Paths are exactly the ``lark-oapi`` 1.7.5 request
builders' (``/open-apis/...``), relative to ``https://open.feishu.cn`` (Lark:
``https://open.larksuite.com``).

The tenant token comes from ``POST /open-apis/auth/v3/tenant_access_token/internal`` and is
sent as ``Authorization: Bearer``. It lives ≤2 h; like the SDK (``core.token.manager``:
"提前10分钟过期") the client renews it 10 minutes early, which also lands in the service's
"<30 min left → new token" window. A revoked or expired token answers ``99991663``: the
auth flow fetches a new one and sends the call once more.

Rate limits are per API × app × tenant in tiers (§3.2); the APIs used here sit in the
"1000/min & 50/s" tier (chat members add, messages), so calls are spaced at 45/s per path
and at most 1000 go out per path in any 61 s. A
429 / ``99991400`` is waited out for ``x-ogw-ratelimit-reset`` seconds.

Users are named by ``user_id`` everywhere (``user_id_type=user_id`` on contact and chat
calls, ``member_id_type=user_id`` on chat members, ``receive_id_type=user_id`` on
messages, ``member_type=userid`` on drive writes); departments by ``department_id``. The
drive member listing has no id-type query and names users by ``openid``: ``users_by_open_id``
maps those back. Document metadata (title, owner) comes from ``POST drive/v1/metas/batch_query``
(a read, though a POST: not counted as a write) and a folder's files from ``GET drive/v1/files``,
both with ``user_id_type=user_id``. Creates carry an idempotency key (``client_token`` / ``uuid``), so a
resent create answers the first result and they are retried like any idempotent call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._auth import TokenAuth, token_failure
from connectors._errors import (
    AlreadyExists,
    AuthError,
    CapacityExceeded,
    Conflict,
    ConnectorError,
    InvalidPayload,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from connectors._http import STATUS_ERRORS, ApiClient, RetryPolicy, retry_after
from connectors._paging import CursorPaginator, PageRequest
from connectors._ratelimit import RateLimiter
from connectors.feishu.models import (
    FeishuChat,
    FeishuChatMember,
    FeishuDepartment,
    FeishuFile,
    FeishuMeta,
    FeishuPermissionMember,
    FeishuUser,
)

BASE_URL = "https://open.feishu.cn"
PREFIX = "/open-apis"
TOKEN_API = f"{PREFIX}/auth/v3/tenant_access_token/internal"
ROOT_DEPT = "0"
USER_ID_TYPE = "user_id"  # the tenant's own user ids: needs the "get user_id" scope
DEPT_ID_TYPE = "department_id"
DRIVE_MEMBER_TYPE = "userid"  # drive's name for the same id
CONTACT_PAGE_SIZE = 50  # contact v3 list APIs: page_size ≤ 50 (§3.3)
USER_BATCH = 50  # users/batch: ≤ 50 ids per call
IM_PAGE_SIZE = 100  # im v1 chats / chat members: page_size ≤ 100 (unverified per endpoint)
MEMBER_BATCH = 50  # chat members add/remove: id_list ≤ 50 per call (unverified)
CHAT_CAP = 5000  # members of a normal group (232013, §3.2)
QPS_PER_API = 50  # the "1000/min & 50/s" tier (§3.2, §3.4)
CLIENT_QPS = 45.0  # 10 % headroom
CLIENT_MINUTE = (1000, 61.0)  # the tier's 1000 a minute, the margin in time: a margin in calls costs a minute
RATE_LIMIT_WAIT = 1.0  # when a rate-limit answer carries no x-ogw-ratelimit-reset
SUCCEED_PARTIAL = 1  # succeed_type=1: add every usable id, list the rest (§3.4)
META_BATCH = 200  # metas/batch_query: request_docs ≤ 200 per call
FILES_PAGE_SIZE = 200  # drive/v1/files: page_size ≤ 200
META_API = "/drive/v1/metas/batch_query"
READ_POSTS = frozenset({META_API})  # POSTs that only read: not counted as writes
META_NOT_FOUND = 970005

TOKEN_CODES = frozenset({99991663})  # invalid / expired tenant_access_token (§3.1)
PERMS = ("view", "edit", "full_access")  # drive perm values (§3.5)
DOC_TYPES = ("doc", "docx", "sheet", "bitable", "file", "folder", "wiki", "mindnote", "minutes", "slides")

CODES: dict[int, type[ConnectorError]] = {
    99991663: TokenExpired,
    99991400: RateLimited,  # request trigger frequency limit (gateway)
    230020: RateLimited,  # per-chat message limit (community)
    232019: RateLimited,  # chat operation rate limited
    11232: RateLimited,  # tenant message service limit (community)
    10003: AuthError,  # token endpoint: invalid app_id (unverified)
    10014: AuthError,  # token endpoint: app secret invalid (unverified)
    # im chats (§3.2)
    232001: InvalidPayload,
    232006: NotFound,  # invalid chat_id
    232007: InvalidPayload,  # invalid chat_id / user_id
    232009: NotFound,  # chat dissolved
    232010: PermissionDenied,  # cross-tenant
    232011: PermissionDenied,  # operator not in chat
    232013: CapacityExceeded,  # member cap reached
    232014: PermissionDenied,  # no permission
    232015: InvalidPayload,  # bad member_id_type
    232017: PermissionDenied,  # operator not the owner
    232025: PermissionDenied,  # bot ability off
    232027: InvalidPayload,  # no valid member in id_list
    232034: PermissionDenied,  # app not installed
    232076: Conflict,  # cannot remove the owner (never sent by the connector)
    # drive permissions (§3.2)
    1063001: InvalidPayload,  # invalid param, including a `type` that does not match the token
    1063002: PermissionDenied,
    1063003: InvalidPayload,  # invalid operation, e.g. collaborator cap
    1063004: PermissionDenied,  # no share permission
    1063005: NotFound,  # resource deleted
    1063006: RateLimited,
    1066001: TransientError,
    1066002: TransientError,  # concurrency error, retry
    # drive metas/batch_query: codes of failed_list rows (a doc that failed, not the call)
    970002: InvalidPayload,  # unsupported doc_type
    970003: PermissionDenied,  # no permission to read the meta
    970005: NotFound,  # not found, or deleted
    # drive files listing (the file/list error table)
    1061001: TransientError,  # internal error
    1061002: InvalidPayload,  # params error
    1061003: NotFound,  # not found
    1061004: PermissionDenied,  # forbidden
    1061005: AuthError,  # auth failed
    1061007: NotFound,  # file has been deleted
    1064001: InvalidPayload,  # page size out of limit
    # contact (§3.2, the contact v3 error tables)
    40004: PermissionDenied,  # department outside the app's contact scope (HTTP 403)
    40014: PermissionDenied,  # no authority over the parent department
    40015: NotFound,  # department not exist
    40018: AlreadyExists,  # a department of that name under that parent
    43022: AlreadyExists,  # department name duplicate
    41050: NotFound,  # "no user authority": the app sees no such user (none, another id type, out of scope)
    40011: InvalidPayload,  # invalid page_size
    40012: InvalidPayload,  # invalid page_token
    41001: AlreadyExists,  # mobile taken by another user
    41002: AlreadyExists,  # email taken by another user
    41003: Conflict,  # contacts belong to two different Feishu accounts (HTTP 409)
    41011: AlreadyExists,  # user_id taken
}
USER_ID_EXISTS = 41011

def code_of(payload: Any) -> int | None:
    """The body's ``code`` as an int, or None when absent or unreadable."""
    if not isinstance(payload, dict):
        return None
    try:
        return int(payload.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def code_error(code: int, message: str, api: str, response: httpx.Response | None = None) -> ConnectorError:
    """The class ``CODES`` selects; unknown codes by HTTP status (5xx transient)."""
    status = response.status_code if response is not None else 200
    cls = CODES.get(code)
    if cls is None:
        cls = TransientError if status >= 500 else STATUS_ERRORS.get(status, InvalidPayload)
    if issubclass(cls, RateLimited):
        wait = retry_after(response) if response is not None else None
        return cls(message, service="feishu", api=api, code=code, retry_after=wait or RATE_LIMIT_WAIT)
    return cls(message, service="feishu", api=api, code=code)


class FeishuAuth(TokenAuth):
    """Self-built app's tenant token, sent as ``Authorization: Bearer``."""

    margin = 600.0  # the SDK expires its cached token 10 min early

    def __init__(self, base_url: str, app_id: str, app_secret: SecretStr, *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(base_url, clock=clock)
        self._app_id = app_id
        self._app_secret = app_secret

    def token_request(self) -> httpx.Request:
        body = {"app_id": self._app_id, "app_secret": self._app_secret.get_secret_value()}
        return httpx.Request("POST", self.base_url.join(TOKEN_API.lstrip("/")), json=body)

    def read_token(self, response: httpx.Response) -> tuple[str, float]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        code = code_of(payload)
        if code == 0 and payload.get("tenant_access_token"):
            return payload["tenant_access_token"], float(payload.get("expire") or 7200)
        message = f"tenant_access_token refused: {payload.get('msg', '') if isinstance(payload, dict) else ''}"
        wait = None
        if code == 99991400 or response.status_code == 429:
            wait = retry_after(response) or RATE_LIMIT_WAIT
        transient = response.status_code >= 500 or code is None
        raise token_failure("feishu", TOKEN_API, code or response.status_code, message, transient=transient,
                            retry_after=wait)

    def attach(self, request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"

    def is_token_error(self, response: httpx.Response) -> bool:
        try:
            return code_of(response.json()) in TOKEN_CODES
        except ValueError:
            return False


class FeishuClient(ApiClient):
    """The contact v3, im v1 and drive v1 slice Muster uses."""

    service = "feishu"

    def __init__(self, *, base_url: str = BASE_URL, app_id: str, app_secret: SecretStr,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None,
                 rate_limit: bool = True, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.auth = FeishuAuth(base_url, app_id, app_secret, clock=clock)
        limiter = RateLimiter(CLIENT_QPS if rate_limit else None, clock=clock, sleep=sleep,
                              windows=(CLIENT_MINUTE,) if rate_limit else ())
        super().__init__(base_url, auth=self.auth, transport=transport, retry=retry, limiter=limiter,
                         headers={"Content-Type": "application/json; charset=utf-8"})
        self.write_calls = 0  # write API calls (GET and POST share paths, so counted by method here)

    @property
    def writes(self) -> int:
        return self.write_calls

    def check_payload(self, payload: Any, response: httpx.Response, api: str) -> None:
        code = code_of(payload)
        if code not in (None, 0):
            raise code_error(code, str(payload.get("msg") or code), api, response)

    def status_error(self, response: httpx.Response, api: str, payload: Any) -> ConnectorError:
        if response.status_code == 429:  # a 429 without a JSON code: still the gateway's limit
            return code_error(99991400, "HTTP 429", api, response)
        return super().status_error(response, api, payload)

    # --- plumbing ------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
             idempotent: bool | None = None) -> dict[str, Any]:
        """One call under ``/open-apis``; returns ``data`` (``{}`` when absent)."""
        api = PREFIX + path
        if method != "GET" and path not in READ_POSTS:
            self.write_calls += 1
        payload = self.request(method, api, params=params, json=json, idempotent=idempotent)
        return (payload or {}).get("data") or {}

    def pages(self, path: str, params: dict[str, Any], *, items: str = "items",
              next_token: str = "page_token") -> Iterator[dict[str, Any]]:
        """Every item of a ``page_token``/``has_more`` listing, all pages.

        ``items`` names the list in ``data`` and ``next_token`` the cursor for the next page
        (drive's file listing says ``files`` and ``next_page_token``).
        """
        request = PageRequest("GET", PREFIX + path, params=dict(params))
        paginator = CursorPaginator("page_token", ("data", next_token), ("data", "has_more"),
                                    location="params")
        for page in self.paginate(request, paginator, lambda p: ((p or {}).get("data") or {}).get(items)):
            yield from page

    # --- contacts ------------------------------------------------------------------

    def get_department(self, dept_id: str) -> FeishuDepartment:
        """One department by ``department_id`` (``"0"`` = root)."""
        data = self.call("GET", f"/contact/v3/departments/{dept_id}", params={"department_id_type": "department_id"})
        return FeishuDepartment.model_validate(data.get("department") or {})

    def list_child_departments(self, dept_id: str) -> Iterator[FeishuDepartment]:
        """Direct children of a department, all pages."""
        params = {"department_id_type": "department_id", "fetch_child": "false", "page_size": CONTACT_PAGE_SIZE}
        for row in self.pages(f"/contact/v3/departments/{dept_id}/children", params):
            yield FeishuDepartment.model_validate(row)

    def list_department_users(self, dept_id: str) -> Iterator[FeishuUser]:
        """Direct members of a department (``find_by_department``), all pages."""
        params = {"department_id": dept_id, "page_size": CONTACT_PAGE_SIZE, **CONTACT_IDS}
        for row in self.pages("/contact/v3/users/find_by_department", params):
            yield FeishuUser.model_validate(row)

    def get_user(self, user_id: str) -> FeishuUser:
        """One user by ``user_id`` (``NotFound`` on 41050)."""
        data = self.call("GET", f"/contact/v3/users/{user_id}", params=CONTACT_IDS)
        return FeishuUser.model_validate(data.get("user") or {})

    def users_by_open_id(self, open_ids: Sequence[str]) -> dict[str, FeishuUser]:
        """``open_id`` → user for the ids the app can see (``users/batch``, ≤50 per call)."""
        found: dict[str, FeishuUser] = {}
        for batch in _chunks(list(dict.fromkeys(open_ids)), USER_BATCH):
            params = {"user_ids": batch, "user_id_type": "open_id", "department_id_type": DEPT_ID_TYPE}
            for row in self.call("GET", "/contact/v3/users/batch", params=params).get("items") or []:
                user = FeishuUser.model_validate(row)
                if user.open_id:
                    found[user.open_id] = user
        return found

    def create_user(self, body: dict[str, Any], client_token: str) -> FeishuUser:
        """Create a user (``client_token`` makes a resend answer the first result)."""
        data = self.call("POST", "/contact/v3/users", params={**CONTACT_IDS, "client_token": client_token},
                         json=body, idempotent=True)
        return FeishuUser.model_validate(data.get("user") or {})

    def patch_user(self, user_id: str, body: dict[str, Any]) -> None:
        """Set the given fields of a user (absolute values: resending is harmless)."""
        self.call("PATCH", f"/contact/v3/users/{user_id}", params=CONTACT_IDS, json=body, idempotent=True)

    def delete_user(self, user_id: str, docs_acceptor: str | None = None) -> None:
        """Delete a user; their documents go to ``docs_acceptor``, their chats to the next member."""
        body = {"docs_acceptor_user_id": docs_acceptor} if docs_acceptor else None
        self.call("DELETE", f"/contact/v3/users/{user_id}", params={"user_id_type": USER_ID_TYPE}, json=body)

    def create_department(self, name: str, parent_id: str, client_token: str,
                          department_id: str | None = None) -> FeishuDepartment:
        """Create a department under ``parent_id``; the service picks the id unless one is given."""
        body = {"name": name, "parent_department_id": parent_id}
        if department_id:
            body["department_id"] = department_id
        params = {**CONTACT_IDS, "client_token": client_token}
        data = self.call("POST", "/contact/v3/departments", params=params, json=body, idempotent=True)
        return FeishuDepartment.model_validate(data.get("department") or {})

    # --- chats ---------------------------------------------------------------------

    def list_chats(self) -> Iterator[FeishuChat]:
        """The chats the bot is in, all pages."""
        for row in self.pages("/im/v1/chats", {"user_id_type": USER_ID_TYPE, "page_size": IM_PAGE_SIZE}):
            yield FeishuChat.model_validate(row)

    def get_chat(self, chat_id: str) -> FeishuChat:
        """A chat's name and owner (``NotFound`` on 232006 / 232009)."""
        data = self.call("GET", f"/im/v1/chats/{chat_id}", params={"user_id_type": USER_ID_TYPE})
        return FeishuChat.model_validate({**data, "chat_id": chat_id})

    def list_chat_members(self, chat_id: str) -> Iterator[FeishuChatMember]:
        """A chat's members by ``user_id``, all pages."""
        params = {"member_id_type": USER_ID_TYPE, "page_size": IM_PAGE_SIZE}
        for row in self.pages(f"/im/v1/chats/{chat_id}/members", params):
            yield FeishuChatMember.model_validate(row)

    def add_chat_members(self, chat_id: str, user_ids: Sequence[str]) -> dict[str, Any]:
        """Add ≤50 members; the answer lists ``invalid_id_list``/``not_existed_id_list``.

        Resending is safe: adding a present member changes nothing (§8.3 assumption).
        """
        params = {"member_id_type": USER_ID_TYPE, "succeed_type": SUCCEED_PARTIAL}
        return self.call("POST", f"/im/v1/chats/{chat_id}/members", params=params,
                         json={"id_list": list(user_ids)}, idempotent=True)

    def remove_chat_members(self, chat_id: str, user_ids: Sequence[str]) -> dict[str, Any]:
        """Remove ≤50 members (never the owner: 232076)."""
        return self.call("DELETE", f"/im/v1/chats/{chat_id}/members", params={"member_id_type": USER_ID_TYPE},
                         json={"id_list": list(user_ids)})

    def set_chat_owner(self, chat_id: str, owner: str) -> None:
        """Owner transfer is an update of ``owner_id`` (the new owner must be a member)."""
        self.call("PUT", f"/im/v1/chats/{chat_id}", params={"user_id_type": USER_ID_TYPE}, json={"owner_id": owner})

    def create_chat(self, name: str, owner: str, user_ids: Sequence[str], uuid: str) -> dict[str, Any]:
        """Create a private group chat; ``uuid`` de-duplicates, so a resend returns the same chat."""
        params = {"user_id_type": USER_ID_TYPE, "set_bot_manager": "false", "uuid": uuid}
        body = {"name": name, "owner_id": owner, "user_id_list": list(user_ids), "chat_mode": "group",
                "chat_type": "private"}
        return self.call("POST", "/im/v1/chats", params=params, json=body, idempotent=True)

    def send_text(self, user_id: str, text: str, uuid: str) -> str:
        """Send one text message; returns its ``message_id`` (``uuid`` de-duplicates resends)."""
        body = {"receive_id": user_id, "msg_type": "text", "content": json.dumps({"text": text}, ensure_ascii=False),
                "uuid": uuid}
        data = self.call("POST", "/im/v1/messages", params={"receive_id_type": USER_ID_TYPE}, json=body,
                         idempotent=True)
        return str(data.get("message_id", ""))

    # --- drive permissions ---------------------------------------------------------

    def list_permission_members(self, token: str, doc_type: str) -> list[FeishuPermissionMember]:
        """Every collaborator of a file/folder (unpaginated)."""
        data = self.call("GET", f"/drive/v1/permissions/{token}/members", params={"type": doc_type})
        return [FeishuPermissionMember.model_validate(row) for row in data.get("items") or []]

    def batch_query_metas(self, docs: Sequence[tuple[str, str]]) -> tuple[list[FeishuMeta], dict[str, int]]:
        """Title, owner and times of ``(token, type)`` docs, ≤200 per call; also the failed ``token → code``.

        A doc that cannot be read (deleted, no access) is listed in ``failed_list`` and does
        not fail the call. A POST that only reads: resent freely.
        """
        metas: list[FeishuMeta] = []
        failed: dict[str, int] = {}
        docs = list(docs)
        for start in range(0, len(docs), META_BATCH):
            body = {"request_docs": [{"doc_token": token, "doc_type": doc_type}
                                     for token, doc_type in docs[start:start + META_BATCH]], "with_url": False}
            data = self.call("POST", META_API, params={"user_id_type": USER_ID_TYPE}, json=body, idempotent=True)
            metas += [FeishuMeta.model_validate(row) for row in data.get("metas") or []]
            for row in data.get("failed_list") or []:
                failed[str(row.get("token"))] = code_of(row) or META_NOT_FOUND
        return metas, failed

    def get_meta(self, token: str, doc_type: str) -> FeishuMeta:
        """One doc's metadata; its ``failed_list`` code raises (970005 ``NotFound``, 970003 ``PermissionDenied``)."""
        metas, failed = self.batch_query_metas([(token, doc_type)])
        for meta in metas:
            if meta.doc_token == token:
                return meta
        code = failed.get(token, META_NOT_FOUND)
        raise code_error(code, f"{doc_type} {token} cannot be read (code {code}: "
                               f"{META_FAILURES.get(code, 'see the drive error table')})", PREFIX + META_API)

    def list_files(self, folder_token: str) -> Iterator[FeishuFile]:
        """The files directly in a folder (sub-folders among them, ``type == "folder"``), all pages."""
        params = {"folder_token": folder_token, "page_size": FILES_PAGE_SIZE, "user_id_type": USER_ID_TYPE}
        for row in self.pages("/drive/v1/files", params, items="files", next_token="next_page_token"):
            yield FeishuFile.model_validate(row)

    def add_permission_member(self, token: str, doc_type: str, user_id: str, perm: str) -> None:
        """Grant ``perm`` to a user (by ``userid``)."""
        params = {"type": doc_type, "need_notification": "false"}
        body = {"member_type": DRIVE_MEMBER_TYPE, "member_id": user_id, "perm": perm}
        # Resending sets the same level again.
        self.call("POST", f"/drive/v1/permissions/{token}/members", params=params, json=body, idempotent=True)

    def update_permission_member(self, token: str, doc_type: str, user_id: str, perm: str) -> None:
        """Change a collaborator's ``perm``."""
        params = {"type": doc_type, "need_notification": "false"}
        self.call("PUT", f"/drive/v1/permissions/{token}/members/{user_id}", params=params,
                  json={"member_type": DRIVE_MEMBER_TYPE, "perm": perm})

    def delete_permission_member(self, token: str, doc_type: str, user_id: str) -> None:
        """Revoke a collaborator."""
        self.call("DELETE", f"/drive/v1/permissions/{token}/members/{user_id}",
                  params={"type": doc_type, "member_type": DRIVE_MEMBER_TYPE})

    def transfer_owner(self, token: str, doc_type: str, user_id: str, *, remove_old_owner: bool = False,
                       old_owner_perm: str = "view") -> None:
        """Make a user the owner of a file/folder."""
        params = {"type": doc_type, "need_notification": "false",
                  "remove_old_owner": str(remove_old_owner).lower(), "old_owner_perm": old_owner_perm}
        # Not resent after it may have gone out: a second transfer is not documented as a no-op.
        self.call("POST", f"/drive/v1/permissions/{token}/members/transfer_owner", params=params,
                  json={"member_type": DRIVE_MEMBER_TYPE, "member_id": user_id}, idempotent=False)

    def subscribe_file(self, token: str, doc_type: str) -> None:
        """Subscribe the app to a file's events (drive's permission-member events need it); harmless twice."""
        self.call("POST", f"/drive/v1/files/{token}/subscribe", params={"file_type": doc_type})


CONTACT_IDS = {"user_id_type": USER_ID_TYPE, "department_id_type": DEPT_ID_TYPE}
META_FAILURES = {970002: "unsupported doc type", 970003: "the app has no permission to read it",
                 970005: "not found or deleted"}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = [
    "BASE_URL",
    "CHAT_CAP",
    "CLIENT_QPS",
    "CODES",
    "CONTACT_PAGE_SIZE",
    "DEPT_ID_TYPE",
    "DOC_TYPES",
    "DRIVE_MEMBER_TYPE",
    "FILES_PAGE_SIZE",
    "IM_PAGE_SIZE",
    "MEMBER_BATCH",
    "META_BATCH",
    "PERMS",
    "QPS_PER_API",
    "ROOT_DEPT",
    "TOKEN_API",
    "TOKEN_CODES",
    "USER_ID_EXISTS",
    "USER_ID_TYPE",
    "FeishuAuth",
    "FeishuClient",
    "code_error",
    "code_of",
]
