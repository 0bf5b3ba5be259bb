"""The Wenjuanxing sandbox: signed pushes shaped like the sample, push delivery, the control route."""

from __future__ import annotations

import json
import pickle

import httpx
import pytest
import respx

from connectors import FORM_SERVICES, Sandbox, form_connector_class, form_sandbox_class
from connectors.wenjuanxing import WenjuanxingSandbox, parse_push, verify

NOW = 1_700_000_000.0  # 2023-11-15 06:13:20 Beijing


@pytest.fixture
def sandbox() -> WenjuanxingSandbox:
    return WenjuanxingSandbox(seed=3, clock=lambda: NOW)


@pytest.fixture
def survey(sandbox) -> str:
    return sandbox.add_survey("5657754", "志愿者报名", {"q1": "姓名", "q2": "职业", "q3": "可服务时段"},
                              choices={"q2": ["医生", "护士", "社工"], "q3": ["上午", "下午", "晚上"]})


def test_it_is_a_servable_sandbox_registered_as_push_only():
    assert FORM_SERVICES["wenjuanxing"][1] is None
    assert form_sandbox_class("wenjuanxing") is WenjuanxingSandbox
    assert isinstance(WenjuanxingSandbox(), Sandbox)
    with pytest.raises(KeyError, match="push only"):
        form_connector_class("wenjuanxing")
    with pytest.raises(KeyError, match="known: jinshuju, wenjuanxing"):
        form_sandbox_class("shimo")


def test_submit_returns_a_signed_push_shaped_like_the_sample(sandbox, survey):
    payload = sandbox.submit(survey, {"q1": "张三", "q2": "护士", "q3": ["上午", "3"], "sojumpparm": "wx-group-2"})
    assert list(payload) == ["activity", "name", "timetaken", "submittime", "q1", "q2", "q3", "sojumpparm",
                             "joinid", "totalvalue", "sign"]
    assert all(isinstance(v, str) for v in payload.values())
    assert payload["q2"] == "2" and payload["q3"] == "1,3" and payload["submittime"] == "2023-11-15 06:13:20"
    assert len(payload["joinid"]) == 12 and payload["joinid"].isdigit()
    assert verify(payload, sandbox.credentials["push_secret"]) is True
    entry = parse_push(payload)
    assert entry.form == survey and entry.serial == payload["joinid"] and entry.form_name == "志愿者报名"
    assert sandbox.answers[survey][payload["joinid"]] == payload


def test_a_given_joinid_is_kept_and_the_index_variant_signs_the_index(sandbox, survey):
    assert sandbox.submit(survey, {"q1": "a"}, joinid="101812480275")["joinid"] == "101812480275"
    sandbox.SEQUENCE_FIELD = "index"
    payload = sandbox.submit(survey, {"q1": "b"})
    assert payload["index"] == "2" and verify(payload, sandbox.push_secret)
    assert verify({**payload, "index": "3"}, sandbox.push_secret) is False


def test_credentials_follow_from_the_seed():
    assert WenjuanxingSandbox(seed=1).credentials == WenjuanxingSandbox(seed=1).credentials
    assert WenjuanxingSandbox(seed=1).credentials != WenjuanxingSandbox(seed=2).credentials


@pytest.mark.parametrize(("call", "error"), [
    (lambda sb, s: sb.submit("nope", {}), KeyError),
    (lambda sb, s: sb.submit(s, {"q9": "x"}), ValueError),
    (lambda sb, s: sb.submit(s, {"q2": "厨师"}), ValueError),
    (lambda sb, s: sb.submit(s, {"q2": "4"}), ValueError),
    (lambda sb, s: sb.submit(s, {"q1": None}), ValueError),
    (lambda sb, s: sb.add_survey(s, "again", {}), ValueError),
    (lambda sb, s: sb.add_survey(None, "x", {"name": "姓名"}), ValueError),
])
def test_seeding_mistakes_are_refused(sandbox, survey, call, error):
    with pytest.raises(error):
        call(sandbox, survey)


def test_push_posts_plain_json_and_the_control_route_pushes(sandbox, survey):
    receiver = respx.MockRouter(assert_all_called=True, using=None)
    route = receiver.post("https://hub.example/push/wjx").respond(200)
    sandbox.push(sandbox.submit(survey, {"q1": "张三"}), "https://hub.example/push/wjx",
                 transport=httpx.MockTransport(receiver.handler))
    sandbox.push_transport = httpx.MockTransport(receiver.handler)
    with httpx.Client(transport=sandbox.transport(), base_url="http://wjx") as http:
        r = http.post(f"/_sandbox/surveys/{survey}/submit",
                      json={"answers": {"q1": "李四", "q2": "医生"}, "push_to": "https://hub.example/push/wjx"})
        assert r.status_code == 200 and r.headers["X-Sandbox-Push-Status"] == "200"
        assert http.post(f"/_sandbox/surveys/{survey}/submit", json={"answers": {}, "joinid": "77"}).json()[
            "joinid"] == "77"
        assert http.post("/_sandbox/surveys/nope/submit", json={"answers": {}}).status_code == 404
        assert http.post(f"/_sandbox/surveys/{survey}/submit", json={"answers": {"q2": "x"}}).status_code == 400
        assert http.post(f"/_sandbox/surveys/{survey}/submit", json={"answers": {}, "joinid": [1]}).status_code == 400
        assert http.get("/anything").status_code == 404
    assert route.call_count == 2
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert all(verify(b, sandbox.push_secret) for b in bodies)
    assert route.calls.last.request.headers["Content-Type"].startswith("application/json")
    assert parse_push(bodies[1]).answers == {"q1": "李四", "q2": "1"}


def test_state_survives_export_and_import(sandbox, survey):
    sandbox.submit(survey, {"q1": "张三"})
    copy = WenjuanxingSandbox(seed=3)
    copy.import_state(pickle.loads(pickle.dumps(sandbox.export_state())))
    assert copy.answers == sandbox.answers and copy.surveys == sandbox.surveys
