"""Reading what people keep in spreadsheets: declared groups, and a group's exported member list.

**Groups file** (``groups_file:`` of a manual service; CSV or XLSX, row 1 the header, English
or Chinese): one row per member, the group's own columns repeated or given once.

======== ====================================== =================================================
column   headers                                value
======== ====================================== =================================================
group    group, key, 群, 群编号, 编号            the group's key — the policy resource's key
name     group_name, 群名, 群名称, 文件夹, 名称   the group's name (once per group at least)
kind     kind, 类型                             chat (wechat); folder or doc (shimo)
owner    owner, 群主, 负责人                     the roster person id of whoever changes it
member   member, person_id, 成员编号             a member's roster person id …
姓名     member_name, 姓名, 成员                  … or their name (shown in work items) …
mobile   mobile, 手机, 手机号, 手机号码, 电话     … with their mobile: never a name alone
level    level, 权限                            view / edit / manage (可查看 / 可编辑 / 可管理)
======== ====================================== =================================================

A row without member or mobile only declares its group (an owner row). Every bad row is
reported, with its row number and column, and nothing is taken in.

**Member list** (``muster tasks done ID --members FILE``): what a group's owner exported or
copied out of the app — TXT one member per line, or CSV/XLSX one per row. A line holds a
name, a mobile, or both in any order (``张三 138 1234 5678``, ``13812345678,张三``). A CSV or
XLSX whose first row names its columns (name/姓名/昵称/群昵称, mobile/手机/手机号) is read by
those columns only; otherwise every cell of a row counts. Blank lines and ``#`` lines are skipped.
``check_members`` says what such a list contradicts in a work item: someone to add who is not on it, or
someone to remove who still is (found by mobile or by name).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from connectors._errors import InvalidPayload
from connectors.manual.models import DeclaredGroup, DeclaredMember, ListedMember
from mappings.normalize import clean_text, mask_mobile, normalize_mobile, try_mobile

GROUP_COLUMNS = {
    "group": ("group", "key", "群", "群编号", "编号"),
    "group_name": ("group_name", "群名", "群名称", "文件夹", "名称"),
    "kind": ("kind", "类型"),
    "owner": ("owner", "群主", "负责人"),
    "member": ("member", "person_id", "成员编号"),
    "member_name": ("member_name", "姓名", "成员", "name"),
    "mobile": ("mobile", "手机", "手机号", "手机号码", "电话"),
    "level": ("level", "权限"),
}
KINDS = {"chat": "chat", "群": "chat", "群聊": "chat", "folder": "folder", "文件夹": "folder", "doc": "doc",
         "文件": "doc", "文档": "doc"}
LEVELS = {"member": "member", "成员": "member", "view": "view", "可查看": "view", "查看": "view", "只读": "view",
          "edit": "edit", "可编辑": "edit", "编辑": "edit", "manage": "manage", "可管理": "manage", "管理": "manage"}
LIST_NAME = ("name", "姓名", "昵称", "群昵称", "微信昵称", "nickname", "成员", "member")
LIST_MOBILE = ("mobile", "手机", "手机号", "手机号码", "电话", "phone")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_PHONE = re.compile(r"\+?[0-9０-９][0-9０-９ \-]{6,}[0-9０-９]")
MAX_SHOWN = 20


class DeclarationError(InvalidPayload):
    """A groups file or member list that cannot be used; ``errors`` lists every located problem."""

    def __init__(self, file: str | Path, errors: list[str], *, service: str = ""):
        self.file, self.errors = str(file), errors
        shown = "; ".join(errors[:MAX_SHOWN]) + (f"; … and {len(errors) - MAX_SHOWN} more"
                                                 if len(errors) > MAX_SHOWN else "")
        super().__init__(f"{file}: {shown}", service=service)


def read_rows(path: Path) -> list[list[str]]:
    """The cells of a CSV or XLSX (first sheet), or the lines of any other text file, as text."""
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return _xlsx_rows(path)
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DeclarationError(path, [f"cannot read the file: {exc}"]) from None
    if path.suffix.lower() == ".csv":
        return [list(row) for row in csv.reader(text.splitlines())]
    return [[line] for line in text.splitlines()]


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a bad file
        raise ValueError(f"not an Excel workbook ({type(exc).__name__})") from None
    rows = [["" if v is None else str(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    return rows


# --- groups files ----------------------------------------------------------------------


def read_groups_file(path: Path, *, kinds: dict[str, tuple[str, ...]]) -> list[DeclaredGroup]:
    """Every group a groups file declares; ``DeclarationError`` lists every bad row (see the module docstring)."""
    rows = read_rows(path)
    if not rows or not any(c.strip() for c in rows[0]):
        raise DeclarationError(path, ["the file is empty"])
    header = [_column(h) for h in rows[0]]
    if "group" not in header:
        raise DeclarationError(path, ["row 1: no group column (group / key / 群编号)"])
    errors: list[str] = []
    groups: dict[str, dict] = {}
    for number, cells in enumerate(rows[1:], start=2):
        row = {h: clean_text(c) for h, c in zip(header, cells, strict=False) if h}
        if any(row.values()):
            _group_row(number, row, groups, kinds, errors)
    out = [_declared(path, key, g, kinds, errors) for key, g in groups.items()]
    if errors:
        raise DeclarationError(path, sorted(errors, key=lambda e: int(re.search(r"row (\d+)", e).group(1))))
    return out


def _column(header: object) -> str:
    text = clean_text(str(header or "")).lower()
    return next((key for key, names in GROUP_COLUMNS.items() if text in names), "")


def _group_row(number: int, row: dict[str, str], groups: dict[str, dict], kinds: dict, errors: list[str]) -> None:
    key = row.get("group", "")
    if not _KEY.match(key):
        errors.append(f"row {number}: group: {key!r} is not a group key (lower-case letters, digits, dashes; "
                      "the policy resource's key)")
        return
    group = groups.setdefault(key, {"row": number, "members": [], "seen": {}})
    for field in ("group_name", "owner", "kind"):
        value = row.get(field, "")
        if field == "kind" and value:
            value = KINDS.get(value.lower(), "")
            if not value or value not in kinds:
                errors.append(f"row {number}: kind: {row['kind']!r} is not one of {', '.join(kinds)}")
                continue
        if value and group.get(field, (value,))[0] != value:
            errors.append(f"row {number}: {field}: {value!r} differs from {group[field][0]!r} on row "
                          f"{group[field][1]}")
        elif value:
            group.setdefault(field, (value, number))
    _member_row(number, row, group, errors)


def _member_row(number: int, row: dict[str, str], group: dict, errors: list[str]) -> None:
    person, name, raw_mobile = row.get("member", ""), row.get("member_name", ""), row.get("mobile", "")
    if not (person or raw_mobile):
        if name:
            errors.append(f"row {number}: mobile: {name} has no person id or mobile (never matched by name alone)")
        return
    try:
        mobile = normalize_mobile(raw_mobile)
    except ValueError as exc:
        errors.append(f"row {number}: mobile: {exc}")
        return
    level = row.get("level", "")
    if level and level.lower() not in LEVELS:
        errors.append(f"row {number}: level: {level!r} is not one of view, edit, manage, member")
        return
    who = f"id:{person}" if person else f"mobile:{mobile}"
    if who in group["seen"]:
        errors.append(f"row {number}: member: listed twice in this group (also row {group['seen'][who]})")
        return
    group["seen"][who] = number
    group["members"].append((number, person or None, name, mobile, LEVELS.get(level.lower()) if level else None))


def _declared(path: Path, key: str, group: dict, kinds: dict, errors: list[str]) -> DeclaredGroup:
    for field, header in (("group_name", "group_name / 群名"), ("owner", "owner / 群主")):
        if field not in group:
            errors.append(f"group {key} (row {group['row']}): no row gives its {header}")
    kind = group.get("kind", (next(iter(kinds)),))[0]
    members = []
    for number, person, name, mobile, level in group["members"]:
        level = level or kinds[kind][0]
        if level not in kinds[kind]:
            errors.append(f"row {number}: level: a {kind} member is {' or '.join(kinds[kind])}, not {level!r}")
        members.append(DeclaredMember(person_id=person, name=name, mobile=mobile, level=level, where=f"row {number}"))
    return DeclaredGroup(key=key, kind=kind, name=group.get("group_name", (key,))[0][:50],
                         owner=group.get("owner", ("",))[0], members=tuple(members), file=str(path),
                         where=f"row {group['row']}")


# --- member lists ----------------------------------------------------------------------


def read_member_list(path: Path) -> list[ListedMember]:
    """The members an exported list names (see the module docstring); ``DeclarationError`` if unreadable."""
    rows = read_rows(path)
    columns = None
    if path.suffix.lower() in (".csv", ".xlsx", ".xlsm") and rows:
        head = [clean_text(c).lower() for c in rows[0]]
        named = [i for i, h in enumerate(head) if h in LIST_NAME or h in LIST_MOBILE]
        if named:
            columns, rows = named, rows[1:]
            first = 2
        else:
            first = 1
    else:
        first = 1
    out = []
    for number, cells in enumerate(rows, start=first):
        cells = [cells[i] for i in columns if i < len(cells)] if columns is not None else cells
        line = clean_text(" ".join(c for c in cells if c))
        if line and not line.startswith("#"):
            out.append(_listed(number, line))
    return out


def _listed(number: int, line: str) -> ListedMember:
    for match in _PHONE.finditer(line):
        mobile = try_mobile(match.group())
        if mobile:
            name = (line[: match.start()] + " " + line[match.end():]).strip(" ,，;；\t")
            return ListedMember(line=number, name=clean_text(name), mobile=mobile)
    return ListedMember(line=number, name=line.strip(" ,，;；\t"))


def check_members(changes: list[dict], listed: list[ListedMember]) -> list[str]:
    """What a member list contradicts in a work item's ``changes``: an add or level change missing, a removal there.

    Someone is on the list when a line has their mobile or their name (an export may show only nicknames).
    """
    mobiles = {m.mobile: m.line for m in listed if m.mobile}
    names = {clean_text(m.name).casefold(): m.line for m in listed if m.name}
    problems = []
    for e in changes:
        who = f"{e['name'] or e['member_id']} {mask_mobile(e['mobile'])}".strip() if e.get("mobile") else e["name"]
        line = mobiles.get(e.get("mobile") or "") or names.get(clean_text(e.get("name") or "").casefold())
        if e["op"] != "remove" and line is None:
            problems.append(f"missing: {who} (to {'add' if e['op'] == 'add' else 'change to ' + e['level']})")
        elif e["op"] == "remove" and line is not None:
            problems.append(f"still there: {who} (to remove), line {line}")
    return problems


__all__ = ["DeclarationError", "GROUP_COLUMNS", "check_members", "read_groups_file", "read_member_list",
           "read_rows"]
