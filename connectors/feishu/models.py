"""Raw Feishu payloads, holding only the fields the connector reads.

Field names: reference §3.3–§3.5 and the ``lark-oapi`` 1.7.5 models
(``contact.v3.model.user``/``department``, ``im.v1.model.list_chat``/``list_member``,
``drive.v1.model.member``/``meta``/``file``). Unknown fields are ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from connectors._errors import InvalidPayload

NO_USER_ID = ("Feishu answered a user without user_id: grant the app the \"get user_id\" scope "
              "(contact:user.employee_id:readonly) and publish a new version")


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class FeishuUserStatus(_Raw):
    """A user's ``status`` flags."""

    is_frozen: bool = False
    is_resigned: bool = False
    is_activated: bool = True
    is_exited: bool = False


class FeishuUser(_Raw):
    """A user (``find_by_department`` row, ``users/:user_id``, ``users/batch`` item).

    ``user_id`` is only sent to apps with the "get user_id" scope
    (``contact:user.employee_id:readonly``); the connector needs it.
    """

    user_id: str | None = None
    open_id: str | None = None
    union_id: str | None = None
    name: str = ""
    mobile: str | None = None
    email: str | None = None
    status: FeishuUserStatus = Field(default_factory=FeishuUserStatus)
    department_ids: list[str] = Field(default_factory=list)

    def key(self) -> str:
        """The ``user_id`` Muster keys accounts by (``InvalidPayload`` when the scope is missing)."""
        if not self.user_id:
            raise InvalidPayload(NO_USER_ID, service="feishu")
        return self.user_id


class FeishuDepartment(_Raw):
    """A department (``department_id_type=department_id``)."""

    department_id: str = "0"
    open_department_id: str | None = None
    name: str = ""
    parent_department_id: str | None = None


class FeishuChat(_Raw):
    """A row of ``GET /im/v1/chats`` or the ``data`` of ``GET /im/v1/chats/:chat_id``."""

    chat_id: str
    name: str = ""
    owner_id: str | None = None
    owner_id_type: str | None = None


class FeishuChatMember(_Raw):
    """A row of ``GET /im/v1/chats/:chat_id/members``."""

    member_id: str
    member_id_type: str = "user_id"
    name: str = ""


class FeishuPermissionMember(_Raw):
    """A collaborator of a file/folder (``drive/v1/permissions/:token/members``)."""

    member_type: str
    member_id: str
    perm: str
    perm_type: str | None = None
    type: str | None = None


class FeishuMeta(_Raw):
    """A row of ``data.metas`` of ``POST /drive/v1/metas/batch_query`` (users in the query's id type)."""

    doc_token: str
    doc_type: str
    title: str = ""
    owner_id: str | None = None
    create_time: str | int | None = None
    latest_modify_user: str | None = None
    latest_modify_time: str | int | None = None
    url: str | None = None


class FeishuFile(_Raw):
    """A row of ``data.files`` of ``GET /drive/v1/files`` (a folder's direct children)."""

    token: str
    name: str = ""
    type: str
    parent_token: str | None = None
    url: str | None = None
    owner_id: str | None = None
    created_time: str | int | None = None
    modified_time: str | int | None = None


__all__ = ["FeishuChat", "FeishuChatMember", "FeishuDepartment", "FeishuFile", "FeishuMeta", "FeishuPermissionMember",
           "FeishuUser", "FeishuUserStatus"]
