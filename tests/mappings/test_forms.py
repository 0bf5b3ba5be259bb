from datetime import date

import pytest

from mappings.desired import desired_state
from mappings.forms import FormSpec, Screen, consent, read_entry, screen
from mappings.models import FormEntry, Person
from mappings.policy import parse_policy_text

SPEC = FormSpec(
    fields={"field_1": "name", "field_2": "mobile", "field_3": "email", "field_4": "city",
            "field_5": "profession", "field_7": "consent.wecom", "field_8": "consent.dingtalk"},
    choices={"field_5": {"a1": "医生", "a2": "护士", "a3": "心理咨询师"}},
    screening=[Screen(when={"profession": ["医生", "护士"]}, roles=["doctor"], team="medical", tier="一线"),
               Screen(when={"profession": ["心理咨询师"], "city": ["武汉"]}, roles=["counsellor"])],
)


def entry(**answers):
    return FormEntry(service="jinshuju", form="f1", serial="7", answers=answers)


def test_answers_are_mapped_translated_and_normalised():
    s = read_entry(entry(field_1=" 张　三 ", field_2="+86 138-0000-0001", field_3="ZS@Example.org",
                         field_4="武汉", field_5="a2", field_7="是", field_8="否"), SPEC)
    assert (s.name, s.mobile, s.email, s.errors) == ("张 三", "+8613800000001", "zs@example.org", [])
    assert s.attributes == {"city": "武汉", "profession": "护士", "consent.wecom": "yes", "consent.dingtalk": "no"}


def test_multi_choice_answers_join_their_labels():
    s = read_entry(entry(field_1="李四", field_2="13800000002", field_5=["a1", "a3"]), SPEC)
    assert s.attributes["profession"] == "医生、心理咨询师"
    assert screen(s.attributes, SPEC.screening).roles == ["doctor"]


@pytest.mark.parametrize(
    ("answers", "error"),
    [
        ({"field_1": "王五"}, "field_2 (mobile): required but empty"),
        ({"field_2": "13800000003"}, "field_1 (name): required but empty"),
        ({"field_1": "王五", "field_2": "12345"}, "field_2 (mobile): mobile '12345' is not a mainland mobile"),
        ({"field_1": "王五", "field_2": "13800000003", "field_3": "not-an-email"}, "field_3 (email): email"),
    ],
)
def test_unusable_answers_are_reported_with_their_field_code(answers, error):
    errors = read_entry(entry(**answers), SPEC).errors
    assert len(errors) == 1 and errors[0].startswith(error)


@pytest.mark.parametrize(
    ("attributes", "roles"),
    [({"profession": "医生"}, ["doctor"]), ({"profession": "心理咨询师", "city": "武汉"}, ["counsellor"]),
     ({"profession": "心理咨询师", "city": "北京"}, None), ({}, None)],
)
def test_first_matching_screening_rule_wins_else_review(attributes, roles):
    rule = screen(attributes, SPEC.screening)
    assert (rule.roles if rule else None) == roles


@pytest.mark.parametrize(("text", "value"), [("是", "yes"), ("同意", "yes"), ("Yes", "yes"), ("否", "no"),
                                             ("不同意", "no"), ("也许", "unknown")])
def test_consent_answers(text, value):
    assert consent(text) == value


def test_withheld_consent_keeps_a_person_out_of_that_service():
    policy = parse_policy_text("""
resources:
  wecom: [{key: all, kind: chat, name: 全体}]
  dingtalk: [{key: all, kind: chat, name: 全体}]
rules:
  - name: everyone
    grant: [{resource: wecom/all}, {resource: dingtalk/all}]
""")
    people = [Person(id="P1", name="a", attributes={"consent.dingtalk": "no", "consent.wecom": "yes"}),
              Person(id="P2", name="b")]
    desired = desired_state(people, policy, date(2026, 11, 21))
    assert set(desired["wecom"].accounts) == {"P1", "P2"}
    assert set(desired["dingtalk"].accounts) == {"P2"}


def test_policy_screening_names_must_be_declared():
    from config._yaml import ConfigError

    with pytest.raises(ConfigError, match=r"p.yaml:6: forms.signup.screening\[0\].roles: unknown role 'medic'"):
        parse_policy_text("""roles: {doctor: {name: 医生}}
forms:
  signup:
    fields: {field_1: name, field_2: mobile}
    screening:
      - {when: {profession: 医生}, roles: [medic]}
""", "p.yaml")
