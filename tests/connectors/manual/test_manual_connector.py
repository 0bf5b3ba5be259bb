"""The manual connector serves declared groups through the read protocols, and refuses writes."""

import pytest

from connectors import ListsGroups, ReadsGroups, Runner, connector_class
from connectors._errors import NotFound, PermissionDenied
from connectors.manual import ManualConnector, ManualGroup, ManualMember
from mappings.models import Group, MembershipDelta

OWNER = ManualMember(member_id="mp1", name="王组长", mobile="+8613800000001")
CHAT = ManualGroup(key="frontline-1", external_id="frontline-1", kind="chat", name="一线1群", owner=OWNER,
                   members=(ManualMember(member_id="mp1", name="王组长"), ManualMember(member_id="mp2", name="赵医生"),
                            ManualMember(member_id="tel:+8619900000009", name="群友", mobile="+8619900000009")))
FOLDER = ManualGroup(key="cases", external_id="folder:Cases2020", kind="folder", name="个案资料", owner=OWNER,
                     members=(ManualMember(member_id="mp2", name="赵医生", level="edit"),
                              ManualMember(member_id="mp4", name="李四", level="view")))


def test_both_manual_services_resolve_to_the_manual_connector():
    assert connector_class("wechat") is ManualConnector and connector_class("shimo") is ManualConnector


def test_people_are_every_member_and_owner_once():
    wechat = ManualConnector("wechat", [CHAT, FOLDER])
    accounts = list(wechat.list_people())
    assert [a.external_id for a in accounts] == ["mp1", "mp2", "mp4", "tel:+8619900000009"]
    assert {a.service for a in accounts} == {"wechat"}
    stranger = accounts[-1]
    assert (stranger.name, stranger.mobile) == ("群友", "+8619900000009")


def test_a_group_is_read_by_the_id_the_policy_gives_it_with_its_owner_at_owner_level():
    shimo = ManualConnector("shimo", [FOLDER])
    group = shimo.get_group("folder", "folder:Cases2020")
    assert (group.name, group.owner, group.service) == ("个案资料", "mp1", "shimo")
    assert [(m.external_id, m.level) for m in shimo.list_members(group)] == [
        ("mp2", "edit"), ("mp4", "view"), ("mp1", "owner")]
    chat = ManualConnector("wechat", [CHAT])
    members = list(chat.list_members(chat.get_group("chat", "frontline-1")))
    assert [(m.external_id, m.level) for m in members] == [
        ("mp2", "member"), ("tel:+8619900000009", "member"), ("mp1", "owner")]  # the owner once, as owner


def test_a_group_nobody_declared_is_not_found():
    wechat = ManualConnector("wechat", [CHAT])
    with pytest.raises(NotFound, match="no chat 'frontline-9' is declared"):
        wechat.get_group("chat", "frontline-9")
    with pytest.raises(NotFound):
        list(wechat.list_members(Group(service="wechat", kind="folder", external_id="frontline-1", name="x")))


def test_the_pull_reads_it_by_id_and_never_lists_groups():
    wechat = ManualConnector("wechat", [CHAT])
    assert isinstance(wechat, ReadsGroups) and not isinstance(wechat, ListsGroups)
    wechat.check()
    wechat.close()


def test_writes_are_refused_with_a_message_that_a_person_makes_them():
    runner = Runner(ManualConnector("wechat", [CHAT]))
    group = runner.get_group("chat", "frontline-1")
    with pytest.raises(PermissionDenied, match=r"^wechat: no API for this: a person makes the change by hand"):
        runner.apply_membership(group, MembershipDelta(add=frozenset({"mp5"}), owner="mp5"))
    with pytest.raises(PermissionDenied):
        runner.transfer_owner(group, "mp5")
