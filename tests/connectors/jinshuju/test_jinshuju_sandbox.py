"""The Jinshuju sandbox on the wire: auth order, paging shape, quota, submit/update, push, control route."""

from __future__ import annotations

import json
import pickle

import httpx
import pytest
import respx

from connectors._sandbox import FaultPlan
from connectors.jinshuju import JinshujuSandbox, parse_push

FORMS = "/api/v1/forms"


def fill(sandbox, form, n):
    for i in range(n):
        sandbox.submit(form, {"field_1": f"张{i + 1}", "field_2": f"138{i:08d}"})


# --- auth and account switches -----------------------------------------------------------


@pytest.mark.parametrize("auth", [None, ("wrong", "creds"), "bad-header"])
def test_calls_without_the_right_basic_credentials_get_401(sandbox, signup, auth):
    headers = {"Authorization": "Basic !!notbase64"} if auth == "bad-header" else {}
    with httpx.Client(transport=sandbox.transport(), base_url="http://j",
                      auth=auth if isinstance(auth, tuple) else None) as client:
        r = client.get(f"{FORMS}/{signup}/entries", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized" and "error_description" in r.json()
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_a_plan_without_api_answers_402_and_a_frozen_account_403(sandbox, signup, http):
    sandbox.api_enabled = False
    r = http.get("/api/v1/me")
    assert (r.status_code, r.json()["error_description"]) == (402, "当前套餐不支持 V1 API")
    sandbox.api_enabled, sandbox.frozen = True, True
    assert http.get("/api/v1/me").status_code == 403
    sandbox.frozen = False
    assert http.get("/api/v1/me").status_code == 200


def test_unknown_forms_entries_and_paths_are_404(http, signup, sandbox):
    fill(sandbox, signup, 1)
    assert http.get(f"{FORMS}/nope/entries").status_code == 404
    assert http.get(f"{FORMS}/nope").status_code == 404
    assert http.get(f"{FORMS}/{signup}/entries/2").status_code == 404
    assert http.get(f"{FORMS}/{signup}/entries/abc").status_code == 404
    assert http.get("/api/v2/anything").json()["error"] == "not_found"


# --- reads -------------------------------------------------------------------------------


def test_entries_page_50_at_a_time_with_total_count_data_next(http, sandbox, signup):
    fill(sandbox, signup, 120)
    first = http.get(f"{FORMS}/{signup}/entries").json()
    assert set(first) == {"total", "count", "data", "next"}
    assert (first["total"], first["count"], first["next"]) == (120, 50, 51)
    assert [e["serial_number"] for e in first["data"]] == list(range(1, 51))
    second = http.get(f"{FORMS}/{signup}/entries", params={"next": 51}).json()
    assert (second["count"], second["next"], second["data"][0]["serial_number"]) == (50, 101, 51)
    last = http.get(f"{FORMS}/{signup}/entries", params={"next": 101}).json()
    assert (last["total"], last["count"], last["next"]) == (120, 20, None)


def test_an_empty_next_is_the_first_page_and_a_bad_one_is_400(http, sandbox, signup):
    fill(sandbox, signup, 2)
    assert http.get(f"{FORMS}/{signup}/entries?next=").json()["count"] == 2
    r = http.get(f"{FORMS}/{signup}/entries", params={"next": "x1"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_a_single_entry_comes_with_its_form(http, sandbox, signup):
    fill(sandbox, signup, 3)
    body = http.get(f"{FORMS}/{signup}/entries/2").json()
    assert body["form"] == signup and body["form_name"] == "志愿者报名表"
    assert body["entry"]["serial_number"] == 2 and body["entry"]["field_1"] == "张2"
    assert body["entry"]["created_at"].endswith("Z")


def test_the_form_definition_lists_fields_and_choice_codes(http, signup):
    body = http.get(f"{FORMS}/{signup}").json()
    assert body["name"] == "志愿者报名表"
    assert [list(f) for f in body["fields"]] == [["field_1"], ["field_2"], ["field_5"]]
    assert body["fields"][2]["field_5"]["choices"] == [{"name": "医生", "value": "1lq3"},
                                                       {"name": "护士", "value": "J2RP"}]
    assert body["fields"][0]["field_1"]["label"] == "姓名" and "choices" not in body["fields"][0]["field_1"]


# --- the hourly quota --------------------------------------------------------------------


def test_the_hourly_quota_answers_429_with_plan_remaining_and_reset(clock):
    sandbox = JinshujuSandbox(clock=clock, hourly_quota=100)
    creds = sandbox.credentials
    with httpx.Client(transport=sandbox.transport(), base_url="http://j",
                      auth=(creds["api_key"], creds["api_secret"])) as http:
        answers = [http.get("/api/v1/me") for _ in range(100)]
        assert answers[-1].headers["X-RateLimit-Remaining"] == "0"
        r = http.get("/api/v1/me")
        assert r.status_code == 429
        assert r.json() == {"error": "too_many_requests", "error_description": r.json()["error_description"],
                            "plan": "免费版", "limit": 100, "remaining": 0, "reset_at": "2023-11-14T23:00:00.000Z"}
        clock.now = 1_700_002_800.0  # the next clock hour
        assert http.get("/api/v1/me").status_code == 200


def test_unauthenticated_calls_spend_no_quota_and_switching_limits_off_lifts_it(clock):
    sandbox = JinshujuSandbox(clock=clock, hourly_quota=1, rate_limits=False)
    creds = sandbox.credentials
    with httpx.Client(transport=sandbox.transport(), base_url="http://j") as http:
        assert http.get("/api/v1/me").status_code == 401
        auth = (creds["api_key"], creds["api_secret"])
        assert [http.get("/api/v1/me", auth=auth).status_code for _ in range(3)] == [200, 200, 200]


def test_faults_answer_in_the_services_own_shape(clock, signup):
    sandbox = JinshujuSandbox(clock=clock, faults=FaultPlan(schedule={1: "5xx", 2: "ratelimit"}))
    creds = sandbox.credentials
    with httpx.Client(transport=sandbox.transport(), base_url="http://j",
                      auth=(creds["api_key"], creds["api_secret"])) as http:
        assert http.get("/api/v1/me").status_code == 500
        r = http.get("/api/v1/me")
        assert r.status_code == 429 and r.json()["reset_at"] == "2023-11-14T22:13:21.000Z"


# --- submit, update, push ----------------------------------------------------------------


def test_submit_numbers_entries_from_1_and_returns_the_push_payload(sandbox, signup):
    first = sandbox.submit(signup, {"field_1": "张三", "field_5": "医生"})
    second = sandbox.submit(signup, {"field_1": "李四", "field_5": ["J2RP", "医生"]})
    assert first["form"] == signup and first["form_name"] == "志愿者报名表"
    assert first["entry"]["serial_number"] == 1 and second["entry"]["serial_number"] == 2
    assert first["entry"]["field_5"] == "1lq3"  # a label is matched to its option code
    assert second["entry"]["field_5"] == ["J2RP", "1lq3"]
    assert set(first["entry"]) >= {"creator_name", "created_at", "updated_at", "info_remote_ip"}
    assert parse_push(first).answers == {"field_1": "张三", "field_5": "1lq3"}
    assert sandbox.entries[signup][1] == first["entry"]


def test_an_update_keeps_the_serial_and_created_at_and_moves_updated_at(sandbox, signup, clock):
    sandbox.submit(signup, {"field_1": "张三", "field_2": "13800000000"})
    clock.now += 60
    pushed = sandbox.submit(signup, {"field_1": "张三丰"}, serial=1)
    entry = pushed["entry"]
    assert entry["serial_number"] == 1 and entry["field_1"] == "张三丰" and entry["field_2"] == "13800000000"
    assert entry["created_at"] == "2023-11-14T22:13:20.000Z" and entry["updated_at"] == "2023-11-14T22:14:20.000Z"
    assert list(sandbox.entries[signup]) == [1]
    assert sandbox.submit(signup, {"field_1": "王五"})["entry"]["serial_number"] == 2


@pytest.mark.parametrize(("call", "error"), [
    (lambda sb, f: sb.submit("nope", {}), KeyError),
    (lambda sb, f: sb.submit(f, {"field_9": "x"}), ValueError),
    (lambda sb, f: sb.submit(f, {"field_5": "厨师"}), ValueError),
    (lambda sb, f: sb.submit(f, {"field_1": "x"}, serial=9), KeyError),
    (lambda sb, f: sb.add_form(f, "again", {}), ValueError),
    (lambda sb, f: sb.add_form(None, "x", {"field_1": "a"}, choices={"field_2": {}}), ValueError),
])
def test_seeding_mistakes_are_refused(sandbox, signup, call, error):
    with pytest.raises(error):
        call(sandbox, signup)


def test_push_posts_the_payload_as_plain_json(sandbox, signup):
    receiver = respx.MockRouter(assert_all_called=True, using=None)
    route = receiver.post("https://hub.example/push/jinshuju").respond(200, json={"ok": True})
    payload = sandbox.submit(signup, {"field_1": "张三"})
    answer = sandbox.push(payload, "https://hub.example/push/jinshuju",
                          transport=httpx.MockTransport(receiver.handler))
    assert answer.status_code == 200
    request = route.calls.last.request
    assert request.headers["Content-Type"].startswith("application/json")
    assert "Authorization" not in request.headers and "sign" not in request.content.decode()
    assert parse_push(httpx.Response(200, content=request.content).json()) == parse_push(payload)


def test_the_control_route_submits_updates_and_pushes(sandbox, signup):
    receiver = respx.MockRouter(assert_all_called=True, using=None)
    route = receiver.post("http://127.0.0.1:9000/hook").respond(204)
    sandbox.push_transport = httpx.MockTransport(receiver.handler)
    with httpx.Client(transport=sandbox.transport(), base_url="http://j") as http:  # no credentials needed
        made = http.post(f"/_sandbox/forms/{signup}/submit", json={"answers": {"field_1": "张三"}})
        assert made.status_code == 200 and made.json()["entry"]["serial_number"] == 1
        pushed = http.post(f"/_sandbox/forms/{signup}/submit",
                           json={"answers": {"field_1": "张三丰"}, "serial": 1, "push_to": "http://127.0.0.1:9000/hook"})
        assert pushed.json()["entry"]["field_1"] == "张三丰" and pushed.headers["X-Sandbox-Push-Status"] == "204"
        assert route.call_count == 1
        assert parse_push(json.loads(route.calls.last.request.content)) == parse_push(pushed.json())
        assert http.post("/_sandbox/forms/nope/submit", json={"answers": {}}).status_code == 404
        assert http.post(f"/_sandbox/forms/{signup}/submit", json={"answers": {"zz": 1}}).status_code == 400
        assert http.post(f"/_sandbox/forms/{signup}/submit", json={"answers": 1}).status_code == 400
        assert http.post(f"/_sandbox/forms/{signup}/submit", json={"answers": {}, "serial": "1"}).status_code == 400
    assert sandbox.requests == 0  # control routes draw no faults and spend no quota


def test_a_push_to_an_unreachable_receiver_is_a_502_but_the_entry_stays(sandbox, signup):
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    sandbox.push_transport = httpx.MockTransport(refuse)
    with httpx.Client(transport=sandbox.transport(), base_url="http://j") as http:
        r = http.post(f"/_sandbox/forms/{signup}/submit", json={"answers": {}, "push_to": "http://127.0.0.1:1/x"})
    assert r.status_code == 502 and r.json()["payload"]["entry"]["serial_number"] == 1
    assert 1 in sandbox.entries[signup]


def test_state_survives_export_and_import(sandbox, signup):
    fill(sandbox, signup, 3)
    copy = JinshujuSandbox(seed=7)
    copy.import_state(pickle.loads(pickle.dumps(sandbox.export_state())))
    assert copy.entries == sandbox.entries and copy.credentials == sandbox.credentials
    assert copy.submit(signup, {"field_1": "x"})["entry"]["serial_number"] == 4
