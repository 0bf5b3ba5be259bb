"""The drift report's HTML page as an admin sees it: offline, searchable, sortable, mobiles masked."""

import pytest
from test_register_page import count, header, visible

import state
from flows import drift
from flows.run import apply_all, pull_all
from flows.settle import advance_baseline
from flows.steps import plan_all


@pytest.fixture
def report(coalition):
    ws = coalition(40)
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    advance_baseline(ws, run_id, result, apply_all(ws, result, run_id, approved_by=ws.actor))
    known = state.resource_ids(ws.db, "wecom")
    chat = next(ws.sandboxes["wecom"].chats[known[r.key]] for r in ws.policy.resources["wecom"]
                if r.kind == "chat" and r.key in known)
    ws.sandboxes["wecom"].add_user("byhand1", "手工加的人", mobile="13900000077")
    chat["userlist"].append("byhand1")
    found = drift.check_drift(ws)
    path = ws.reports / "drift.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(drift.html(found, coalition="测试联盟"), encoding="utf-8")
    return found, path


def test_the_drift_page_lists_every_item_offline_and_finds_one_by_search(report, page):
    found, path = report
    shown = page.open(path)
    total = len(found.items)
    assert page.blocked == [] and total > 1
    assert count(shown, "drift") == f"{total} of {total} rows"
    assert sorted(visible(shown, "drift", 0)) == sorted(i["id"] for i in found.items)
    shown.fill("#search", "BYHAND1")
    assert visible(shown, "drift", 4) == ["byhand1 (not in the roster)"]
    assert visible(shown, "drift", 2) == ["member nobody planned"]
    assert visible(shown, "drift", 6) == ["unknown"]  # WeCom does not say who added them
    assert count(shown, "drift") == f"1 of {total} rows"
    text = shown.inner_text("body")
    assert "13900000077" not in text  # an unmatched account's mobile shows masked
    strangers = [i for i in found.items if i["kind"] == "unmatched_account" and i["detail"].get("mobile")]
    if strangers:
        shown.fill("#search", strangers[0]["id"])
        assert "****" in visible(shown, "drift", 4)[0]


def test_sorting_the_drift_by_kind_both_ways(report, page):
    found, path = report
    shown = page.open(path)
    kind = header(shown, "drift", "drift")
    kind.click()
    up = visible(shown, "drift", 2)
    assert len(set(up)) > 1 and up == sorted(up) and kind.get_attribute("aria-sort") == "ascending"
    kind.click()
    assert visible(shown, "drift", 2) == list(reversed(up))
    assert kind.get_attribute("aria-sort") == "descending"
