import pytest

from config._yaml import ConfigError
from mappings.policy import load_policy, parse_policy_text

GOOD = """\
version: 1
roles:
  counsellor: {name: 心理咨询师}
  coordinator: {name: 协调员}
teams:
  community: {name: 社区服务组}
tiers: [一线, 二线, 三线]
services:
  wecom: {leavers: remove, unknown_members: keep}
resources:
  wecom:
    - {key: dept-community, kind: department, name: 社区服务组}
    - {key: all-hands, kind: chat, name: 全体志愿者}
    - {key: counsellors, kind: tag, name: 心理咨询师}
  dingtalk:
    - {key: command, kind: chat, name: 指挥部}
rules:
  - name: everyone
    grant: {resource: wecom/all-hands}
  - name: counsellors
    when: {role: counsellor}
    grant:
      - {resource: wecom/counsellors}
  - name: command
    when: {role: [coordinator], tier: 三线}
    grant:
      - {resource: dingtalk/command, level: owner}
      - {resource: wecom/dept-community, level: manage}
"""


def test_good_policy_loads_with_defaults():
    policy = parse_policy_text(GOOD)
    assert policy.guards.max_removal_fraction == 0.10
    assert policy.guards.max_removals == 50
    assert [r.name for r in policy.rules] == ["everyone", "counsellors", "command"]
    assert policy.rules[1].when.role == ["counsellor"]
    assert policy.rules[0].when.status == ["active", "leaving"]
    assert policy.rules[2].grant[0].service == "dingtalk"
    assert policy.resource("wecom", "all-hands").name == "全体志愿者"
    assert policy.role_key("心理咨询师") == "counsellor"
    assert policy.service("dingtalk").leavers == "remove"


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_policy_text(text, "p.yaml")
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("when: {role: counsellor}", "when: {role: counselor}", 21, "rules[1].when.role", "unknown role 'counselor'"),
        ("- {resource: wecom/counsellors}", "- {resource: wecom/medics}", 23, "rules[1].grant[0].resource",
         "unknown resource 'wecom/medics'"),
        ("level: manage}", "level: owner}", 28, "rules[2].grant[1].level", "takes level member or manage"),
        ("  wecom: {leavers", "  slack: {leavers", 9, "services.slack", "unknown service 'slack'"),
        ("kind: tag, name: 心理咨询师", "kind: calendar, name: 心理咨询师", 14, "resources.wecom[2].kind", "Input should be"),
        ("{key: command, kind: chat", "{key: command, kind: tag", 16, "resources.dingtalk[0].kind", "dingtalk has no tags"),
        ("version: 1", "version: 1\nbogus: 2", 2, "bogus", "unknown field"),
        ("  - name: command\n", "  - name: everyone\n", 24, "rules[2].name", "duplicate rule name"),
    ],
)
def test_bad_policy_names_file_line_and_field(old, new, line, field, words):
    assert old in GOOD
    err = _error(GOOD.replace(old, new, 1))
    assert (err.file, err.line, err.field) == ("p.yaml", line, field)
    assert words in str(err)
    assert str(err).startswith(f"p.yaml:{line}: {field}: ")


def test_duplicate_keys_and_syntax_errors_are_located():
    assert _error("rules: []\nrules: []\n").line == 2
    err = _error("rules: [\n")
    assert err.line == 2 and "not valid YAML" in str(err)


def test_policy_must_be_a_mapping():
    assert "must be a mapping" in str(_error("- just\n- a list\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_policy(tmp_path / "nope.yaml")
