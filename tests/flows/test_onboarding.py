"""A signup in the inbox becomes a volunteer everywhere; a leaver hands over before losing access."""

import pytest

import state
from flows.forms import process_inbox
from flows.offboard import OffboardError, expire_grace, offboard
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from mappings.models import FormEntry

DOCTOR = {"field_1": "新医生", "field_2": "+86 139-0000-0001", "field_3": "doc@example.org", "field_4": "武汉",
          "field_5": "f5o1", "field_7": "f7o1", "field_8": "f8o1"}


@pytest.fixture
def ws(coalition):
    ws = coalition()
    ws.forms = {}
    sync(ws)
    return ws


def sync(ws):
    run_id = state.start_run(ws.db, "sync", actor="t")
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    apply_all(ws, result, run_id)
    return result


def submit(ws, serial, answers, form="signup"):
    entry = FormEntry(service="jinshuju", form="tok", serial=str(serial), answers=answers)
    return state.receive(ws.db, form=form, entry=entry, payload={"entry": answers})


def onboard(ws):
    return process_inbox(ws, state.start_run(ws.db, "onboard", actor="t"))


def account(ws, service, pid):
    links = {i.person_id: ext for ext, i in state.identities_for(ws.db, service).items()}
    return links.get(pid)


def test_a_signup_is_provisioned_everywhere_and_welcomed_once(ws):
    item_id, _ = submit(ws, 1, DOCTOR)
    [batch] = onboard(ws)
    [admission] = batch.admissions
    assert admission.status == "onboarding" and not batch.failed
    person = state.get_person(ws.db, admission.person_id)
    assert (person.status, person.team, person.tier) == ("active", "medical", "一线")
    assert {r.role for r in person.roles} == {"volunteer", "doctor"}
    assert person.attributes["profession"] == "医生" and person.mobile == "+8613900000001"
    wecom, dingtalk = ws.sandboxes["wecom"], ws.sandboxes["dingtalk"]
    wx, dt = account(ws, "wecom", person.id), account(ws, "dingtalk", person.id)
    assert wx in wecom.users and dt in dingtalk.users
    doctors_tag = next(t for t in wecom.tags.values() if t["tagname"] == "医生")
    assert wx in doctors_tag["userlist"] if isinstance(doctors_tag["userlist"], list) else True
    assert any(wx in chat["userlist"] for chat in wecom.chats.values())
    welcomes = [(u, t) for u, t in wecom.messages if u == wx]
    assert len(welcomes) == 1 and "欢迎" in welcomes[0][1] and "医生" in welcomes[0][1]
    assert state.get_item(ws.db, item_id)["status"] == "onboarded"
    # the same entry again: the inbox keeps one item and nobody is welcomed twice
    assert submit(ws, 1, DOCTOR)[1] == "unchanged"
    assert onboard(ws) == []
    assert len([u for u, _ in wecom.messages if u == wx]) == 1
    assert sync(ws).plan.changes == []  # onboarding left nothing for the next sync


def test_an_edited_entry_updates_the_same_person(ws):
    submit(ws, 2, DOCTOR)
    [first] = onboard(ws)[0].admissions
    edited = {**DOCTOR, "field_4": "黄石"}
    assert submit(ws, 2, edited)[1] == "updated"
    [again] = onboard(ws)[0].admissions
    assert again.person_id == first.person_id
    assert state.get_person(ws.db, first.person_id).attributes["city"] == "黄石"
    assert len(state.find_people(ws.db, mobile="+8613900000001")) == 1


def test_a_known_mobile_under_another_name_goes_to_review(ws):
    someone = state.list_people(ws.db, status="active")[3]
    before = len(state.list_people(ws.db))
    submit(ws, 3, {**DOCTOR, "field_1": "冒名者", "field_2": someone.mobile})
    [a] = onboard(ws)[0].admissions
    assert a.status == "review" and someone.name in a.detail
    assert len(state.list_people(ws.db)) == before


def test_no_screening_match_waits_for_a_coordinator_and_gets_nothing(ws):
    submit(ws, 4, {**DOCTOR, "field_5": "f5o5"})  # 其他
    [a] = onboard(ws)[0].admissions
    assert a.status == "review"
    assert state.get_person(ws.db, a.person_id).status == "applicant"
    assert account(ws, "wecom", a.person_id) is None


def test_bad_answers_fail_the_item_with_the_field_named(ws):
    item_id, _ = submit(ws, 5, {**DOCTOR, "field_2": "12345"})
    onboard(ws)
    item = state.get_item(ws.db, item_id)
    assert item["status"] == "failed" and "field_2 (mobile)" in item["error"]


def test_no_consent_for_a_service_keeps_the_volunteer_out_of_it(ws):
    submit(ws, 6, {**DOCTOR, "field_8": "f8o2"})  # no to DingTalk
    [a] = onboard(ws)[0].admissions
    assert account(ws, "wecom", a.person_id) is not None
    assert account(ws, "dingtalk", a.person_id) is None


def heir_for(ws, owner):
    return next(p for p in state.list_people(ws.db, status="active")
                if p.id != owner and all(account(ws, s, p.id) for s in ("wecom", "dingtalk", "feishu")))


def owned_chat(ws):
    wecom = ws.sandboxes["wecom"]
    links = {ext: i.person_id for ext, i in state.identities_for(ws.db, "wecom").items()}
    chat = next(c for c in wecom.chats.values() if c["owner"] in links)
    return chat, links[chat["owner"]]


def test_offboarding_hands_over_then_revokes(ws):
    chat, owner = owned_chat(ws)
    heir = heir_for(ws, owner)
    result = offboard(ws, owner, successor=heir.id, run_id=state.start_run(ws.db, "offboard", actor="t"))
    assert all(h.done for h in result.handovers), result.handovers
    assert result.status == "left"
    heir_ext, owner_ext = account(ws, "wecom", heir.id), account(ws, "wecom", owner)
    assert chat["owner"] == heir_ext
    assert owner_ext not in chat["userlist"]
    assert ws.sandboxes["wecom"].users[owner_ext]["status"] == 2  # disabled
    audit = [e for e in state.audit_entries(ws.db) if e["action"] == "change owner"]
    assert audit and "before" in audit[-1]["reason"]


def test_offboarding_with_a_grace_period_keeps_access_until_it_ends(ws):
    from datetime import date, timedelta

    chat, owner = owned_chat(ws)
    heir = heir_for(ws, owner)
    result = offboard(ws, owner, successor=heir.id, grace_days=7, run_id=state.start_run(ws.db, "off", actor="t"))
    owner_ext = account(ws, "wecom", owner)
    assert result.status == "leaving" and owner_ext in chat["userlist"] and chat["owner"] != owner_ext
    assert expire_grace(ws, date.today()) == []
    assert expire_grace(ws, date.today() + timedelta(days=7)) == [owner]
    sync(ws)
    assert owner_ext not in chat["userlist"]


def test_a_hand_over_that_cannot_be_made_becomes_a_work_item_and_revocation_waits(ws):
    chat, owner = owned_chat(ws)
    applicant = state.list_people(ws.db)[0].model_copy(update={"id": "P999999", "mobile": None, "email": None})
    state.upsert_people(ws.db, [applicant])  # active, but no account anywhere
    result = offboard(ws, owner, successor="P999999", run_id=state.start_run(ws.db, "off", actor="t"))
    assert result.status == "leaving" and result.work_items
    assert chat["owner"] == account(ws, "wecom", owner)
    assert [w["person_id"] for w in state.open_work_items(ws.db)] == [owner] * len(result.work_items)


def test_offboarding_refuses_an_unknown_person_or_successor(ws):
    with pytest.raises(OffboardError, match="no person"):
        offboard(ws, "P424242", run_id="r")
    someone = state.list_people(ws.db, status="active")[0]
    with pytest.raises(OffboardError, match="successor"):
        offboard(ws, someone.id, successor=someone.id, run_id="r")


def test_the_sync_offboards_whoever_became_leaving(ws):
    from flows.offboard import offboard_leaving
    from mappings.models import RoleAssignment

    chat, owner = owned_chat(ws)
    for p in state.list_people(ws.db):  # one other coordinator: the policy's successor for the role
        if p.id != owner and "coordinator" in {r.role for r in p.roles}:
            state.upsert_people(ws.db, [p.model_copy(update={"roles": ()})])
    coordinator = heir_for(ws, owner)
    state.upsert_people(ws.db, [coordinator.model_copy(
        update={"roles": coordinator.roles + (RoleAssignment(role="coordinator"),)})])
    state.set_status(ws.db, owner, "leaving")
    [result] = offboard_leaving(ws, state.start_run(ws.db, "sync", actor="t"))
    assert result.status == "left" and all(h.done for h in result.handovers)
    assert chat["owner"] == account(ws, "wecom", coordinator.id)  # the policy's successor for the role
