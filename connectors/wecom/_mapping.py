"""WeCom raw records → domain records, and domain ids → WeCom's integer ids.

WeCom's department and tag ids are 32-bit integers; Muster's domain ids are strings, so the
conversion happens here, at the boundary. Mobile and email are passed on exactly as WeCom
gives them (an empty string meaning "not given"), to be normalised by the mapping layer.
"""

from __future__ import annotations

from typing import Any

from connectors._errors import NotFound
from connectors.wecom.client import SERVICE
from connectors.wecom.models import STATUS_DISABLED, STATUS_LEFT, WeComDepartment, WeComUser
from mappings.models import Account, Group

ROOT_DEPARTMENT = 1


def to_account(user: WeComUser) -> Account:
    """A domain Account; mobile and email exactly as WeCom gives them (empty → None)."""
    return Account(
        service=SERVICE,
        external_id=user.userid,
        name=user.name,
        mobile=user.mobile or None,
        email=user.email or None,
        active=user.status not in (STATUS_DISABLED, STATUS_LEFT),
        departments=tuple(str(d) for d in user.department),
        leader_of=tuple(str(d) for d in user.leader_of()),
    )


def department_group(dept: WeComDepartment) -> Group:
    """A department as a Group; the root's parent (0) becomes None."""
    parent = str(dept.parentid) if dept.parentid else None
    return Group(
        service=SERVICE, kind="department", external_id=str(dept.id), name=dept.name, parent_id=parent
    )


def placement(departments: Any, leader_of: Any) -> dict[str, list[int]]:
    """``department`` and the parallel ``is_leader_in_dept`` (a led department is joined too)."""
    depts = [numeric_id("department", d) for d in departments] or [ROOT_DEPARTMENT]
    leads = {numeric_id("department", d) for d in leader_of}
    depts += sorted(leads - set(depts))
    return {"department": depts, "is_leader_in_dept": [1 if d in leads else 0 for d in depts]}


def numeric_id(kind: str, external_id: str) -> int:
    """A department or tag id as WeCom's integer; a non-numeric id cannot exist there."""
    if not str(external_id).strip().isdigit():
        raise NotFound(f"no {kind} {external_id!r}: WeCom {kind} ids are numbers", service=SERVICE)
    return int(external_id)


__all__ = ["ROOT_DEPARTMENT", "department_group", "numeric_id", "placement", "to_account"]
