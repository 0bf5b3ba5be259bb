"""Raw WeCom payloads, holding only the fields the connector reads.

Field names are the API's own (reference §2.4–2.6, wechatpy.enterprise.client.api). Extra
fields are ignored, and fields WeCom withholds (since 2022-06-20 new self-built apps get no
mobile or email) default to empty, so a sparser answer still validates.
"""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

# user/get ``status``: 1 active, 2 disabled, 4 not activated yet, 5 left the corp.
STATUS_ACTIVE, STATUS_DISABLED, STATUS_INACTIVE, STATUS_LEFT = 1, 2, 4, 5


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WeComUser(_Raw):
    """``user/get`` and the entries of ``user/list``."""

    userid: str
    name: str = ""
    department: list[int] = Field(default_factory=list)
    is_leader_in_dept: list[int] = Field(default_factory=list)  # aligned with ``department``
    mobile: str | None = None
    email: str | None = None
    status: int = STATUS_ACTIVE

    def leader_of(self) -> list[int]:
        return [d for d, flag in zip(self.department, self.is_leader_in_dept, strict=False) if flag]


class WeComDeptUser(_Raw):
    """One user–department relation of ``user/list_id`` (a user in two departments: two rows)."""

    userid: str = Field(validation_alias=AliasChoices("userid", "open_userid"))
    department: int


class WeComDepartment(_Raw):
    """``department/list``, ``department/get``, ``department/simplelist`` entries."""

    id: int
    name: str = ""
    parentid: int = 0
    order: int = 0


class WeComTag(_Raw):
    """``tag/list`` entries."""

    tagid: int
    tagname: str


class WeComTagUser(_Raw):
    """A ``tag/get`` member."""

    userid: str
    name: str = ""


class WeComTagDetail(_Raw):
    """``tag/get``: the tag's name and members."""

    tagname: str = ""
    userlist: list[WeComTagUser] = Field(default_factory=list)
    partylist: list[int] = Field(default_factory=list)


class WeComChat(_Raw):
    """``appchat/get`` ``chat_info``."""

    chatid: str
    name: str = ""
    owner: str = ""
    userlist: list[str] = Field(default_factory=list)


class WeComPartial(_Raw):
    """The partial-success fields of tag and message writes (``"a|b"`` strings)."""

    invalidlist: str = ""  # tag/addtagusers, tag/deltagusers
    invaliduser: str = ""  # message/send

    def rejected(self) -> list[str]:
        text = self.invalidlist or self.invaliduser
        return [i for i in text.split("|") if i]


__all__ = [
    "STATUS_ACTIVE",
    "STATUS_DISABLED",
    "STATUS_INACTIVE",
    "STATUS_LEFT",
    "WeComChat",
    "WeComDepartment",
    "WeComDeptUser",
    "WeComPartial",
    "WeComTag",
    "WeComTagDetail",
    "WeComTagUser",
    "WeComUser",
]
