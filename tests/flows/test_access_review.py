"""Access reviews: owners confirm or remove who has access to what they own; removals go through the plan."""

import re
from collections import Counter
from datetime import datetime, timedelta

import pytest
from test_broadcast import synced
from test_cli import run

import flows.cli_review
import state
from config._yaml import ConfigError
from flows.access_review import (
    AccessReviewError,
    answer_review,
    close_review,
    coordinator_of,
    notice_text,
    remind_reviews,
    start_review,
)
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from mappings.policy import duration, parse_policy_text

HEAD = "【权限复核 R1】"


def notices(ws, marker=HEAD):
    """person id → how many notices containing ``marker`` reached them (any channel)."""
    owners = {(s, ext): i.person_id for s in ws.services for ext, i in state.identities_for(ws.db, s).items()}
    return Counter(owners[(s, uid)] for s, sb in ws.sandboxes.items() for uid, text in sb.messages if marker in text)


def texts(ws, marker):
    return [text for sb in ws.sandboxes.values() for _, text in sb.messages if marker in text]


def items(ws, review_id="R1", **kw):
    return state.access_review_items(ws.db, review_id, **kw)


def actions(ws, action):
    return [e for e in state.audit_entries(ws.db) if e["action"] == action]


def opened_at(ws, review_id="R1"):
    return datetime.fromisoformat(state.get_access_review(ws.db, review_id)["opened_at"])


def sync(ws):
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    apply_all(ws, result, run_id, approved_by=ws.actor)
    return result


@pytest.fixture
def ws(coalition):
    return synced(coalition)


def dingtalk_chat(ws, key):
    return ws.sandboxes["dingtalk"].chats[state.resource_ids(ws.db, "dingtalk")[key]]


def feishu_doc(ws, key):
    return ws.sandboxes["feishu"].docs[ws.policy.resource("feishu", key).external_id.split(":", 1)[1]]


# --- start ---------------------------------------------------------------------------------


def test_start_makes_one_item_per_member_reviewed_by_the_owner_and_one_notice_per_reviewer(ws):
    started = start_review(ws, "all", run_id="Rtest")
    rows = items(ws)
    coordinator = coordinator_of(ws).id
    expected, owners = set(), {}
    for service in ws.services:
        obs = state.latest_snapshot(ws.db, service)
        links = {e: i.person_id for e, i in state.identities_for(ws.db, service).items()}
        for g in obs.groups:
            if g.kind in ("chat", "tag", "doc", "folder"):
                owners[(service, g.external_id)] = links[g.owner] if g.owner else coordinator
                expected |= {(service, g.external_id, m.external_id) for m in obs.members.get(g.external_id, [])
                             if m.level != "owner" and m.external_id != g.owner}
    assert {(r["service"], r["resource_id"], r["account_id"]) for r in rows} == expected
    assert all(r["owner_id"] == owners[(r["service"], r["resource_id"])] for r in rows)
    assert {r["routed"] for r in rows if r["kind"] == "tag"} == {"no owner"}
    assert started.items == len(rows) and [r["item"] for r in rows] == list(range(1, len(rows) + 1))
    reviewers = Counter(r["owner_id"] for r in rows)
    assert started.reviewers == dict(reviewers) and len(reviewers) >= 3
    assert notices(ws) == Counter(dict.fromkeys(reviewers, 1))  # exactly one notice each
    assert all(n.service == "dingtalk" for n in started.notices)


def test_a_notice_lists_the_reviewers_items_with_masked_mobiles(ws):
    start_review(ws, "resource:dingtalk/medical-chat")
    rows = items(ws)
    (text,) = texts(ws, HEAD)
    people = {p.id: p for p in state.list_people(ws.db)}
    for r in rows:
        mobile = people[r["person_id"]].mobile[3:]
        assert f"#{r['item']} dingtalk 群聊「医疗组群」：{r['member_name']} {mobile[:3]}****{mobile[-4:]} 成员" in text
        assert mobile not in text
    assert "muster review answer R1" in text


def test_a_long_list_is_cut_to_fit_a_message_and_says_how_many_more():
    review = {"id": "R7", "deadline": "2026-11-28T12:00:00+00:00"}
    rows = [{"item": n, "service": "wecom", "kind": "chat", "resource_name": "全体志愿者", "member_name": f"志愿者{n}",
             "member_mobile": "138****5678", "level": "member", "routed": "owner"} for n in range(1, 301)]
    text = notice_text(review, rows, "start")
    assert len(text) <= 2000 and "2026-11-28 20:00" in text
    shown = text.count("138****5678")
    assert 10 < shown < 300 and f"……另有 {300 - shown} 项，见 muster review show R7" in text


def test_scopes_limit_the_items(ws):
    start_review(ws, "service:feishu")
    assert {r["service"] for r in items(ws)} == {"feishu"}
    start_review(ws, "resource:wecom/counsellors")
    assert {(r["kind"], r["resource_key"]) for r in items(ws, "R2")} == {("tag", "counsellors")}


@pytest.mark.parametrize("scope, message", [
    ("team:medical", "use all, service:<service> or resource:<service>/<key>"),
    ("service:slack", "no service 'slack' (connected: dingtalk, feishu, wecom)"),
    ("resource:dingtalk/nope", "the policy has no dingtalk resource 'nope'"),
    ("resource:dingtalk/medical", "departments are not reviewed"),
])
def test_a_bad_scope_is_one_clear_error_and_opens_nothing(ws, scope, message):
    with pytest.raises(AccessReviewError, match=re.escape(message)):
        start_review(ws, scope)
    assert state.access_reviews(ws.db) == []


def test_a_resource_whose_owner_left_goes_to_the_coordinator(ws):
    owner = dingtalk_chat(ws, "training-chat")["owner"]
    pid = state.identities_for(ws.db, "dingtalk")[owner].person_id
    state.set_status(ws.db, pid, "left")
    start_review(ws, "resource:dingtalk/training-chat")
    coordinator = coordinator_of(ws).id
    assert pid != coordinator
    assert {(r["owner_id"], r["routed"]) for r in items(ws)} == {(coordinator, "owner left")}
    assert notices(ws) == Counter({coordinator: 1})
    assert "（所有者已离开）" in texts(ws, HEAD)[0]


def test_start_is_audited_with_its_items(ws):
    start_review(ws, "service:feishu", run_id="Rtest")
    (entry,) = actions(ws, "review start")
    assert entry["target"] == "review:R1" and entry["run_id"] == "Rtest"
    assert entry["detail"]["scope"] == "service:feishu"
    assert [i["account_id"] for i in entry["detail"]["items"]] == [r["account_id"] for r in items(ws)]
    assert set(entry["detail"]["notices"].values()) == {"dingtalk"}


def test_the_coordinator_can_be_a_person_named_in_the_policy(ws):
    person = next(p for p in state.list_people(ws.db) if p.status == "active" and p.id != coordinator_of(ws).id)
    ws.policy = ws.policy.model_copy(update={"review": parse_policy_text(
        f"review: {{coordinator: {person.id}}}\n").review})
    start_review(ws, "resource:wecom/doctors")
    assert {(r["owner_id"], r["routed"]) for r in items(ws)} == {(person.id, "no owner")}
    ws.policy = ws.policy.model_copy(update={"review": parse_policy_text("review: {coordinator: nobody}\n").review})
    with pytest.raises(AccessReviewError, match="review.coordinator 'nobody' is neither an active person nor a role"):
        start_review(ws, "resource:wecom/doctors")


@pytest.mark.parametrize("text, line, field, words", [
    ("review:\n  deadline: 7 days\n", 2, "review.deadline", "'7 days' is not a duration"),
    ("review:\n  deadline: 2d\n  remind_after: 3d\n", 3, "review.remind_after", "must be shorter than the deadline"),
    ("review:\n  coordinator: a b\n", 2, "review.coordinator", "'a b': name one person id or role key"),
    ("review:\n  reviewers: x\n", 2, "review.reviewers", "unknown field"),
])
def test_the_review_section_is_validated_with_file_line_and_field(text, line, field, words):
    with pytest.raises(ConfigError) as info:
        parse_policy_text(text, "p.yaml")
    assert (info.value.line, info.value.field) == (line, field) and words in str(info.value)


def test_durations():
    assert (duration("7d"), duration("36h"), duration("90m")) == (timedelta(days=7), timedelta(hours=36),
                                                                 timedelta(minutes=90))
    with pytest.raises(ValueError, match="not a duration"):
        duration("0d")


# --- answers -------------------------------------------------------------------------------


def test_confirm_records_and_audits_and_a_second_answer_is_refused(ws):
    start_review(ws, "resource:dingtalk/medical-chat")
    row = items(ws)[0]
    done = answer_review(ws, "R1", [1], remove=False, reason="still a doctor", by=row["owner_id"])
    assert done.confirmed == [1]
    got = items(ws, items=[1])[0]
    assert (got["status"], got["answered_by"], got["reason"]) == ("confirmed", row["owner_id"], "still a doctor")
    (entry,) = actions(ws, "review confirm")
    assert (entry["service"], entry["target"], entry["object_id"]) == ("dingtalk", "chat:medical-chat",
                                                                       row["person_id"])
    with pytest.raises(AccessReviewError, match="item 1 of R1 is already confirmed"):
        answer_review(ws, "R1", [1], remove=True, reason="changed my mind")


def test_remove_of_a_roster_member_of_a_managed_chat_goes_out_and_stays_out(ws):
    start_review(ws, "resource:dingtalk/frontline")
    row = next(r for r in items(ws) if r["person_id"])
    assert row["account_id"] in dingtalk_chat(ws, "frontline")["useridlist"]
    done = answer_review(ws, "R1", [row["item"]], remove=True, reason="moved to the second line")
    assert done.removed == {row["item"]: "applied"} and not done.held
    assert row["account_id"] not in dingtalk_chat(ws, "frontline")["useridlist"]
    got = items(ws, items=[row["item"]])[0]
    assert (got["status"], got["outcome"], got["reason"]) == ("removed", "applied", "moved to the second line")
    (exc,) = [e for e in state.active_exceptions(ws.db) if e["source"] == f"review:R1/{row['item']}"]
    assert (exc["effect"], exc["resource"], exc["person_id"]) == ("deny", "frontline", row["person_id"])
    applied = [e for e in state.audit_entries(ws.db) if e["action"] == "remove chat"
               and e["object_id"] == row["person_id"]]
    assert len(applied) == 1 and "access review R1: moved to the second line" in applied[0]["reason"]
    assert actions(ws, "review remove")[0]["detail"]["outcome"] == "applied"
    result = sync(ws)  # the rules still grant it; the exception keeps them out
    assert not [c for c in result.plan.changes if c.object_id == row["person_id"] and c.target == "chat:frontline"]
    assert row["account_id"] not in dingtalk_chat(ws, "frontline")["useridlist"]


def test_remove_of_someone_not_in_the_roster_from_a_document(ws):
    start_review(ws, "resource:feishu/handbook")
    row = next(r for r in items(ws) if r["person_id"] is None)
    assert row["account_id"] in feishu_doc(ws, "handbook")["members"]
    done = answer_review(ws, "R1", [row["item"]], remove=True, reason="the outside adviser's work is done")
    assert done.removed == {row["item"]: "applied"}
    assert row["account_id"] not in feishu_doc(ws, "handbook")["members"]
    assert not state.active_exceptions(ws.db)  # nothing for the planner to remember: it never adds strangers
    sync(ws)
    assert row["account_id"] not in feishu_doc(ws, "handbook")["members"]


def test_a_removal_a_guard_holds_is_reported_not_applied_and_can_be_approved(ws):
    start_review(ws, "resource:feishu/cases")  # a folder shared with three: one removal is above the 10 % guard
    row = next(r for r in items(ws) if r["person_id"])
    before = dict(feishu_doc(ws, "cases")["members"])
    done = answer_review(ws, "R1", [row["item"]], remove=True, reason="case load moved")
    assert not done.removed and list(done.held) == [row["item"]] and "10%" in done.held[row["item"]]
    assert feishu_doc(ws, "cases")["members"] == before
    got = items(ws, items=[row["item"]])[0]
    assert got["status"] == "pending" and got["outcome"].startswith("held ") and "10%" in got["outcome"]
    done = answer_review(ws, "R1", [row["item"]], remove=True, reason="case load moved", allow_removals=True)
    assert done.removed == {row["item"]: "applied"}
    assert row["account_id"] not in feishu_doc(ws, "cases")["members"]


def test_confirming_a_held_removal_withdraws_its_exception(ws):
    start_review(ws, "resource:feishu/cases")
    row = next(r for r in items(ws) if r["person_id"])
    answer_review(ws, "R1", [row["item"]], remove=True, reason="case load moved")
    assert state.active_exceptions(ws.db)
    answer_review(ws, "R1", [row["item"]], remove=False, reason="kept after all")
    assert not state.active_exceptions(ws.db)


@pytest.mark.parametrize("args, message", [
    (("R9", [1]), "no access review 'R9'"),
    (("R1", [999]), "review R1 has no item 999"),
])
def test_unknown_review_or_item_is_an_error(ws, args, message):
    start_review(ws, "resource:dingtalk/medical-chat")
    with pytest.raises(AccessReviewError, match=message):
        answer_review(ws, *args, remove=False)


def test_remove_needs_a_reason_and_by_must_be_the_reviewer(ws):
    start_review(ws, "resource:dingtalk/medical-chat")
    with pytest.raises(AccessReviewError, match="--remove needs --reason"):
        answer_review(ws, "R1", [1], remove=True, reason="  ")
    other = next(p.id for p in state.list_people(ws.db) if p.id != items(ws)[0]["owner_id"])
    with pytest.raises(AccessReviewError, match=f"--by {other}: item 1 is reviewed by"):
        answer_review(ws, "R1", [1], remove=False, by=other)
    with pytest.raises(AccessReviewError, match="no such person"):
        answer_review(ws, "R1", [1], remove=False, by="P999999")
    assert {r["status"] for r in items(ws)} == {"pending"}


# --- reminders and escalation ----------------------------------------------------------------


def test_reminders_go_once_per_period_to_reviewers_with_pending_items(ws):
    start_review(ws, "service:dingtalk", deadline="7d", remind_after="2d")
    t0 = opened_at(ws)
    reviewers = {r["owner_id"] for r in items(ws)}
    assert remind_reviews(ws, None, now=t0 + timedelta(days=1))[0].reminders == []
    first = remind_reviews(ws, None, now=t0 + timedelta(days=2, minutes=1))[0]
    assert {(who, n) for who, n, _ in first.reminders} == {(r, 1) for r in reviewers}
    assert notices(ws, "第1次提醒") == Counter(dict.fromkeys(reviewers, 1))
    assert remind_reviews(ws, None, now=t0 + timedelta(days=3))[0].reminders == []  # same period: nothing
    done = next(r for r in sorted(reviewers) if r != coordinator_of(ws).id)
    answer_review(ws, "R1", [r["item"] for r in items(ws, owner_id=done)], remove=False)
    second = remind_reviews(ws, None, now=t0 + timedelta(days=4, minutes=1))[0]
    assert {who for who, n, _ in second.reminders} == reviewers - {done}
    assert notices(ws, "第2次提醒") == Counter(dict.fromkeys(reviewers - {done}, 1))
    assert {r["reminders"] for r in items(ws, status=["pending"])} == {2}
    assert len(actions(ws, "review remind")) == len(reviewers) * 2 - 1


def test_after_the_deadline_pending_items_escalate_to_the_coordinator_once(ws):
    start_review(ws, "service:dingtalk", deadline="3d", remind_after="1d")
    coordinator = coordinator_of(ws).id
    answered = items(ws)[0]
    answer_review(ws, "R1", [answered["item"]], remove=False)
    late = opened_at(ws) + timedelta(days=3, minutes=1)
    done = remind_reviews(ws, "Rlate", now=late)[0]
    pending = [r["item"] for r in items(ws) if r["item"] != answered["item"]]
    assert done.escalated == pending and not done.reminders
    assert {(r["status"], r["escalated_to"]) for r in items(ws, items=pending)} == {("escalated", coordinator)}
    assert done.escalation.service == "dingtalk"
    assert notices(ws, "【权限复核 R1 已升级】") == Counter({coordinator: 1})
    again = remind_reviews(ws, "Rlate", now=late + timedelta(days=1))[0]
    assert again.escalated == [] and again.escalation.already
    assert notices(ws, "【权限复核 R1 已升级】") == Counter({coordinator: 1})
    (entry,) = actions(ws, "review escalate")
    assert [i["item"] for i in entry["detail"]["items"]] == pending and entry["run_id"] == "Rlate"
    # the coordinator answers escalated items; the original reviewer no longer can by name
    reviewer = next(r["owner_id"] for r in items(ws, items=pending) if r["owner_id"] != coordinator)
    theirs = next(r["item"] for r in items(ws, items=pending) if r["owner_id"] == reviewer)
    answer_review(ws, "R1", [theirs], remove=False, by=coordinator)
    assert items(ws, items=[theirs])[0]["status"] == "confirmed"


def test_a_closed_review_takes_no_answers_and_is_audited(ws):
    start_review(ws, "resource:dingtalk/medical-chat")
    answer_review(ws, "R1", [1], remove=False)
    review = close_review(ws, "R1")
    assert review["status"] == "closed"
    (entry,) = actions(ws, "review close")
    assert entry["detail"]["counts"] == review["counts"]
    assert [i["item"] for i in entry["detail"]["open_items"]] == [r["item"] for r in items(ws, status=["pending"])]
    with pytest.raises(AccessReviewError, match="review R1 is closed"):
        answer_review(ws, "R1", [2], remove=False)
    with pytest.raises(AccessReviewError, match="already closed"):
        close_review(ws, "R1")
    assert remind_reviews(ws, None, now=opened_at(ws) + timedelta(days=30)) == []


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli(ws, monkeypatch):
    monkeypatch.setattr(flows.cli_review, "_workspace", lambda config: ws)
    return ws


def test_cli_start_show_answer_close(cli, capsys):
    code, out = run(["review", "start", "--scope", "resource:dingtalk/medical-chat"], capsys)
    assert code == 0 and "access review R1 opened" in out and "notified on dingtalk" in out
    code, out = run(["review", "show", "R1"], capsys)
    rows = items(cli)
    assert code == 0 and f"reviewer {rows[0]['owner_id']}:" in out and out.count(" pending ") == len(rows)
    code, out = run(["review", "answer", "R1", "1-2", "--confirm"], capsys)
    assert code == 0 and "R1: confirmed item(s) 1, 2" in out
    code, out = run(["review", "show"], capsys)
    assert code == 0 and "R1  open" in out and "2 confirmed" in out
    code, out = run(["review"], capsys)  # still lists the accounts to link by hand, then the open reviews
    assert code == 0 and "access review R1" in out
    code, out = run(["review", "remind", "R1"], capsys)
    assert code == 0 and "R1: nothing due" in out
    code, out = run(["review", "close", "R1"], capsys)
    assert code == 0 and "access review R1 closed" in out


@pytest.mark.parametrize("argv, message", [
    (["review", "answer", "R9", "1", "--confirm"], "error: no access review 'R9'"),
    (["review", "answer", "R1", "99", "--confirm"], "error: review R1 has no item 99"),
    (["review", "answer", "R1", "1", "--remove"], "error: --remove needs --reason"),
    (["review", "answer", "R1", "x1", "--confirm"], "error: item 'x1' is not an item number"),
    (["review", "answer", "R1", "1"], "error: say --confirm or --remove"),
    (["review", "show", "R9"], "error: no access review 'R9'"),
    (["review", "start", "--scope", "service:slack"], "error: --scope 'service:slack': no service 'slack'"),
    (["review", "start", "--deadline", "1d", "--remind-after", "2d"], "error: --remind-after 2d must be shorter"),
    (["review", "start", "--deadline", "soon"], "error: 'soon' is not a duration"),
])
def test_cli_bad_input_exits_1_with_one_line(cli, capsys, argv, message):
    run(["review", "start", "--scope", "resource:dingtalk/medical-chat"], capsys)
    code, out = run(argv, capsys)
    assert code == 1 and message in out and len(out.strip().splitlines()) == 1


def test_cli_answering_twice_exits_1(cli, capsys):
    run(["review", "start", "--scope", "resource:dingtalk/medical-chat"], capsys)
    assert run(["review", "answer", "R1", "1", "--confirm"], capsys)[0] == 0
    code, out = run(["review", "answer", "R1", "1", "--confirm"], capsys)
    assert code == 1 and "error: item 1 of R1 is already confirmed" in out


def test_cli_a_held_removal_exits_2_and_says_how_to_approve(cli, capsys):
    run(["review", "start", "--scope", "resource:feishu/cases"], capsys)
    item = next(r["item"] for r in items(cli) if r["person_id"])
    code, out = run(["review", "answer", "R1", str(item), "--remove", "--reason", "case load moved"], capsys)
    assert code == 2 and f"item {item} NOT removed, held 1 removal(s)" in out and "--allow-removals" in out
