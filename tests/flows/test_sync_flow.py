"""The Prefect ``sync`` flow itself, on a real (test-harness) Prefect server."""

import pytest

import state
from flows.sync import register, sync_flow


def read_artifacts(key):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


@pytest.mark.flow
def test_sync_flow_applies_then_finds_nothing_and_publishes_its_report(prefect_server, coalition):
    ws = coalition()
    ref = register(ws)
    first = sync_flow(workspace=ref, allow_removals=True)
    assert first["status"] == "ok" and first["changes"] > 0 and first["write_calls"] > 0
    assert state.get_run(ws.db, first["run_id"])["status"] == "ok"
    assert state.plan_status(ws.db, first["plan_id"]) == "applied"
    second = sync_flow(workspace=ref)
    assert (second["changes"], second["write_calls"]) == (0, 0)
    artifacts = read_artifacts("muster-run")
    assert any(first["run_id"] in (a.description or "") for a in artifacts)
    assert any("# Muster run" in (a.data or "") for a in artifacts)


@pytest.mark.flow
def test_onboard_flow_onboards_the_inbox(prefect_server, coalition):
    from flows.sync import onboard_flow
    from mappings.models import FormEntry

    ws = coalition()
    ws.forms = {}
    entry = FormEntry(service="jinshuju", form="tok", serial="1",
                      answers={"field_1": "流程医生", "field_2": "13912340000", "field_5": "f5o1"})
    item_id, _ = state.receive(ws.db, form="signup", entry=entry, payload={})
    summary = onboard_flow(workspace=register(ws), item_id=item_id)
    assert summary == {"items": 1, "onboarded": 1, "review": 0, "failed": 0}
    assert state.get_item(ws.db, item_id)["status"] == "onboarded"


def test_onboarding_goes_to_a_prefect_deployment_when_one_exists(coalition, monkeypatch):
    import flows.forms as forms

    ws = coalition()
    started = []
    monkeypatch.setattr(forms, "_onboard_deployment", lambda ws: None)
    trigger, how, stop = forms.onboarding_trigger(ws)
    assert "in this process" in how
    stop()
    monkeypatch.setattr(forms, "_onboard_deployment", lambda ws: "onboard/onboard")
    monkeypatch.setattr("prefect.deployments.run_deployment",
                        lambda name, parameters, timeout: started.append((name, parameters, timeout)))
    trigger, how, stop = forms.onboarding_trigger(ws)
    trigger(42)
    assert "Prefect deployment onboard/onboard" in how
    assert started == [("onboard/onboard", {"item_id": 42}, 0)]


def test_without_a_prefect_server_there_is_no_deployment(monkeypatch, coalition):
    import flows.forms as forms

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert forms._onboard_deployment(coalition()) is None


@pytest.mark.flow
def test_drift_flow_publishes_its_report_and_the_sync_flow_moves_the_baseline(prefect_server, coalition):
    from flows.drift_flow import drift_flow

    ws = coalition()
    ref = register(ws)
    sync_flow(workspace=ref, allow_removals=True)
    assert state.get_baseline(ws.db, "wecom") is not None
    known = state.resource_ids(ws.db, "wecom")
    chat = next(ws.sandboxes["wecom"].chats[known[r.key]] for r in ws.policy.resources["wecom"]
                if r.kind == "chat" and r.key in known)
    ws.sandboxes["wecom"].add_user("byhand1", "手工加的人", mobile="13900000077")
    chat["userlist"].append("byhand1")
    result = drift_flow(workspace=ref)
    assert result["exit_code"] == 2 and result["by_kind"]["unplanned_member"] == 1
    published = read_artifacts("muster-drift")
    assert any(result["run"] in (a.description or "") and "byhand1" in (a.data or "") for a in published)
    page = (ws.reports / f"drift-{result['run']}.html").read_text()
    assert "byhand1" in page and "<script>" in page
    secrets = {str(v) for sb in ws.sandboxes.values() for k, v in sb.credentials.items()
               if any(word in k for word in ("secret", "key", "token")) and len(str(v)) >= 8}
    published = [a.data or "" for key in ("muster-run", "muster-drift", "muster-drift-items")
                 for a in read_artifacts(key)]
    assert secrets and published and not [s for s in secrets if any(s in str(text) for text in published)]
