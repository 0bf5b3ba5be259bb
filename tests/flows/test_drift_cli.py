"""``muster drift`` from the command line, against sandboxes served over HTTP: exit codes, settling, reports."""

import json

import httpx
import pytest
from test_cli import run, served, tenant  # noqa: F401  (fixtures)

import state


def _wecom(served_info):
    info = json.loads(served_info.read_text())["wecom"]
    client = httpx.Client(base_url=info["base_url"])
    token = client.get("/cgi-bin/gettoken", params={"corpid": info["corpid"],
                                                    "corpsecret": info["corpsecret"]}).json()["access_token"]
    return client, token


def test_drift_lists_settles_and_exits_by_what_it_found(tenant, capsys, served):  # noqa: F811
    code, out = run(["sync", "--allow-removals"], capsys)
    assert code == 0, out
    code, out = run(["drift", "--format", "json", "--out", "drift.json"], capsys)
    found = json.loads((tenant / "drift.json").read_text())
    assert code == (2 if found["items"] else 0)
    for item in found["items"]:  # whatever the sandboxes hold that no one can explain is taken in
        code, out = run(["drift", "adopt", item["id"], "--reason", "known before Muster"], capsys)
        assert code == 0 and item["id"] in out, out
    code, out = run(["drift"], capsys)
    assert code == 0 and "No drift" in out

    db = state.open_db(tenant / "muster.db")
    chat_id = next(v for k, v in state.resource_ids(db, "wecom").items())
    client, token = _wecom(served)
    chat = client.get("/cgi-bin/appchat/get", params={"access_token": token, "chatid": chat_id}).json()["chat_info"]
    gone = next(u for u in chat["userlist"] if u != chat["owner"])
    answer = client.post("/cgi-bin/appchat/update", params={"access_token": token},
                         json={"chatid": chat_id, "del_user_list": [gone]}).json()
    assert answer["errcode"] == 0
    code, out = run(["drift", "--format", "html", "--out", "drift.html"], capsys)
    assert code == 2 and "member removed outside Muster" in out and "made by unknown" in out
    assert gone in (tenant / "drift.html").read_text() or "drift.html" in out
    item = next(i for i in state.drift_items(db) if i["kind"] == "missing_member")
    code, out = run(["drift", "revert", item["id"]], capsys)
    assert code != 0 and "--reason" in out  # a reason is required
    code, out = run(["drift", "revert", item["id"], "--reason", "left by mistake"], capsys)
    assert code == 0 and "reverted" in out
    chat = client.get("/cgi-bin/appchat/get", params={"access_token": token, "chatid": chat_id}).json()["chat_info"]
    assert gone in chat["userlist"]
    code, out = run(["drift"], capsys)
    assert code == 0
    assert [e["action"] for e in state.audit_entries(db) if "drift" in e["action"]][-1] == "revert drift"


@pytest.mark.parametrize("argv, message", [
    (["drift", "adopt", "D0000000", "--reason", "x"], "no drift item 'D0000000'"),
    (["drift", "--format", "pdf"], "--format 'pdf': use one of text, html, md, json"),
])
def test_bad_drift_input_is_one_line_and_exit_1(tenant, capsys, argv, message):  # noqa: F811
    code, out = run(argv, capsys)
    assert code == 1 and message in out
