"""Groups files and exported member lists: read tolerantly, every bad row reported with its row and column."""

import pytest
from openpyxl import Workbook

from connectors.manual import DeclarationError, ListedMember, check_members, read_groups_file, read_member_list

CHAT = {"chat": ("member",)}
SHIMO = {"folder": ("view", "edit", "manage"), "doc": ("view", "edit", "manage")}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def xlsx(path, rows):
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_a_groups_file_declares_groups_with_members_by_id_or_mobile(tmp_path):
    sheet = write(tmp_path / "groups.csv", "群编号,群名,群主,成员编号,姓名,手机号\n"
                                           "frontline-1,一线1群,P1,P2,,\n"
                                           "frontline-1,,,,张三,138-1234-5678\n"
                                           "frontline-2,一线2群,P5,,,\n")
    one, two = read_groups_file(sheet, kinds=CHAT)
    assert (one.key, one.name, one.owner, one.kind, one.where) == ("frontline-1", "一线1群", "P1", "chat", "row 2")
    assert [(m.person_id, m.name, m.mobile, m.level, m.where) for m in one.members] == [
        ("P2", "", None, "member", "row 2"), (None, "张三", "+8613812345678", "member", "row 3")]
    assert (two.key, two.owner, two.members) == ("frontline-2", "P5", ())


def test_a_shimo_sheet_takes_kinds_and_levels_in_chinese(tmp_path):
    sheet = xlsx(tmp_path / "shimo.xlsx", [["key", "名称", "类型", "负责人", "member", "权限"],
                                           ["cases", "个案资料", "文件夹", "P1", "P2", "可编辑"],
                                           ["cases", None, None, None, "P3", None],
                                           ["handbook", "手册", "文档", "P1", "P4", "可管理"]])
    cases, handbook = read_groups_file(sheet, kinds=SHIMO)
    assert (cases.kind, [(m.person_id, m.level) for m in cases.members]) == ("folder", [("P2", "edit"),
                                                                                       ("P3", "view")])
    assert (handbook.kind, handbook.members[0].level) == ("doc", "manage")


def test_every_bad_row_is_reported_with_its_row_and_column(tmp_path):
    sheet = write(tmp_path / "groups.csv", "group,group_name,owner,member,member_name,mobile,level,kind\n"
                                           "Bad Key,x,P1,P2,,,,\n"
                                           "g1,一群,P1,,王二,12345,,\n"
                                           "g1,,P9,,,,,\n"
                                           "g1,,,,只有名字,,,\n"
                                           "g1,,,P2,,,,\n"
                                           "g1,,,P2,,,,\n"
                                           "g1,,,P3,,,edit,\n"
                                           "g2,二群,P1,,,,,folder\n"
                                           "g3,,,P2,,,,\n")
    with pytest.raises(DeclarationError) as info:
        read_groups_file(sheet, kinds=CHAT)
    assert info.value.errors == [
        "row 2: group: 'Bad Key' is not a group key (lower-case letters, digits, dashes; the policy resource's key)",
        "row 3: mobile: mobile '12345' is not a mainland mobile (11 digits from 13–19) or +country number",
        "row 4: owner: 'P9' differs from 'P1' on row 3",
        "row 5: mobile: 只有名字 has no person id or mobile (never matched by name alone)",
        "row 7: member: listed twice in this group (also row 6)",
        "row 8: level: a chat member is member, not 'edit'",
        "row 9: kind: 'folder' is not one of chat",
        "group g3 (row 10): no row gives its group_name / 群名",
        "group g3 (row 10): no row gives its owner / 群主",
    ]
    assert str(info.value).startswith(f"{sheet}: row 2: group:")


@pytest.mark.parametrize(("text", "error"), [
    ("", "the file is empty"),
    ("name,mobile\n张三,13812345678\n", "row 1: no group column (group / key / 群编号)"),
])
def test_an_unusable_groups_file_says_why(tmp_path, text, error):
    with pytest.raises(DeclarationError) as info:
        read_groups_file(write(tmp_path / "groups.csv", text), kinds=CHAT)
    assert info.value.errors == [error]


def test_a_file_that_cannot_be_read_is_a_declaration_error(tmp_path):
    with pytest.raises(DeclarationError, match="cannot read the file"):
        read_groups_file(tmp_path / "missing.csv", kinds=CHAT)
    with pytest.raises(DeclarationError, match="not an Excel workbook"):
        read_groups_file(write(tmp_path / "fake.xlsx", "not a workbook"), kinds=CHAT)


def test_a_text_member_list_takes_names_mobiles_or_both_in_any_order(tmp_path):
    listed = read_member_list(write(tmp_path / "m.txt", "# exported 4 May\n张三 138 1234 5678\n\n"
                                                        "13900000004,李四\n赵医生\n+86 139-0000-0005\n"))
    assert [(m.line, m.name, m.mobile) for m in listed] == [
        (2, "张三", "+8613812345678"), (4, "李四", "+8613900000004"), (5, "赵医生", None), (6, "", "+8613900000005")]


def test_a_csv_with_named_columns_is_read_by_those_columns_only(tmp_path):
    listed = read_member_list(write(tmp_path / "m.csv", "序号,群昵称,手机号,加入时间\n1,张三,13812345678,2020-02-01\n"
                                                        "2,李四,,2020-02-02\n"))
    assert [(m.line, m.name, m.mobile) for m in listed] == [(2, "张三", "+8613812345678"), (3, "李四", None)]


def test_a_sheet_without_a_header_counts_every_cell(tmp_path):
    listed = read_member_list(xlsx(tmp_path / "m.xlsx", [["张三", "13812345678"], ["李四", None]]))
    assert [(m.line, m.name, m.mobile) for m in listed] == [(1, "张三", "+8613812345678"), (2, "李四", None)]


def test_a_list_is_checked_against_an_items_changes_by_mobile_or_name():
    changes = [{"op": "add", "member_id": "mp3", "name": "张三", "mobile": "+8613812345678", "level": "member"},
               {"op": "add", "member_id": "mp6", "name": "孙护士", "mobile": "+8613800000006", "level": "member"},
               {"op": "change", "member_id": "mp2", "name": "赵医生", "mobile": None, "level": "view"},
               {"op": "remove", "member_id": "mp4", "name": "李四", "mobile": "+8613900000004", "level": "member"},
               {"op": "remove", "member_id": "tel:+8619900000009", "name": "群友", "mobile": "+8619900000009",
                "level": "member"}]
    listed = [ListedMember(line=1, name="小张", mobile="+8613812345678"), ListedMember(line=2, name="赵医生"),
              ListedMember(line=3, name="李四")]
    assert check_members(changes, listed) == ["missing: 孙护士 138****0006 (to add)",
                                              "still there: 李四 139****0004 (to remove), line 3"]
    assert check_members(changes[:1] + changes[4:], listed) == []
