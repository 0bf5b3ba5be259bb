"""Raw DingTalk payloads, holding only the fields the connector reads.

The old ``oapi`` API speaks snake_case with numeric department ids; the connector turns
these into domain records (string ids) and nothing else in Muster sees these shapes.
Unknown fields are ignored, so a service that adds fields does not break us.
Field names: reference §1.4/§1.5 (``/topapi/v2/user/get``, ``/topapi/v2/user/list``,
``/topapi/v2/department/listsub``, ``/chat/get``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DingTalkLeader(_Raw):
    """One ``leader_in_dept`` row of ``/topapi/v2/user/get``."""

    dept_id: int
    leader: bool = False


class DingTalkUser(_Raw):
    """A user from ``/topapi/v2/user/get`` or a row of ``/topapi/v2/user/list``.

    ``leader`` only appears in list rows and means "leads the department being listed";
    ``leader_in_dept`` only appears in ``user/get``.
    """

    userid: str
    name: str = ""
    unionid: str | None = None
    mobile: str | None = None
    email: str | None = None
    active: bool = True
    dept_id_list: list[int] = Field(default_factory=list)
    leader_in_dept: list[DingTalkLeader] = Field(default_factory=list)
    leader: bool | None = None


class DingTalkUserPage(_Raw):
    """``result`` of ``/topapi/v2/user/list``: one page of a department's direct members."""

    has_more: bool = False
    next_cursor: int | None = None
    users: list[DingTalkUser] = Field(default_factory=list, alias="list")


class DingTalkDepartment(_Raw):
    """A department from ``/topapi/v2/department/get`` or ``listsub`` (root has no parent)."""

    dept_id: int
    name: str = ""
    parent_id: int | None = None


class DingTalkChat(_Raw):
    """``chat_info`` of ``/chat/get``: the only place a chat's members can be read."""

    name: str = ""
    owner: str | None = None
    useridlist: list[str] = Field(default_factory=list)


__all__ = ["DingTalkChat", "DingTalkDepartment", "DingTalkLeader", "DingTalkUser", "DingTalkUserPage"]
