"""Offboarding on Feishu: a leaver's documents, folders and the files in them go to the successor first."""

from __future__ import annotations

import pytest

import state
from config.tenant import TenantConfig
from connectors import NO_RETRY_WAIT
from connectors.feishu import FeishuSandbox
from flows.offboard import offboard
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from flows.workspace import Workspace
from mappings.models import Person, RoleAssignment
from mappings.policy import parse_policy_text

POLICY = """
roles: {coordinator: {name: 协调员}}
resources:
  feishu:
    - {key: handbook, kind: doc, name: 志愿者手册, external_id: "docx:doxcnHandbook"}
    - {key: cases, kind: folder, name: 个案资料, external_id: "folder:fldcnCases"}
rules:
  - name: everyone-reads
    grant: {resource: feishu/handbook, level: view}
  - name: coordinators-manage
    when: {role: coordinator}
    grant: [{resource: feishu/handbook, level: edit}, {resource: feishu/cases, level: manage}]
"""
LEAVER, HEIR, OTHER = "P000001", "P000002", "P000003"


@pytest.fixture
def sandbox() -> FeishuSandbox:
    sb = FeishuSandbox(rate_limits=False)
    for user_id, name, n in (("amy", "Amy", 1), ("ben", "Ben", 2), ("cal", "Cal", 3)):
        sb.add_user(user_id, name, mobile=f"1380000000{n}")
    sb.add_doc("doxcnHandbook", "docx", "志愿者手册", "amy")
    sb.add_doc("fldcnCases", "folder", "个案资料", "amy")
    sb.add_doc("doxcnNotes", "docx", "Case notes", "amy", parent="fldcnCases")  # amy's file in the folder
    sb.add_doc("shtcnRota", "sheet", "Rota", "cal", parent="fldcnCases")  # someone else's: not touched
    sb.add_doc("doxcnStray", "docx", "Amy's drafts", "amy")  # in no managed folder: the deletion hands it on
    return sb


@pytest.fixture
def ws(sandbox, tmp_path, monkeypatch) -> Workspace:
    monkeypatch.setenv("MUSTER_FEISHU_SECRET", sandbox.credentials["app_secret"])
    cfg = TenantConfig.model_validate({"coalition": "c", "services": {"feishu": {
        "app_id": sandbox.credentials["app_id"], "app_secret": {"env": "MUSTER_FEISHU_SECRET"}, "sandbox": True}}})
    workspace = Workspace(db=state.open_db(None), policy=parse_policy_text(POLICY), connections=cfg.enabled(),
                          reports=tmp_path, retry=NO_RETRY_WAIT, actor="tester")
    workspace.sandboxes = {"feishu": sandbox}
    workspace.connector_options = {"rate_limit": False}
    state.upsert_people(workspace.db, [
        Person(id=LEAVER, name="Amy", mobile="+8613800000001", roles=(RoleAssignment(role="coordinator"),)),
        Person(id=HEIR, name="Ben", mobile="+8613800000002", roles=(RoleAssignment(role="coordinator"),)),
        Person(id=OTHER, name="Cal", mobile="+8613800000003"),
    ])
    return workspace


def sync(ws):
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=False)
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor)
    return result, outcomes


def owners(sandbox):
    return {token: doc["owner"] for token, doc in sandbox.docs.items()}


def test_a_sync_grants_by_policy_and_leaves_the_owner_alone(ws, sandbox):
    result, outcomes = sync(ws)
    assert not any(o.failed for o in outcomes.values())
    rows = sorted((c.op, c.target, c.external_id, c.after) for c in result.plan.changes)
    assert rows == [("add", "doc:handbook", "ben", "edit"), ("add", "doc:handbook", "cal", "view"),
                    ("add", "folder:cases", "ben", "manage")]  # amy owns both: nothing planned for her
    assert sandbox.docs["doxcnHandbook"]["members"] == {"ben": {"perm": "edit"}, "cal": {"perm": "view"}}
    assert sandbox.docs["fldcnCases"]["members"] == {"ben": {"perm": "full_access"}}
    again, _ = sync(ws)
    assert again.plan.changes == []


def test_offboarding_hands_the_doc_the_folder_and_the_file_in_it_to_the_successor(ws, sandbox):
    sync(ws)
    result = offboard(ws, LEAVER, successor=HEIR, run_id=state.start_run(ws.db, "offboard", actor=ws.actor))
    assert result.status == "left" and result.work_items == [], result.detail
    done = sorted((h.kind, h.external_id, h.successor) for h in result.handovers if h.done)
    assert done == [("doc", "docx:doxcnHandbook", HEIR), ("doc", "docx:doxcnNotes", HEIR),
                    ("folder", "folder:fldcnCases", HEIR)]
    assert len(result.handovers) == 3
    assert owners(sandbox) == {"doxcnHandbook": "ben", "fldcnCases": "ben", "doxcnNotes": "ben",
                               "shtcnRota": "cal", "doxcnStray": "ben"}  # the stray one by docs_acceptor
    assert state.get_person(ws.db, LEAVER).status == "left"
    assert "amy" not in sandbox.users and sandbox.deleted_users == {"amy": "ben"}
    assert result.revoked >= 1
    transfers = sandbox.calls
    assert transfers["POST /open-apis/drive/v1/permissions/doxcnHandbook/members/transfer_owner"] == 1
    assert transfers["POST /open-apis/drive/v1/permissions/fldcnCases/members/transfer_owner"] == 1
    assert transfers["POST /open-apis/drive/v1/permissions/doxcnNotes/members/transfer_owner"] == 1
    assert transfers["POST /open-apis/drive/v1/permissions/shtcnRota/members/transfer_owner"] == 0


def test_during_a_grace_period_the_leaver_keeps_view_on_what_they_handed_over(ws, sandbox):
    sync(ws)
    result = offboard(ws, LEAVER, successor=HEIR, grace_days=7,
                      run_id=state.start_run(ws.db, "offboard", actor=ws.actor))
    assert result.status == "leaving" and all(h.done for h in result.handovers) and len(result.handovers) == 3
    for token in ("doxcnHandbook", "fldcnCases", "doxcnNotes"):
        assert sandbox.docs[token]["owner"] == "ben"
        assert sandbox.docs[token]["members"]["amy"] == {"perm": "view"}
        assert "ben" not in sandbox.docs[token]["members"]  # the owner is no collaborator as well
    assert "amy" in sandbox.users and sandbox.deleted_users == {}
    assert sandbox.docs["doxcnStray"]["owner"] == "amy"
