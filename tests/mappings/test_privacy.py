import pytest

from config._yaml import ConfigError
from mappings.models import Person
from mappings.policy import parse_policy_text
from mappings.privacy import Masker, reader_for

POLICY_TEXT = """\
version: 1
tiers: [一线, 二线, 三线]
privacy:
  see_contacts: [三线]
"""
POLICY = parse_policy_text(POLICY_TEXT)
MOBILE, EMAIL = "+8613812345678", "zhang.san@example.org"


def person(pid="P1", tier="三线", status="active", email="Zhang.San@Example.org"):
    return Person(id=pid, name="张三", tier=tier, status=status, mobile=MOBILE, email=email)


def test_privacy_defaults_to_nobody_seeing_contacts():
    policy = parse_policy_text("version: 1\ntiers: [三线]\n")
    assert policy.privacy.see_contacts == []
    masker = Masker(policy, person())
    assert (masker.full, masker.mobile(MOBILE), masker.email(EMAIL)) == (False, "138****5678", "z***@example.org")


def test_a_single_tier_may_be_given_without_a_list():
    assert parse_policy_text(POLICY_TEXT.replace("[三线]", "三线")).privacy.see_contacts == ["三线"]


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (POLICY_TEXT.replace("[三线]", "[三线, 四线]"), 4, "privacy.see_contacts[1]", "unknown tier '四线' (known: 一线, 二线, 三线)"),
    (POLICY_TEXT.replace("see_contacts", "see_contact"), 4, "privacy.see_contact", "unknown field"),
    ("version: 1\nprivacy:\n  see_contacts:\n    - 三线\n", 4, "privacy.see_contacts[0]",
     "unknown tier '三线' (known: none declared)"),
])
def test_a_bad_privacy_section_names_file_line_and_field(text, line, field, words):
    with pytest.raises(ConfigError) as info:
        parse_policy_text(text, "p.yaml")
    assert str(info.value).startswith(f"p.yaml:{line}: {field}: ")
    assert words in str(info.value)


@pytest.mark.parametrize(("reader", "full"), [
    (person(), True),
    (person(tier="一线"), False),
    (person(tier=None), False),
    (person(status="leaving"), False),  # only active readers see contacts
    (person(status="left"), False),
    (None, False),
])
def test_only_active_readers_in_a_see_contacts_tier_read_contacts_in_full(reader, full):
    masker = Masker(POLICY, reader)
    assert masker.full is full
    assert masker.mobile(MOBILE) == ("13812345678" if full else "138****5678")
    assert masker.email(EMAIL) == (EMAIL if full else "z***@example.org")


@pytest.mark.parametrize("full_reader", [True, False])
def test_unknown_contacts_show_empty_and_foreign_mobiles_keep_their_country_code(full_reader):
    masker = Masker(POLICY, person() if full_reader else None)
    assert masker.mobile(None) == masker.email(None) == masker.email("") == ""
    assert masker.mobile("+4915112345678") == ("+4915112345678" if full_reader else "+49****5678")


def test_describe_names_the_reader_and_the_masking():
    assert Masker(POLICY, person()).describe() == "read by 张三 (P1): contacts in full"
    assert Masker(POLICY, None).describe() == "read by an unknown reader: contacts masked"


PEOPLE = [person("P1"), person("P2", email="li.si@example.org"), person("P3", email=None)]


@pytest.mark.parametrize(("actor", "expected"), [
    ("P2", "P2"),
    (" P3 ", "P3"),
    ("ZHANG.SAN@example.org", "P1"),  # emails compare case-insensitively
    ("li.si@example.org", "P2"),
    ("p2", None),  # person ids are exact
    ("tester", None),  # a login name that is no one: masked
    ("", None),
    (None, None),
])
def test_the_reader_is_the_person_whose_id_or_email_is_the_actor(actor, expected):
    found = reader_for(PEOPLE, actor)
    assert (found.id if found else None) == expected


def test_an_id_match_wins_over_an_email_match():
    people = [person("P9", email="p1@example.org"), person("p1@example.org", email=None)]
    assert reader_for(people, "p1@example.org").id == "p1@example.org"
