"""``muster sandbox serve`` with the form sandboxes: info, control routes and pushes over real loopback HTTP."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from rich.console import Console

from connectors import jinshuju, wenjuanxing
from connectors._serve import serve
from flows.sandbox_serve import serve_sandboxes


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served-forms")
    stop, log = threading.Event(), folder / "serve.log"
    with open(log, "w") as out:
        thread = threading.Thread(target=serve_sandboxes, daemon=True, kwargs={
            "console": Console(file=out), "port": 0, "info": folder / "info.json", "people": 4, "seed": 5,
            "stop": stop})
        thread.start()
        for _ in range(250):
            if (folder / "info.json").exists() and (folder / "info.json").read_text().strip().endswith("}"):
                break
            threading.Event().wait(0.02)
        yield json.loads((folder / "info.json").read_text()), log
        stop.set()  # the daemon thread shuts its servers down in the background (0.5 s each)


@pytest.fixture(scope="module")
def receiver():
    """A push receiver on loopback that records what it gets."""
    got: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        got.append(request)
        return httpx.Response(200, json={"ok": True})

    server = serve(handle, 0)
    yield f"http://127.0.0.1:{server.server_address[1]}/push", got
    threading.Thread(target=lambda: (server.shutdown(), server.server_close()), daemon=True).start()


def test_info_and_output_describe_the_form_sandboxes(served):
    info, log = served
    assert {"wecom", "dingtalk", "jinshuju", "wenjuanxing"} <= set(info)
    assert set(info["wecom"]) >= {"base_url", "corpsecret", "chats", "people", "seed"}  # unchanged
    signup = info["jinshuju"]["forms"]["signup"]
    assert set(info["jinshuju"]) >= {"base_url", "api_key", "api_secret", "forms"}
    assert list(signup["fields"]) == ["name", "mobile", "email", "city", "profession", "availability",
                                      "consent.wecom", "consent.dingtalk"]
    assert list(signup["choices"][signup["fields"]["profession"]].values()) == ["医生", "护士", "心理咨询师", "社工",
                                                                                "其他"]
    survey = info["wenjuanxing"]["forms"]["signup"]
    assert survey["fields"]["consent.dingtalk"] == "q8" and survey["choices"]["q8"] == {"1": "是", "2": "否"}
    lines = log.read_text().split()
    for service in ("wecom", "dingtalk", "jinshuju", "wenjuanxing"):
        assert info[service]["base_url"] in lines[lines.index(service) + 1]


def test_a_served_jinshuju_submits_pushes_and_is_polled(served, receiver):
    info, _ = served
    url, got = receiver
    j = info["jinshuju"]
    form, fields = j["forms"]["signup"]["token"], j["forms"]["signup"]["fields"]
    answers = {fields["name"]: "张三", fields["mobile"]: "13800000000", fields["profession"]: "心理咨询师"}
    r = httpx.post(f"{j['base_url']}/_sandbox/forms/{form}/submit", json={"answers": answers, "push_to": url})
    assert r.status_code == 200 and r.headers["X-Sandbox-Push-Status"] == "200"
    pushed = jinshuju.parse_push(json.loads(got[-1].content))
    assert pushed.answers[fields["profession"]] == "f5o3"
    connector = jinshuju.JinshujuConnector(base_url=j["base_url"], api_key=j["api_key"], api_secret=j["api_secret"])
    try:
        (entries, cursor), = connector.list_entries(form)
    finally:
        connector.close()
    assert entries[-1] == pushed.model_copy(update={"form_name": ""})  # a listing row carries no form title
    assert int(cursor) == int(pushed.serial) + 1


def test_a_served_wenjuanxing_pushes_signed_answers(served, receiver):
    info, _ = served
    url, got = receiver
    w = info["wenjuanxing"]
    activity, fields = w["forms"]["signup"]["activity"], w["forms"]["signup"]["fields"]
    answers = {fields["name"]: "李四", fields["profession"]: "社工", fields["consent.wecom"]: "是"}
    r = httpx.post(f"{w['base_url']}/_sandbox/surveys/{activity}/submit", json={"answers": answers, "push_to": url})
    assert r.status_code == 200
    payload = json.loads(got[-1].content)
    assert wenjuanxing.verify(payload, w["push_secret"])
    entry = wenjuanxing.parse_push(payload)
    assert entry.form == activity and entry.answers == {"q1": "李四", "q5": "4", "q7": "1"}
