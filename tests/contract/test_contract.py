"""The connector contract, checked over every connector/sandbox pair with exact call counts.

A new service added to ``connectors.SERVICES`` gets every test here once it has an
adapter in ``pairs.py``. Counts are what the sandbox received (``"METHOD /path"``,
token requests included) unless a test says otherwise; no test sleeps.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
from pairs import BASE_USERS, FRESH_MOBILE, MEMBER, MOBILES, NEWCOMER, OWNER, PAIRS, Pair, pair_for

import connectors
from connectors import (
    AlreadyExists,
    AppliesMembership,
    AuthError,
    Connector,
    ConnectorError,
    CreatesGroups,
    InvalidPayload,
    ListsGroups,
    ListsPeople,
    ManagesAccounts,
    NotFound,
    ReadsGroups,
    Runner,
    SendsMessages,
    TransientError,
)
from mappings.models import AccountSpec, GroupSpec, MembershipDelta

CHAT = GroupSpec(kind="chat", name="Intake", owner=OWNER, members=(MEMBER, NEWCOMER))


def test_every_registered_service_has_an_adapter():
    assert sorted(PAIRS) == sorted(connectors.SERVICES)


def test_a_service_without_an_adapter_fails_loudly(monkeypatch):
    monkeypatch.setitem(connectors.SERVICES, "lark", ("connectors.feishu", "FeishuConnector", "FeishuSandbox"))

    with pytest.raises(LookupError, match="'lark' .* no contract adapter"):
        pair_for("lark")


def test_check_fetches_a_token_and_makes_one_read(pair: Pair):
    env = pair.build()

    env.connector.check()

    assert env.sandbox.calls == Counter({pair.token_api: 1, pair.check_api: 1})


def test_check_with_a_wrong_secret_is_an_auth_error_sent_once(pair: Pair):
    env = pair.build()
    wrong = SimpleNamespace(credentials={**env.sandbox.credentials, pair.secret_field: "wrong"},
                            transport=env.sandbox.transport)
    connector = connectors.connector_class(pair.slug).from_sandbox(
        wrong, retry=env.retry, clock=env.time.client, sleep=env.time.limiter_sleep)

    with pytest.raises(AuthError) as info:
        connector.check()
    connector.close()

    assert "wrong" not in str(info.value)
    assert env.sandbox.calls == Counter({pair.token_api: 1})
    assert env.time.waits == []


# --- 1. listing ------------------------------------------------------------------------


def test_list_people_returns_every_account_once_across_pages(pair: Pair):
    env = pair.build(people=pair.people_to_page, paged=True)
    env.warm()
    mark = env.mark()

    accounts = list(env.connector.list_people())

    assert sorted(a.external_id for a in accounts) == sorted(env.sandbox.users)
    assert len(accounts) == pair.people_to_page + BASE_USERS
    assert {a.service for a in accounts} == {pair.slug}
    expected = pair.list_calls(pair.people_to_page)
    assert max(expected.values()) > 1, "the seed must make listing take several pages"
    assert env.since(mark) == expected


def test_list_groups_returns_every_department_once(pair: Pair):
    env = pair.build()

    groups = [g for g in env.connector.list_groups() if g.kind == "department"]

    assert sorted(g.external_id for g in groups) == sorted([pair.root_department, "2", "3"])


# --- 2. idempotent writes ----------------------------------------------------------------


def test_applying_the_same_delta_twice_sends_no_second_write(pair: Pair):
    env = pair.build()
    for group in pair.membership_groups(env.sandbox):
        delta = MembershipDelta(add=frozenset({NEWCOMER}), remove=frozenset({MEMBER}),
                                owner=NEWCOMER if group.kind == "chat" else None)
        first_mark = env.mark()
        first = env.connector.apply_membership(group, delta)
        assert first.calls == env.writes_since(first_mark) >= 1, group.kind

        members = {m.external_id: m.level for m in env.connector.list_members(group)}
        assert NEWCOMER in members and MEMBER not in members, group.kind
        if group.kind == "chat":
            assert members[NEWCOMER] == "owner"

        mark = env.mark()
        again = env.connector.apply_membership(group, delta)

        assert again.calls == 0, group.kind
        assert env.writes_since(mark) == 0, group.kind
        assert sum(env.since(mark).values()) == pair.reads_to_check(group), f"{group.kind}: reads, nothing else"


def test_creating_an_account_whose_id_exists_is_an_idempotent_success(pair: Pair):
    env = pair.build()
    env.warm()
    users = len(env.sandbox.users)
    mark = env.mark()

    result = env.connector.create_account(AccountSpec(external_id=MEMBER, name="Bob", mobile=MOBILES[MEMBER]))

    assert result.created_id == MEMBER
    assert env.since(mark) == Counter({pair.user_create_api: 1})
    assert len(env.sandbox.users) == users


# --- 3. unknown ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "api"),
    [
        (lambda c: c.get_group("chat", "nochat404"), "chat_get_api"),
        (lambda c: c.get_group("department", "4040"), "department_get_api"),
        (lambda c: c.update_account("ghost", {"name": "Ghost"}), "user_update_api"),
    ],
    ids=["chat", "department", "account"],
)
def test_an_unknown_id_raises_not_found_after_one_call(pair: Pair, call, api):
    env = pair.build()
    env.warm()
    mark = env.mark()

    with pytest.raises(NotFound) as info:
        call(env.connector)

    assert info.value.service == pair.slug
    assert env.since(mark) == Counter({getattr(pair, api): 1})
    assert env.time.waits == []


# --- 4. rate limits -------------------------------------------------------------------------


def test_a_rate_limit_answer_is_waited_out_and_retried_once(pair: Pair):
    env = pair.build()
    expected = pair.read(env.connector)
    env.fault("ratelimit")
    mark = env.mark()

    assert pair.read(env.connector) == expected

    assert env.time.waits == [pair.retry_after]
    assert env.sandbox.requests - mark.requests == 2
    assert env.since(mark) == Counter({pair.department_get_api: 2})
    assert env.sandbox.faults.injected == Counter({"ratelimit": 1})


def test_the_limiter_holds_the_next_call_after_a_rate_limit_answer(pair: Pair):
    # With retries off the answer is raised, and the limiter keeps the API closed for its wait.
    env = pair.build(attempts=1)
    env.warm()
    env.fault("ratelimit")
    with pytest.raises(connectors.RateLimited) as info:
        pair.read(env.connector)
    assert info.value.retry_after == pair.retry_after
    before = env.time.now

    pair.read(env.connector)

    assert env.time.now - before == pytest.approx(pair.retry_after)
    assert env.time.throttled[-1] == pytest.approx(pair.retry_after)


# --- 5. permanent errors ----------------------------------------------------------------------


def test_a_permanent_error_is_not_retried(pair: Pair):
    env = pair.build()
    env.warm()
    users = len(env.sandbox.users)
    mark = env.mark()

    with pytest.raises(AlreadyExists):  # another user already has this mobile
        env.connector.create_account(AccountSpec(external_id="dup", name="Dup", mobile=MOBILES[OWNER]))

    assert env.since(mark) == Counter({pair.user_create_api: 1})
    assert len(env.sandbox.users) == users
    assert env.time.waits == []


# --- 6. transient errors ------------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [2, 4])
def test_system_busy_is_retried_n_times_then_raised(pair: Pair, attempts: int):
    env = pair.build(attempts=attempts)
    env.warm()
    env.fault(*["5xx"] * attempts)  # the service's own "system busy" answer
    mark = env.mark()

    with pytest.raises(TransientError):
        pair.read(env.connector)

    assert env.since(mark) == Counter({pair.department_get_api: attempts})
    assert env.time.waits == [0.0] * (attempts - 1)


def test_a_gateway_502_is_retried_n_times_then_raised(pair: Pair):
    env = pair.build()
    env.warm()
    env.gateway.failures = env.retry.attempts
    mark = env.mark()

    with pytest.raises(TransientError) as info:
        pair.read(env.connector)

    assert info.value.code == 502
    assert env.gateway.calls == Counter({pair.department_get_api: env.retry.attempts})
    assert env.since(mark) == Counter()  # the service never saw them
    assert env.time.waits == [0.0] * (env.retry.attempts - 1)


@pytest.mark.parametrize("how", ["system-busy", "gateway-502"])
def test_a_transient_error_then_success_gives_the_result(pair: Pair, how: str):
    env = pair.build()
    expected = pair.read(env.connector)
    if how == "system-busy":
        env.fault("5xx")
    else:
        env.gateway.failures = 1
    mark = env.mark()

    assert pair.read(env.connector) == expected

    assert env.sent_since(mark) == Counter({pair.department_get_api: 2})
    assert env.since(mark) + env.gateway.calls == Counter({pair.department_get_api: 2})
    assert env.time.waits == [0.0]


# --- 7. tokens -----------------------------------------------------------------------------------


def test_a_revoked_token_is_refreshed_once(pair: Pair):
    env = pair.build()
    expected = pair.read(env.connector)
    env.fault("revoke")
    mark = env.mark()

    assert pair.read(env.connector) == expected

    assert env.fetches_since(mark) == 1
    assert env.since(mark) == Counter({pair.token_api: 1, pair.department_get_api: 2})
    assert env.sent_since(mark) == Counter({pair.department_get_api: 1})  # the resend is the auth flow's


def test_a_token_the_service_expired_is_refreshed_once(pair: Pair):
    env = pair.build()
    expected = pair.read(env.connector)
    env.time.skew = 7201.0  # the service's clock passes the 7200 s lifetime; the client's does not
    mark = env.mark()

    assert pair.read(env.connector) == expected

    assert env.fetches_since(mark) == 1
    assert env.since(mark) == Counter({pair.token_api: 1, pair.department_get_api: 2})


def test_a_token_near_its_expiry_is_renewed_before_the_call(pair: Pair):
    env = pair.build()
    pair.read(env.connector)
    env.time.now += 7201.0  # both clocks
    mark = env.mark()

    pair.read(env.connector)

    assert env.fetches_since(mark) == 1
    assert env.since(mark) == Counter({pair.token_api: 1, pair.department_get_api: 1})


# --- 8. dropped connections and lost answers ----------------------------------------------------


def test_a_drop_before_an_idempotent_write_is_retried(pair: Pair):
    env = pair.build()
    env.warm()
    env.fault("drop")
    mark = env.mark()

    env.connector.update_account(MEMBER, {"name": "Robert"})

    assert env.since(mark) == Counter({pair.user_update_api: 2})
    assert {a.external_id: a.name for a in env.connector.list_people()}[MEMBER] == "Robert"


def test_a_drop_before_a_non_idempotent_write_is_retried(pair: Pair):
    env = pair.build()
    env.warm()
    chats = len(env.sandbox.chats)
    env.fault("drop")
    mark = env.mark()

    result = env.connector.create_group(CHAT)

    assert result.created_id in env.sandbox.chats
    assert len(env.sandbox.chats) == chats + 1
    assert env.since(mark) == Counter({pair.chat_create_api: 2})


def test_a_timeout_after_an_idempotent_create_does_not_duplicate_it(pair: Pair):
    env = pair.build()
    env.warm()
    users = len(env.sandbox.users)
    env.fault("timeout")  # the service creates the user, the answer is lost
    mark = env.mark()

    result = env.connector.create_account(AccountSpec(external_id="dora", name="Dora", mobile=FRESH_MOBILE))

    assert result.created_id == "dora"
    assert len(env.sandbox.users) == users + 1
    assert env.since(mark) == Counter({pair.user_create_api: 2})  # the resend finds it: success


def test_a_timeout_after_a_non_idempotent_create_is_not_retried(pair: Pair):
    if pair.chat_create_idempotent:
        pytest.skip(f"{pair.slug} de-duplicates chat creates: the resend is safe (next test)")
    env = pair.build()
    env.warm()
    chats = len(env.sandbox.chats)
    env.fault("timeout")
    mark = env.mark()

    with pytest.raises(TransientError):
        env.connector.create_group(CHAT)

    assert len(env.sandbox.chats) == chats + 1  # made once, never twice
    assert env.since(mark) == Counter({pair.chat_create_api: 1})


def test_a_timeout_after_a_deduplicated_chat_create_is_retried_and_finds_the_chat(pair: Pair):
    if not pair.chat_create_idempotent:
        pytest.skip(f"{pair.slug} has no de-duplication key on chat creates (previous test)")
    env = pair.build()
    env.warm()
    chats = len(env.sandbox.chats)
    env.fault("timeout")  # the service creates the chat, the answer is lost
    mark = env.mark()

    result = env.connector.create_group(CHAT)

    assert result.created_id in env.sandbox.chats
    assert len(env.sandbox.chats) == chats + 1  # the resend answered the same chat
    assert env.since(mark) == Counter({pair.chat_create_api: 2})


# --- 9. capabilities -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol",
    [Connector, ListsPeople, ListsGroups, ReadsGroups, ManagesAccounts, CreatesGroups, AppliesMembership,
     SendsMessages],
    ids=lambda p: p.__name__,
)
def test_the_connector_has_every_capability(pair: Pair, protocol):
    env = pair.build()

    assert isinstance(env.connector, protocol)
    assert env.connector.name == pair.slug
    assert env.sandbox.requests == 0  # building a connector sends nothing


# --- 10. the runner ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "delta",
    [MembershipDelta(), MembershipDelta(add=frozenset({NEWCOMER}), remove=frozenset({f" {NEWCOMER}"})),
     MembershipDelta(remove=frozenset({OWNER}), owner=f"{OWNER} ")],
    ids=["empty", "add-and-remove", "owner-removed"],
)
def test_the_runner_refuses_an_invalid_delta_before_any_call(pair: Pair, delta):
    env = pair.build()
    group = pair.membership_groups(env.sandbox)[0]
    runner = Runner(env.connector)

    with pytest.raises(InvalidPayload) as info:
        runner.apply_membership(group, delta)

    assert info.value.service == pair.slug
    assert env.sandbox.requests == 0


def test_the_runner_refuses_blank_ids_before_any_call(pair: Pair):
    env = pair.build()
    group = pair.membership_groups(env.sandbox)[0]

    with pytest.raises(InvalidPayload):
        Runner(env.connector).apply_membership(group, MembershipDelta(add=frozenset({" "})))

    assert env.sandbox.requests == 0


def test_the_runner_turns_an_unexpected_exception_into_a_connector_error(pair: Pair, monkeypatch):
    env = pair.build()
    group = pair.membership_groups(env.sandbox)[0]
    runner = Runner(env.connector)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a connector bug")

    monkeypatch.setattr(env.client, "request", broken)
    for call in (runner.check, lambda: runner.get_group("chat", group.external_id),
                 lambda: runner.apply_membership(group, MembershipDelta(add=frozenset({NEWCOMER})))):
        with pytest.raises(ConnectorError) as info:
            call()
        assert type(info.value) is ConnectorError
        assert info.value.service == pair.slug
        assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert env.sandbox.requests == 0


def test_the_runner_lets_hub_errors_through_and_strips_ids(pair: Pair):
    env = pair.build()
    chat = pair.membership_groups(env.sandbox)[0]
    runner = Runner(env.connector)

    with pytest.raises(NotFound):
        runner.get_group("chat", "nochat404")
    result = runner.apply_membership(chat, MembershipDelta(add=frozenset({f" {NEWCOMER} "})))

    assert result.calls == 1
    assert NEWCOMER in {m.external_id for m in env.connector.list_members(chat)}
