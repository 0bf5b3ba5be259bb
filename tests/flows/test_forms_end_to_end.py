"""Sandbox form submission → receiver → onboarded in WeCom and DingTalk → offboarded with chat ownership handed over."""

import pytest
from fastapi.testclient import TestClient

import state
from config.tenant import FormConnection, SecretRef
from connectors import form_sandbox_class
from flows.demo_policy import SIGNUP_FIELDS, SIGNUP_NAME, signup_codes
from flows.forms import process_inbox
from flows.offboard import offboard
from flows.run import apply_all, pull_all
from flows.serve_cmd import build_receiver
from flows.steps import plan_all
from mappings.models import Group, MembershipDelta


def linked(ws, service, pid):
    return {i.person_id: ext for ext, i in state.identities_for(ws.db, service).items()}.get(pid)


@pytest.fixture
def signup_form(coalition, monkeypatch):
    ws = coalition()
    run_id = state.start_run(ws.db, "sync", actor="t")
    apply_all(ws, plan_all(ws, pull_all(ws, run_id), allow_removals=True), run_id)
    monkeypatch.setenv("MUSTER_SIGNUP_TOKEN", "push-secret-1")
    jinshuju = form_sandbox_class("jinshuju")(seed=1)
    fields, choices = signup_codes("jinshuju")
    token = jinshuju.add_form(None, SIGNUP_NAME, {c: SIGNUP_FIELDS[t][0] for c, t in fields.items()}, choices=choices)
    ws.forms = {"signup": FormConnection(service="jinshuju", form=token, token=SecretRef(env="MUSTER_SIGNUP_TOKEN"))}
    code = {t: c for c, t in fields.items()}
    return ws, jinshuju, token, code


def test_signup_to_onboarded_to_offboarded(signup_form):
    ws, jinshuju, token, code = signup_form
    stored = []
    client = TestClient(build_receiver(ws, on_item=stored.append))
    answers = {code["name"]: "周医生", code["mobile"]: "１３９ ００００ ４４４４", code["profession"]: "医生",
               code["consent.wecom"]: "是", code["consent.dingtalk"]: "是", code["city"]: "武汉"}
    payload = jinshuju.submit(token, answers)
    assert client.post("/forms/signup", params={"token": "wrong"}, json=payload).status_code == 403
    response = client.post("/forms/signup", params={"token": "push-secret-1"}, json=payload)
    assert response.status_code == 200 and response.json()["status"] == "new"
    assert client.post("/forms/signup", params={"token": "push-secret-1"}, json=payload).json()["status"] == "unchanged"
    assert set(stored) == {response.json()["item"]} and len(state.inbox_items(ws.db)) == 1

    [batch] = process_inbox(ws, state.start_run(ws.db, "onboard", actor="t"))
    [admission] = batch.admissions
    pid = admission.person_id
    assert admission.status == "onboarding" and not batch.failed
    assert state.get_person(ws.db, pid).mobile == "+8613900004444"
    wx, dt = linked(ws, "wecom", pid), linked(ws, "dingtalk", pid)
    assert wx in ws.sandboxes["wecom"].users and dt in ws.sandboxes["dingtalk"].users
    assert {("wecom", pid), ("dingtalk", pid)} <= set(batch.welcomed)
    assert state.inbox_items(ws.db)[0]["status"] == "onboarded"

    # the new volunteer comes to own a WeCom chat, then leaves
    wecom = ws.sandboxes["wecom"]
    chatid, chat = next(iter(wecom.chats.items()))
    runner = ws.connector("wecom")
    runner.apply_membership(Group(service="wecom", kind="chat", external_id=chatid, name=chat["name"]),
                            MembershipDelta(add=frozenset({wx}), owner=wx))
    runner.close()
    assert chat["owner"] == wx
    heir = next(p for p in state.list_people(ws.db, status="active")
                if p.id != pid and linked(ws, "wecom", p.id) and linked(ws, "dingtalk", p.id))
    result = offboard(ws, pid, successor=heir.id, run_id=state.start_run(ws.db, "offboard", actor="t"))
    assert result.status == "left" and [h.done for h in result.handovers] == [True]
    assert chat["owner"] == linked(ws, "wecom", heir.id)
    assert wx not in chat["userlist"] and wecom.users[wx]["status"] == 2
    assert dt not in ws.sandboxes["dingtalk"].users  # DingTalk has no disabled state: the leaver is deleted
