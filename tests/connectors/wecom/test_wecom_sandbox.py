import httpx
import pytest

from connectors._sandbox import FaultPlan
from connectors.wecom.client import api as api_path
from connectors.wecom.client import is_contact_write
from connectors.wecom.sandbox import WeComLimits, WeComSandbox


class Clock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


class Api:
    """Raw calls against a sandbox, answers as dicts; each call takes the token WeCom wants.

    ``token`` is the app's (fetched now); user and department writes use the contacts-sync
    token, fetched on the first of them. ``as_app``/``as_contacts`` force one.
    """

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.http = httpx.Client(transport=sandbox.transport(), base_url="http://wecom.sandbox")
        self.token = self.gettoken().json()["access_token"]
        self._contacts_token = None

    def gettoken(self, **override):
        creds = self.sandbox.credentials
        params = {"corpid": creds["corpid"], "corpsecret": creds["corpsecret"]} | override
        return self.http.get("/cgi-bin/gettoken", params=params)

    @property
    def contacts_token(self):
        if self._contacts_token is None:
            secret = self.sandbox.credentials["contacts_secret"]
            self._contacts_token = self.gettoken(corpsecret=secret).json()["access_token"]
        return self._contacts_token

    def token_for(self, name, as_app=False, as_contacts=False):
        if as_contacts or (is_contact_write(api_path(name)) and not as_app):
            return self.contacts_token
        return self.token

    def get(self, name, *, as_app=False, as_contacts=False, **params):
        token = self.token_for(name, as_app, as_contacts)
        return self.http.get(f"/cgi-bin/{name}", params={"access_token": token, **params}).json()

    def post(self, name, body, *, as_app=False, as_contacts=False):
        token = self.token_for(name, as_app, as_contacts)
        return self.http.post(f"/cgi-bin/{name}", params={"access_token": token}, json=body).json()

    def raw(self, method, name, token, **kw):
        return self.http.request(method, f"/cgi-bin/{name}", params={"access_token": token}, **kw)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sandbox(clock):
    s = WeComSandbox(clock=clock)
    s.add_department(2, "Counselling")
    s.add_department(3, "Night shift", parent_id=2)
    s.add_user("alice", "Alice", mobile="+86 13800000001", departments=[2], leader_of=[2])
    s.add_user("bob", "Bob", email="bob@example.org", departments=[3])
    s.add_user("carol", "Carol", mobile="13800000003")
    return s


@pytest.fixture
def api(sandbox):
    return Api(sandbox)


# --- envelope and tokens ------------------------------------------------------------------


def test_gettoken_envelope_and_same_token_while_valid(api, clock):
    first = api.gettoken().json()
    assert first["errcode"] == 0 and first["errmsg"] == "ok" and first["expires_in"] == 7200
    clock.now += 100
    again = api.gettoken().json()
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7100
    clock.now += 7100
    assert api.gettoken().json()["access_token"] != first["access_token"]


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"corpsecret": "wrong"}, 40001),
        ({"corpid": "ww0"}, 40013),
        ({"corpid": ""}, 41002),
        ({"corpsecret": ""}, 41004),
    ],
)
def test_gettoken_refusals(api, override, code):
    assert api.gettoken(**override).json()["errcode"] == code


def test_error_envelope_has_headers_hint_and_more_info(api):
    response = api.http.get("/cgi-bin/user/get", params={"access_token": api.token, "userid": "ghost"})
    body = response.json()
    assert response.status_code == 200 and body["errcode"] == 60111
    assert body["errmsg"].startswith("userid not found, hint: [")
    assert body["errmsg"].endswith("more info at https://open.work.weixin.qq.com/devtool/query?e=60111")
    assert response.headers["error-code"] == "60111" and response.headers["error-msg"] == body["errmsg"]
    assert response.headers["content-type"] == "application/json; charset=UTF-8"


def test_token_missing_invalid_and_expired_after_ttl(api, clock):
    assert api.http.get("/cgi-bin/tag/list").json()["errcode"] == 41001
    assert api.http.get("/cgi-bin/tag/list", params={"access_token": "nope"}).json()["errcode"] == 40014
    clock.now += 7199
    assert api.get("tag/list")["errcode"] == 0
    clock.now += 1
    assert api.get("tag/list")["errcode"] == 42001


def test_revoke_fault_expires_the_token_early(clock):
    sandbox = WeComSandbox(clock=clock, faults=FaultPlan(schedule={3: "revoke"}))
    api = Api(sandbox)  # request 1
    assert api.get("tag/list")["errcode"] == 0  # 2
    assert api.get("tag/list")["errcode"] == 42001  # 3: revoked before it was served
    assert api.gettoken().json()["access_token"] != api.token


# --- two secrets: the app's and the contacts-sync (通讯录同步) one ------------------------------


def test_each_secret_gets_its_own_token_kept_while_valid(api, sandbox, clock):
    creds = sandbox.credentials
    assert creds["contacts_secret"] and creds["contacts_secret"] != creds["corpsecret"]
    assert WeComSandbox(seed=0).credentials == WeComSandbox(seed=0).credentials  # follows the seed
    assert WeComSandbox(seed=1).credentials["contacts_secret"] != creds["contacts_secret"]
    contacts = api.gettoken(corpsecret=creds["contacts_secret"]).json()
    assert contacts["errcode"] == 0 and contacts["expires_in"] == 7200
    assert contacts["access_token"] != api.token
    clock.now += 100
    assert api.gettoken(corpsecret=creds["contacts_secret"]).json()["access_token"] == contacts["access_token"]
    assert api.gettoken().json()["access_token"] == api.token
    assert sandbox.token_kinds == {api.token: "app", contacts["access_token"]: "contacts"}


CONTACT_WRITES = [
    ("POST", "user/create", {"userid": "dan", "name": "Dan", "department": [2], "mobile": "13800000009"}),
    ("POST", "user/update", {"userid": "alice", "name": "Alice L"}),
    ("POST", "department/create", {"name": "Training", "parentid": 1}),
    ("GET", "user/delete", None),  # not served by the sandbox: refused before routing
    ("POST", "department/update", {"id": 2, "name": "X"}),
    ("GET", "department/delete", None),
]


@pytest.mark.parametrize(("method", "name", "body"), CONTACT_WRITES, ids=[w[1] for w in CONTACT_WRITES])
def test_contact_writes_with_the_app_token_are_forbidden(api, sandbox, method, name, body):
    before = (sandbox.export_state(), sandbox.write_calls)
    response = api.raw(method, name, api.token, json=body)
    answer = response.json()
    assert answer["errcode"] == 48002 and answer["errmsg"].startswith("api forbidden, hint: [")
    assert response.headers["error-code"] == "48002" and response.headers["error-msg"] == answer["errmsg"]
    assert sandbox.export_state() == before[0]


def test_contact_writes_with_the_contacts_token_succeed(api, sandbox):
    for method, name, body in CONTACT_WRITES[:3]:
        assert api.raw(method, name, api.contacts_token, json=body).json()["errcode"] == 0, name
    assert sandbox.users["dan"]["department"] == [2] and sandbox.users["alice"]["name"] == "Alice L"


@pytest.mark.parametrize(
    ("method", "name", "body"),
    [
        ("POST", "appchat/create", {"chatid": "night1", "owner": "alice", "userlist": ["alice", "bob"]}),
        ("GET", "appchat/get", None),
        ("POST", "appchat/update", {"chatid": "ours", "add_user_list": ["carol"]}),
        ("POST", "message/send", {"touser": "alice", "msgtype": "text", "agentid": 1000002,
                                  "text": {"content": "hi"}}),
    ],
    ids=["appchat-create", "appchat-get", "appchat-update", "message-send"],
)
def test_app_chats_and_messages_with_the_contacts_token_are_forbidden(api, sandbox, method, name, body):
    sandbox.add_chat("ours", "Ours", "alice", ["bob"])
    params = {"chatid": "ours"} if name == "appchat/get" else {}
    response = api.http.request(method, f"/cgi-bin/{name}", json=body,
                                params={"access_token": api.contacts_token, **params})
    assert response.json()["errcode"] == 48002 and response.headers["error-code"] == "48002"
    assert list(sandbox.chats) == ["ours"] and sandbox.chats["ours"]["userlist"] == ["alice", "bob"]
    assert sandbox.messages == []
    # the same call with the app token goes through
    ok = api.http.request(method, f"/cgi-bin/{name}", json=body, params={"access_token": api.token, **params})
    assert ok.json()["errcode"] == 0


def test_reads_and_tags_accept_either_token(api):
    for token in (api.token, api.contacts_token):
        for name, params in (("user/get", {"userid": "alice"}), ("user/list", {"department_id": 1}),
                             ("user/simplelist", {"department_id": 1}), ("department/list", {}),
                             ("department/simplelist", {}), ("department/get", {"id": 2}), ("tag/list", {})):
            answer = api.http.get(f"/cgi-bin/{name}", params={"access_token": token, **params}).json()
            assert answer["errcode"] == 0, (name, token == api.token)
        assert api.http.post("/cgi-bin/user/list_id", params={"access_token": token},
                             json={"limit": 10}).json()["errcode"] == 0


def test_old_single_secret_behaviour_can_be_modelled(clock):
    sandbox = WeComSandbox(clock=clock, contacts_secret_required=False)
    api = Api(sandbox)
    assert api.post("user/create", {"userid": "dan", "name": "Dan", "department": [1], "mobile": "1"},
                    as_app=True)["errcode"] == 0
    assert api.post("department/create", {"name": "Training", "parentid": 1}, as_app=True)["errcode"] == 0
    # the contacts-sync token still never acts as the app
    assert api.post("appchat/create", {"userlist": ["dan", "dan"]}, as_contacts=True)["errcode"] == 48002


def test_revoke_expires_both_tokens_and_each_is_refetched(clock):
    sandbox = WeComSandbox(clock=clock)
    api = Api(sandbox)
    app, contacts = api.token, api.contacts_token
    sandbox.revoke_tokens()
    assert api.get("tag/list")["errcode"] == 42001
    assert api.get("user/get", userid="x", as_contacts=True)["errcode"] == 42001
    assert api.gettoken().json()["access_token"] != app
    new = api.gettoken(corpsecret=sandbox.credentials["contacts_secret"]).json()["access_token"]
    assert new != contacts and sandbox.token_kinds[new] == "contacts"


def test_error_kinds(sandbox):
    request = httpx.Request("GET", "http://wecom.sandbox/cgi-bin/tag/list")
    assert sandbox.error(request, "5xx").json()["errcode"] == -1
    assert sandbox.error(request, "5xx", status=502).status_code == 502
    assert sandbox.error(request, "ratelimit", retry_after=1).json()["errcode"] == 45009
    assert sandbox.error(request, "tokenexpired").json()["errcode"] == 42001
    assert sandbox.error(request, "notfound-route").status_code == 404
    with pytest.raises(ValueError):
        sandbox.error(request, "weird")


def test_unknown_route_is_404(api):
    assert api.http.get("/cgi-bin/user/nothing", params={"access_token": api.token}).status_code == 404


def test_write_calls_count_writes_including_failures(api, sandbox):
    api.get("user/get", userid="alice")
    api.post("user/update", {"userid": "alice", "name": "Alice L"})
    api.post("user/update", {"userid": "ghost", "name": "x"})
    assert sandbox.write_calls == 2


# --- rate limits ----------------------------------------------------------------------------


def test_per_api_minute_window(clock):
    sandbox = WeComSandbox(clock=clock, limits=WeComLimits(per_minute=3))
    api = Api(sandbox)
    assert [api.get("tag/list")["errcode"] for _ in range(4)] == [0, 0, 0, 45009]
    assert api.get("department/list")["errcode"] == 0  # another API, another window
    clock.now += 60
    assert api.get("tag/list")["errcode"] == 0


def test_per_api_hour_window(clock):
    sandbox = WeComSandbox(clock=clock, limits=WeComLimits(per_minute=100, per_hour=5))
    api = Api(sandbox)
    codes = []
    for _ in range(6):
        codes.append(api.get("tag/list")["errcode"])
        clock.now += 61
    assert codes == [0] * 5 + [45009]


def test_documented_limit_is_10000_a_minute(clock):
    sandbox = WeComSandbox(clock=clock)
    token = Api(sandbox).token
    request = httpx.Request("GET", "http://wecom.sandbox/cgi-bin/tag/list", params={"access_token": token})
    codes = [sandbox(request).status_code for _ in range(10_000)]
    assert set(codes) == {200} and sandbox(request).json()["errcode"] == 45009


def test_messages_outside_the_basic_limit_and_limits_switch_off(clock):
    sandbox = WeComSandbox(clock=clock, limits=WeComLimits(per_minute=1))
    sandbox.add_user("alice", "Alice", mobile="13800000001")
    api = Api(sandbox)
    sent = [
        api.post(
            "message/send",
            {"touser": "alice", "msgtype": "text", "agentid": 1000002, "text": {"content": "hi"}},
        )["errcode"]
        for _ in range(3)
    ]
    assert sent == [0, 0, 0]
    off = Api(WeComSandbox(clock=clock, rate_limits=False, limits=WeComLimits(per_minute=1)))
    assert [off.get("tag/list")["errcode"] for _ in range(3)] == [0, 0, 0]


# --- users ----------------------------------------------------------------------------------


def test_user_create_rules(api, sandbox):
    base = {"name": "Dan", "department": [2], "mobile": "13800000009"}
    assert api.post("user/create", {"userid": "dan", **base}) == {"errcode": 0, "errmsg": "created"}
    assert sandbox.users["dan"]["status"] == 4  # not activated until they join
    assert api.post("user/create", {"userid": "DAN", **base, "mobile": "1"})["errcode"] == 60102
    assert api.post("user/create", {"userid": "eve", **base})["errcode"] == 60104
    assert (
        api.post(
            "user/create", {"userid": "eve", "name": "Eve", "department": [1], "email": "BOB@example.org"}
        )["errcode"]
        == 60106
    )
    assert api.post("user/create", {"userid": "eve", "name": "Eve", "department": [1]})["errcode"] == 60129
    assert (
        api.post("user/create", {"userid": "eve", "name": "Eve", "department": [99], "mobile": "1"})[
            "errcode"
        ]
        == 40066
    )
    assert api.post("user/create", {"userid": "-bad", **base})["errcode"] == 40003


def test_user_in_more_than_20_departments(clock):
    sandbox = WeComSandbox(clock=clock)
    for d in range(2, 23):
        sandbox.add_department(d, f"d{d}")
    api = Api(sandbox)
    body = {"userid": "x", "name": "X", "mobile": "1", "department": list(range(2, 23))}
    assert api.post("user/create", body)["errcode"] == 60110


def test_user_get_case_insensitive_and_status(api, sandbox):
    assert api.get("user/get", userid="ALICE")["userid"] == "alice"
    api.post("user/update", {"userid": "alice", "enable": 0})
    assert api.get("user/get", userid="alice")["status"] == 2
    api.post("user/update", {"userid": "alice", "enable": 1})
    assert api.get("user/get", userid="alice")["status"] == 1


def test_user_list_fetch_child(api):
    direct = api.get("user/list", department_id=2, fetch_child=0)["userlist"]
    nested = api.get("user/list", department_id=2, fetch_child=1)["userlist"]
    assert [u["userid"] for u in direct] == ["alice"]
    assert [u["userid"] for u in nested] == ["alice", "bob"]
    assert nested[0]["is_leader_in_dept"] == [1] and nested[0]["mobile"] == "+86 13800000001"
    assert api.get("user/list", department_id=77)["errcode"] == 60003


def test_list_id_pages_relations_until_empty_cursor(api, sandbox):
    sandbox.add_user("dave", "Dave", mobile="13800000004", departments=[2, 3])
    rows, cursor, pages = [], None, 0
    while True:
        page = api.post("user/list_id", {"limit": 2, **({"cursor": cursor} if cursor else {})})
        rows += page["dept_user"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert rows == [
        {"userid": "alice", "department": 2},
        {"userid": "bob", "department": 3},
        {"userid": "carol", "department": 1},
        {"userid": "dave", "department": 2},
        {"userid": "dave", "department": 3},
    ]


@pytest.mark.parametrize("body", [{"limit": 0}, {"limit": 10_001}, {"cursor": "!!garbage"}])
def test_list_id_rejects_bad_limit_and_cursor(api, body):
    assert api.post("user/list_id", body)["errcode"] == 40058


def test_legacy_contacts_restriction(api, sandbox):
    sandbox.legacy_contacts_blocked = True
    assert api.get("user/list", department_id=1)["errcode"] == 48002
    assert api.get("department/list")["errcode"] == 48002
    assert api.post("user/list_id", {})["errcode"] == 0


# --- departments ----------------------------------------------------------------------------


def test_department_list_simplelist_get_create(api):
    depts = api.get("department/list")["department"]
    assert [(d["id"], d["parentid"]) for d in depts] == [(1, 0), (2, 1), (3, 2)]
    assert depts[1]["department_leader"] == ["alice"]
    assert api.get("department/simplelist", id=2)["department_id"] == [
        {"id": 2, "parentid": 1, "order": 0},
        {"id": 3, "parentid": 2, "order": 0},
    ]
    assert api.post("department/create", {"name": "Training", "parentid": 1}) == {
        "errcode": 0,
        "errmsg": "created",
        "id": 4,
    }
    assert api.post("department/create", {"name": "Training", "parentid": 1})["errcode"] == 60008
    assert api.post("department/create", {"name": "X", "parentid": 1, "id": 2})["errcode"] == 60008
    assert api.post("department/create", {"name": "X", "parentid": 99})["errcode"] == 60004
    assert api.post("department/create", {"name": "a:b", "parentid": 1})["errcode"] == 60009
    assert api.get("department/get", id=99)["errcode"] == 60003


# --- tags -----------------------------------------------------------------------------------


def test_tag_partial_and_all_invalid(api, sandbox):
    tagid = api.post("tag/create", {"tagname": "Counsellors"})["tagid"]
    added = api.post("tag/addtagusers", {"tagid": tagid, "userlist": ["alice", "ghost", "zed"]})
    assert added["errcode"] == 0 and added["invalidlist"] == "ghost|zed"
    assert api.post("tag/addtagusers", {"tagid": tagid, "userlist": ["ghost"]})["errcode"] == 40070
    assert api.get("tag/get", tagid=tagid)["userlist"] == [{"userid": "alice", "name": "Alice"}]
    assert api.post("tag/create", {"tagname": "Counsellors"})["errcode"] == 40071
    removed = api.post("tag/deltagusers", {"tagid": tagid, "userlist": ["alice"]})
    assert removed == {"errcode": 0, "errmsg": "deleted"} and sandbox.tags[tagid]["userlist"] == []


def test_tag_of_another_app_and_batch_cap(clock):
    sandbox = WeComSandbox(clock=clock, limits=WeComLimits(tag_users_per_call=2))
    sandbox.add_user("a", "A", mobile="1")
    sandbox.add_tag(5, "theirs", ["a"], created_by_app=False)
    sandbox.add_tag(6, "ours")
    api = Api(sandbox)
    assert api.post("tag/addtagusers", {"tagid": 5, "userlist": ["a"]})["errcode"] == 81011
    assert api.post("tag/addtagusers", {"tagid": 6, "userlist": ["a", "b", "c"]})["errcode"] == 81014
    assert api.get("tag/get", tagid=99)["errcode"] == 40068


# --- app chats ------------------------------------------------------------------------------


def test_appchat_create_rules(api, sandbox):
    body = {"name": "Night team", "owner": "alice", "userlist": ["alice", "bob"]}
    assert api.post("appchat/create", {**body, "userlist": ["alice"]})["errcode"] == 86006
    assert api.post("appchat/create", {**body, "chatid": "x" * 33})["errcode"] == 86205
    assert api.post("appchat/create", {**body, "chatid": "bad_id"})["errcode"] == 86001
    assert api.post("appchat/create", {**body, "owner": "carol"})["errcode"] == 86207
    assert api.post("appchat/create", {**body, "userlist": ["alice", "ghost"]})["errcode"] == 86007
    assert api.post("appchat/create", {**body, "chatid": "night1"}) == {
        "errcode": 0,
        "errmsg": "ok",
        "chatid": "night1",
    }
    assert api.post("appchat/create", {**body, "chatid": "night1"})["errcode"] == 86215
    generated = api.post("appchat/create", {**body, "name": "n" * 60})
    assert sandbox.chats[generated["chatid"]]["name"] == "n" * 50
    info = api.get("appchat/get", chatid="night1")["chat_info"]
    assert info == {
        "chatid": "night1",
        "name": "Night team",
        "owner": "alice",
        "userlist": ["alice", "bob"],
        "chat_type": 0,
    }
    assert api.get("appchat/get", chatid="none")["errcode"] == 86003


def test_appchat_member_cap_daily_cap_and_visibility(clock):
    sandbox = WeComSandbox(clock=clock, limits=WeComLimits(chat_members=2, chats_per_day=1))
    for u in "abc":
        sandbox.add_user(u, u.upper(), mobile=f"1380000000{ord(u)}")
    api = Api(sandbox)
    assert api.post("appchat/create", {"userlist": ["a", "b", "c"]})["errcode"] == 86006
    assert api.post("appchat/create", {"userlist": ["a", "b"]})["errcode"] == 0
    assert api.post("appchat/create", {"userlist": ["a", "b"]})["errcode"] == 45009
    clock.now += 86_400
    api.token = api.gettoken().json()["access_token"]
    assert api.post("appchat/create", {"userlist": ["a", "b"]})["errcode"] == 0
    sandbox.app_visible_root = False
    assert api.post("appchat/create", {"userlist": ["a", "b"]})["errcode"] == 60011


def test_appchat_update_rules(api, sandbox):
    sandbox.add_chat("ours", "Ours", "alice", ["bob"])
    sandbox.add_chat("theirs", "Theirs", "alice", ["bob"], created_by_app=False)
    assert api.post("appchat/update", {"chatid": "theirs", "name": "x"})["errcode"] == 86008
    assert api.post("appchat/update", {"chatid": "ours", "del_user_list": ["carol"]})["errcode"] == 86216
    assert api.post("appchat/update", {"chatid": "ours", "add_user_list": ["ghost"]})["errcode"] == 86216
    assert api.post("appchat/update", {"chatid": "ours", "owner": "carol"})["errcode"] == 86207
    assert api.post("appchat/update", {"chatid": "ours", "del_user_list": ["alice"]})["errcode"] == 86207
    assert (
        api.post(
            "appchat/update",
            {
                "chatid": "ours",
                "add_user_list": ["bob", "carol"],
                "owner": "carol",
                "del_user_list": ["alice"],
            },
        )["errcode"]
        == 0
    )
    assert sandbox.chats["ours"]["owner"] == "carol" and sandbox.chats["ours"]["userlist"] == ["bob", "carol"]
    assert api.post("appchat/update", {"chatid": "nope"})["errcode"] == 86003


# --- app messages ---------------------------------------------------------------------------


def send(api, touser, text="hello", **extra):
    return api.post(
        "message/send",
        {"touser": touser, "msgtype": "text", "agentid": 1000002, "text": {"content": text}, **extra},
    )


def test_message_partial_all_invalid_and_disabled(api, sandbox):
    answer = send(api, "alice|ghost|zed")
    assert answer["errcode"] == 0 and answer["invaliduser"] == "ghost|zed" and answer["msgid"]
    assert sandbox.messages == [("alice", "hello")]
    sandbox.users["bob"]["enable"] = 0
    assert send(api, "ghost|bob")["errcode"] == 82001
    assert send(api, "alice", agentid=5)["errcode"] == 40056
    assert (
        api.post(
            "message/send",
            {"touser": "alice", "msgtype": "text", "agentid": 1000002, "text": {"content": ""}},
        )["errcode"]
        == 44004
    )


def test_message_to_party_and_tag(api, sandbox):
    sandbox.add_tag(7, "t", ["carol"])
    answer = send(api, "", toparty="3|99", totag="7")
    assert answer["invalidparty"] == "99"
    assert sorted(sandbox.messages) == [("bob", "hello"), ("carol", "hello")]


def test_more_than_30_a_minute_to_one_member_are_dropped_silently(api, sandbox, clock):
    answers = [send(api, "alice", f"m{i}")["errcode"] for i in range(32)]
    assert set(answers) == {0}
    assert len(sandbox.messages) == 30 and sandbox.messages[-1] == ("alice", "m29")
    clock.now += 60
    send(api, "alice", "later")
    assert sandbox.messages[-1] == ("alice", "later")


def test_more_than_1000_recipients_refused(clock):
    sandbox = WeComSandbox(clock=clock, limits=WeComLimits(message_recipients=2))
    api = Api(sandbox)
    assert send(api, "a|b|c")["errcode"] == 40032


# --- persistence ----------------------------------------------------------------------------


def test_state_survives_export_and_import(sandbox, clock):
    sandbox.add_chat("night1", "Night", "alice", ["bob"])
    copy = WeComSandbox(clock=clock)
    copy.import_state(sandbox.export_state())
    assert copy.credentials == sandbox.credentials  # same seed, same credentials
    api = Api(copy)
    assert api.get("user/get", userid="ALICE")["userid"] == "alice"  # the case-insensitive index is rebuilt
    assert api.get("appchat/get", chatid="night1")["chat_info"]["owner"] == "alice"


def test_update_checks_only_the_fields_it_sends(api, sandbox):
    sandbox.add_user("twin", "Twin", mobile="13800000003")  # seeded clash with carol's mobile
    assert api.post("user/update", {"userid": "twin", "name": "Twin T"})["errcode"] == 0
    assert api.post("user/update", {"userid": "twin", "mobile": "13800000001"})["errcode"] == 0
    assert api.post("user/update", {"userid": "twin", "mobile": "+86 13800000001"})["errcode"] == 60104
    assert api.post("user/update", {"userid": "bob", "email": ""})["errcode"] == 60129
