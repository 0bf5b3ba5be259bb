"""Chaos: seeded syncs of a 1,000-person coalition under faults, killed mid-apply and restarted.

CI runs a few seeds; ``bench/chaos_bench.py`` runs 50 and records the figures.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from chaoskit import (
    ChaosResult,
    Crash,
    Killer,
    _duplicates,
    chaos,
    coordinator_steps,
    deliver,
    one_run,
    signups,
    workspace,
)

import state
from flows.demo_run import build_demo
from flows.forms import process_inbox

SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_seeded_chaos_run_converges_with_no_duplicate_and_nothing_lost(tmp_path, seed):
    result = chaos(tmp_path / "c", seed, people=1000)
    assert result.problems() == []
    assert result.ok and result.converged_after is not None
    assert sum(result.faults.values()) > 0 and result.crashes >= 1  # it was chaos
    assert result.signups == 24 and result.deliveries > result.signups  # redeliveries among them


def test_the_checks_see_duplicates_in_the_sandboxes_records(tmp_path):
    sandboxes, _, _ = build_demo(tmp_path / "c", 30, 1)
    wecom = sandboxes["wecom"]
    uid = next(iter(wecom.users))
    wecom.created[uid] = 2
    wecom.joined[("chat1", uid)] = 2
    wecom.messages += [(uid, "欢迎"), (uid, "欢迎")]
    wecom.groups_created[("chat", "群")] = 2
    dingtalk = sandboxes["dingtalk"]
    dingtalk.messages.append(("dt1", "你好"))
    dingtalk.sent_messages[("dt1", "你好")] = 2  # sent twice, the second dropped by DingTalk
    out = ChaosResult(seed=1, people=30)
    _duplicates("wecom", wecom, out)
    assert out.duplicates == 4 and not out.ok
    _duplicates("dingtalk", dingtalk, out)
    assert out.duplicate_messages[-1] == "dingtalk message to dt1 sent 2 times: 你好"
    assert out.duplicate_accounts == [f"wecom account {uid} created 2 times"]


def test_an_item_claimed_by_a_process_that_died_is_onboarded_by_the_next(tmp_path):
    folder = tmp_path / "c"
    sandboxes, _, members = build_demo(folder, 60, 4)
    for sb in sandboxes.values():
        sb.rate_limits = False
    killer = Killer(sandboxes)
    [entry] = signups(4, 1, {m.mobile for m in members})
    first = workspace(folder, sandboxes)
    deliver(first, [entry])
    killer.arm("dingtalk", 1)  # dies right after DingTalk created the account
    with pytest.raises(Crash):
        process_inbox(first, state.start_run(first.db, "onboard", actor="t"))
    [item] = state.inbox_items(first.db)
    assert item["status"] == "onboarding"  # claimed, never finished
    first.db.close()
    killer.arm(None)
    second = workspace(folder, sandboxes)  # a new process on the same database
    [batch] = process_inbox(second, state.start_run(second.db, "onboard", actor="t"))
    [admission] = batch.admissions
    final = {"onboarding": "onboarded"}.get(admission.status, admission.status)
    assert state.get_item(second.db, item["id"])["status"] == final in ("onboarded", "review")
    assert len(state.find_people(second.db, mobile=state.get_person(second.db, admission.person_id).mobile)) == 1
    assert max(sandboxes["dingtalk"].created.values()) == 1 and max(sandboxes["wecom"].created.values()) == 1
    for sb in sandboxes.values():  # a welcome at most once (none where everything landed before the kill)
        assert all(n == 1 for n in sb.sent_messages.values())


def _timeout_on_first(sandbox, path):
    """The service acts on the first call to ``path``, and its answer never arrives."""
    original, seen = sandbox.dispatch, [0]

    def dispatch(request):
        response = original(request)
        if request.url.path == path:
            seen[0] += 1
            if seen[0] == 1:
                raise httpx.ReadTimeout("timed out", request=request)
        return response

    sandbox.dispatch = dispatch


def test_a_dingtalk_chat_create_that_timed_out_is_never_created_twice(tmp_path):
    folder = tmp_path / "c"
    sandboxes, _, _ = build_demo(folder, 200, 3)
    for sb in sandboxes.values():
        sb.rate_limits = False
    dingtalk = sandboxes["dingtalk"]
    _timeout_on_first(dingtalk, "/chat/create")
    ws = workspace(folder, sandboxes)
    first = one_run(ws)
    ws.db.close()
    [failure] = [f for f in first["services"]["dingtalk"]["applied"]["failures"] if "timed out" in f]
    ws = workspace(folder, sandboxes)
    second = one_run(ws)  # the chat exists, unknown to Muster: it must not make another
    ws.db.close()
    assert any("may have created" in f for f in second["services"]["dingtalk"]["applied"]["failures"])
    assert max(dingtalk.groups_created.values()) == 1
    steps = coordinator_steps(folder, sandboxes)  # the coordinator finds it and names it in the policy
    name = failure.split(":")[1].split()[1]  # "chat:medical-chat 医疗组群: …"
    assert steps == [f"dingtalk chat {name}: created, id set in the policy"]
    ws = workspace(folder, sandboxes)
    one_run(ws)
    ws.db.close()
    ws = workspace(folder, sandboxes)
    assert one_run(ws)["changes"] == 0
    ws.db.close()
    assert max(dingtalk.groups_created.values()) == 1
    assert Counter(c["name"] for c in dingtalk.chats.values()).most_common(1)[0][1] == 1
