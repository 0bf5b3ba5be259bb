"""The sandboxes' user indexes (connectors._userindex): kept in step however ``users`` changes."""

from __future__ import annotations

import copy
import pickle

import httpx
import pytest

from connectors._userindex import IndexedUsers, TrackedUser
from connectors.dingtalk import DingTalkSandbox
from connectors.feishu import FeishuSandbox
from connectors.wecom import WeComSandbox

KEYS = {"mobile": lambda uid, u: u.get("mobile") or None, "email": lambda uid, u: (u.get("email") or "").lower()}


def test_index_follows_sets_deletes_and_in_place_changes():
    users = IndexedUsers(KEYS, {"a": {"mobile": "1", "email": "A@x.org"}})
    users["b"] = {"mobile": "2", "email": ""}
    assert users.lookup("mobile", "1") == ["a"] and users.lookup("email", "a@x.org") == ["a"]
    assert users.lookup("email", "") == []  # empty values are not indexed

    users["a"]["mobile"] = "3"  # in place, as tests do
    users["b"].update(email="b@x.org")
    assert users.lookup("mobile", "1") == [] and users.lookup("mobile", "3") == ["a"]
    assert users.first("email", "b@x.org") is users["b"]
    assert users.taken("mobile", "3") and not users.taken("mobile", "3", own="a")

    moved = users.pop("a")
    assert users.lookup("mobile", "3") == [] and isinstance(moved, TrackedUser)
    moved["mobile"] = "4"  # detached: no longer indexed anywhere
    assert users.lookup("mobile", "4") == []
    users["c"] = moved
    assert users.lookup("mobile", "4") == ["c"]
    del users["b"]
    users.setdefault("d", {"mobile": "4"})
    assert users.lookup("mobile", "4") == ["c", "d"] and users.lookup("email", "b@x.org") == []
    users.clear()
    assert users.lookup("mobile", "4") == [] and not users


def test_copies_are_plain_dicts_and_unhashable_values_are_left_out():
    users = IndexedUsers(KEYS, {"a": {"mobile": "1", "email": "a@x.org", "department": [1]}})
    users["b"] = {"mobile": ["odd"], "email": None}
    for clone in (copy.deepcopy(users), pickle.loads(pickle.dumps(users)), copy.copy(users)):
        assert type(clone) is dict and clone == users
    assert type(copy.deepcopy(users)["a"]) is dict and type(pickle.loads(pickle.dumps(users["a"]))) is dict
    assert users.lookup("mobile", ["odd"]) == [] and users.taken("mobile", "1")


# --- through each sandbox's HTTP API -----------------------------------------------------


def _wecom_create(sb: WeComSandbox, userid: str, **contact: str) -> int:
    http = httpx.Client(transport=sb.transport(), base_url="https://qyapi.weixin.qq.com")
    creds = sb.credentials
    token = http.get("/cgi-bin/gettoken", params={"corpid": creds["corpid"],
                                                  "corpsecret": creds["contacts_secret"]}).json()["access_token"]
    body = {"userid": userid, "name": userid.title(), "department": [1], **contact}
    return http.post("/cgi-bin/user/create", params={"access_token": token}, json=body).json()["errcode"]


def test_wecom_duplicate_checks_see_direct_changes_and_survive_export_import():
    sb = WeComSandbox(rate_limits=False)
    sb.add_user("amy", "Amy", mobile="13800000000")
    sb.users["amy"]["email"] = "Amy@example.org"  # changed behind the API's back
    assert _wecom_create(sb, "ben", email="amy@EXAMPLE.org") == 60106
    assert _wecom_create(sb, "ben", mobile="13800000000") == 60104
    assert _wecom_create(sb, "AMY", mobile="13900000000") == 60102  # userids ignore case

    copy_ = WeComSandbox(rate_limits=False)
    copy_.import_state(pickle.loads(pickle.dumps(sb.export_state())))  # flows.demo save/load
    assert _wecom_create(copy_, "ben", mobile="13800000000") == 60104
    assert copy_.find_user("AMY") is copy_.users["amy"]
    del copy_.users["amy"]
    assert _wecom_create(copy_, "ben", mobile="13800000000") == 0 and copy_.users["ben"]["mobile"] == "13800000000"


def _dingtalk(sb: DingTalkSandbox) -> tuple[httpx.Client, str]:
    http = httpx.Client(transport=sb.transport(), base_url="https://oapi.dingtalk.com")
    creds = sb.credentials
    token = http.get("/gettoken", params={"appkey": creds["appkey"], "appsecret": creds["appsecret"]})
    return http, token.json()["access_token"]


def test_dingtalk_mobile_check_follows_updates_deletes_and_import():
    sb = DingTalkSandbox(rate_limits=False)
    sb.add_user("a", "A", mobile="13800000000")
    sb.add_user("b", "B", mobile="13800000001")
    http, token = _dingtalk(sb)

    def call(path: str, body: dict) -> int:
        return http.post(path, params={"access_token": token}, json=body).json()["errcode"]

    assert call("/topapi/v2/user/update", {"userid": "b", "mobile": "13800000000"}) == 60104
    assert call("/topapi/v2/user/update", {"userid": "a", "mobile": "13800000002"}) == 0  # frees 13800000000
    assert call("/topapi/v2/user/create", {"name": "C", "mobile": "13800000000", "dept_id_list": "1"}) == 0
    sb.users["b"]["mobile"] = "13800000009"
    assert call("/topapi/v2/user/create", {"name": "D", "mobile": "13800000009", "dept_id_list": "1"}) == 60104
    assert call("/topapi/v2/user/delete", {"userid": "b"}) == 0
    assert call("/topapi/v2/user/create", {"name": "D", "mobile": "13800000009", "dept_id_list": "1"}) == 0

    other = DingTalkSandbox(rate_limits=False)
    other.import_state(sb.export_state())
    unionid = sb.users["a"]["unionid"]
    http, token = _dingtalk(other)
    found = http.get(f"/v1.0/contact/users/{unionid}", headers={"x-acs-dingtalk-access-token": token})
    assert found.json()["mobile"] == "13800000002"
    assert call("/topapi/v2/user/create", {"name": "E", "mobile": "13800000002", "dept_id_list": "1"}) == 60104


@pytest.fixture
def feishu() -> tuple[FeishuSandbox, httpx.Client]:
    sb = FeishuSandbox(rate_limits=False)
    sb.add_user("amy", "Amy", mobile="+8613800000000")
    http = httpx.Client(transport=sb.transport(), base_url="https://open.feishu.cn/open-apis")
    token = http.post("/auth/v3/tenant_access_token/internal", json=sb.credentials).json()["tenant_access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return sb, http


def test_feishu_contact_checks_and_id_lookups_use_the_indexes(feishu):
    sb, http = feishu
    new = {"name": "Ben", "employee_type": 1}
    taken = http.post("/contact/v3/users", params={"user_id_type": "user_id"}, json={**new, "mobile": "13800000000"})
    assert taken.json()["code"] == 41001  # the same number without +86
    sb.users["amy"]["email"] = "amy@example.org"
    taken = http.post("/contact/v3/users", json={**new, "email": "AMY@example.org"})
    assert taken.json()["code"] == 41002
    made = http.post("/contact/v3/users", json={**new, "user_id": "ben", "email": "ben@example.org"})
    open_id = made.json()["data"]["user"]["open_id"]
    assert sb.find_user(open_id, "open_id") is sb.users["ben"]
    assert http.get(f"/contact/v3/users/{sb.users['ben']['union_id']}", params={"user_id_type": "union_id"}
                    ).json()["data"]["user"]["name"] == "Ben"
    patched = http.patch("/contact/v3/users/ben", params={"user_id_type": "user_id"}, json={"email": "b@example.org"})
    assert patched.json()["code"] == 0
    again = http.post("/contact/v3/users", json={**new, "user_id": "cal", "email": "ben@example.org"})
    assert again.json()["code"] == 0  # ben's old email is free again
    assert http.delete(f"/contact/v3/users/{open_id}").json()["code"] == 0
    assert sb.find_user(open_id, "open_id") is None
