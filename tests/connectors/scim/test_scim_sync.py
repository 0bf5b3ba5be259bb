"""A SCIM provider as a sync target: roster + policy → users and groups on a real scim2-server."""

from __future__ import annotations

import httpx
import pytest
from scim_peer import TOKEN

import state
from config.tenant import TenantConfig
from connectors import NO_RETRY_WAIT
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from flows.workspace import Workspace
from mappings.models import Person, RoleAssignment
from mappings.policy import parse_policy_text

POLICY = """
roles: {counsellor: {name: 心理咨询师}}
teams: {psych: {name: 心理组}}
resources:
  scim:
    - {key: everyone, kind: tag, name: All volunteers}
    - {key: counsellors, kind: tag, name: Counsellors}
rules:
  - name: everyone
    grant: {resource: scim/everyone}
  - name: counsellors
    when: {role: counsellor}
    grant: {resource: scim/counsellors}
"""


@pytest.fixture
def ws(server, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSTER_SCIM_TOKEN", TOKEN)
    cfg = TenantConfig.model_validate({"coalition": "c", "services": {"scim": {
        "base_url": server.base_url, "token": {"env": "MUSTER_SCIM_TOKEN"}, "rate_limit": False}}})
    workspace = Workspace(db=state.open_db(None), policy=parse_policy_text(POLICY), connections=cfg.enabled(),
                          reports=tmp_path, retry=NO_RETRY_WAIT,
                          transports={"scim": httpx.HTTPTransport()})
    state.upsert_people(workspace.db, [
        Person(id="P000001", name="张三", email="zhang@example.org", team="psych",
               roles=(RoleAssignment(role="counsellor"),)),
        Person(id="P000002", name="李四", mobile="+8613800000002"),
        Person(id="P000003", name="王五", email="wang@example.org"),
    ])
    return workspace


def sync(ws, allow_removals=False):
    run_id = state.start_run(ws.db, "test", actor="t")
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=allow_removals)
    outcomes = apply_all(ws, result, run_id, approved_by="t")
    return result, outcomes


def members(server, name):
    group = next(g for g in server._search("/Groups", f'displayName eq "{name}"'))
    ids = {m["value"] for m in group.get("members") or []}
    return sorted(u["userName"] for u in server._search("/Users", "userName pr") if u["id"] in ids)


def test_first_sync_creates_users_and_groups_then_nothing_is_left_to_do(ws, server):
    result, outcomes = sync(ws)
    assert not outcomes["scim"].failed, outcomes["scim"].failed
    assert server.user("mp000001")["displayName"] == "张三"
    assert server.user("mp000002")["phoneNumbers"][0]["value"] == "13800000002"
    assert members(server, "All volunteers") == ["mp000001", "mp000002", "mp000003"]
    assert members(server, "Counsellors") == ["mp000001"]
    writes = len(server.recorder.writes)
    again, outcomes = sync(ws)
    assert again.plan.changes == [] and outcomes == {}
    assert len(server.recorder.writes) == writes


def test_a_leaver_is_deactivated_and_leaves_the_groups(ws, server):
    sync(ws)
    state.set_status(ws.db, "P000003", "left")
    result, outcomes = sync(ws, allow_removals=True)
    assert sorted((c.op, c.target) for c in result.plan.changes) == [
        ("remove", "account"), ("remove", "tag:everyone")]
    assert server.user("mp000003")["active"] is False
    assert members(server, "All volunteers") == ["mp000001", "mp000002"]


def test_an_existing_user_is_linked_by_email_not_duplicated(ws, server):
    server.add_user("zhang.san", "Zhang San", emails=[{"value": "zhang@example.org", "primary": True}])
    sync(ws)
    assert server.user("mp000001") is None
    assert "zhang.san" in members(server, "Counsellors")
