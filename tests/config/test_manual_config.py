"""WeChat groups and Shimo folders in muster.yaml: declared inline or in a file, bad entries located by line."""

from datetime import timedelta

import pytest

from config._yaml import ConfigError, load_yaml_text
from config.tenant import ShimoConnection, WeChatConnection, load_config, parse_config
from mappings.services import SERVICES

CONFIG = """\
coalition: 武汉志愿者联盟
services:
  wechat:
    remind_after: 12h
    groups:
      - key: frontline-1
        name: 一线1群
        owner: P000001
        members:
          - P000002
          - {name: 张三, mobile: 13812345678}
          - {name: 李四, mobile: '+86 139-0000-0004'}
  shimo:
    groups_file: sheets/shimo.xlsx
    groups:
      - key: cases
        name: 个案资料
        owner: P000001
        members: [{id: P000003, level: edit}, {id: P000004}]
"""


def parse(text: str):
    return parse_config(load_yaml_text(text, "muster.yaml"))


def test_declared_groups_load_with_their_defaults():
    cfg = parse(CONFIG)
    wechat, shimo = cfg.services["wechat"], cfg.services["shimo"]
    assert isinstance(wechat, WeChatConnection) and isinstance(shimo, ShimoConnection)
    group = wechat.groups[0]
    assert [(m.id, m.name, m.mobile) for m in group.members] == [
        ("P000002", None, None), (None, "张三", "13812345678"), (None, "李四", "+86 139-0000-0004")]
    assert wechat.remind_delay() == timedelta(hours=12) and shimo.remind_delay() == timedelta(days=2)
    assert (wechat.default_kind, shimo.default_kind) == ("chat", "folder")
    assert shimo.groups[0].members[1].level is None  # the kind's first level (view) applies when imported


def test_the_groups_file_is_found_next_to_the_config(tmp_path):
    (tmp_path / "muster.yaml").write_text(CONFIG, encoding="utf-8")
    cfg = load_config(tmp_path / "muster.yaml")
    assert cfg.services["shimo"].groups_file == (tmp_path / "sheets" / "shimo.xlsx").resolve()
    assert cfg.services["wechat"].groups_file is None


@pytest.mark.parametrize(("entry", "where", "message"), [
    ("members: [{name: 张三}]", "services.wechat.groups[0].members[0]",
     "give the member's person id or mobile: members are never matched by name alone"),
    ("members: [{name: 张三, mobile: '12345'}]", "services.wechat.groups[0].members[0].mobile",
     "'12345' is not a mobile number"),
    ("kind: folder", "services.wechat.groups[0].kind", "wechat has no folders (it has: chat)"),
    ("members: [{id: P2, level: edit}]", "services.wechat.groups[0].members[0].level",
     "a wechat chat member is member, not 'edit'"),
    ("colour: red", "services.wechat.groups[0].colour", "unknown field"),
])
def test_a_bad_declared_group_names_its_line_and_field(entry, where, message):
    text = f"coalition: x\nservices:\n  wechat:\n    groups:\n      - key: g1\n        name: 一群\n" \
           f"        owner: P1\n        {entry}\n"
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.field == where and info.value.line == 8 and message in info.value.message


def test_group_keys_are_unique_and_follow_the_policy_key_pattern():
    twice = "coalition: x\nservices:\n  wechat:\n    groups:\n      - {key: g1, name: A, owner: P1}\n" \
            "      - {key: g1, name: B, owner: P1}\n"
    with pytest.raises(ConfigError, match=r"muster.yaml:6: services.wechat.groups\[1\].key: duplicate group key"):
        parse(twice)
    with pytest.raises(ConfigError, match=r"groups\[0\].key: String should match pattern"):
        parse("coalition: x\nservices:\n  wechat:\n    groups: [{key: Bad Key, name: A, owner: P1}]\n")


def test_remind_after_is_a_duration():
    with pytest.raises(ConfigError, match=r"services.shimo.remind_after"):
        parse("coalition: x\nservices:\n  shimo: {remind_after: two days}\n")


def test_the_config_kinds_agree_with_the_service_traits():
    for conn in (WeChatConnection, ShimoConnection):
        traits = SERVICES[conn.model_fields["service"].default]
        assert traits.manual
        assert all(set(levels) <= set(traits.kinds[kind]) for kind, levels in conn.kinds.items())
