"""The "page" fault: a listing that fails part-way leaves the pull incomplete, and nothing is removed."""

from __future__ import annotations

import httpx
import pytest

import state
from connectors import FaultPlan
from connectors._sandbox import FAULT_KINDS, Sandbox
from flows.run import apply_all, pull_all
from flows.steps import plan_all


def test_an_armed_page_fault_strikes_the_next_later_page_and_keeps_that_listing_failing():
    plan = FaultPlan(schedule={2: "page"})
    assert plan.draw(1, "/list") is None
    assert plan.draw(2, "/list") is None  # a first page: the fault waits for a later one
    assert plan.draw(3, "/other", later_page=False) is None
    assert plan.draw(4, "/list", later_page=True) == "page"
    assert plan.draw(5, "/list", later_page=True) == "page"  # the retry of the same page fails too
    assert plan.draw(6, "/other", later_page=True) is None  # another listing is not affected
    assert plan.draw(7, "/list") is None  # a new listing from its first page starts afresh
    assert plan.draw(8, "/list", later_page=True) is None
    assert plan.injected == {"page": 1}  # one fault, however often it was retried


def test_page_is_a_fault_kind_drawn_at_random_like_the_others():
    plan = FaultPlan(seed=1, rate=1.0, kinds=("page",))
    assert "page" in FAULT_KINDS
    assert plan.draw(1, "/list") is None and plan.draw(2, "/list", later_page=True) == "page"
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(kinds=("pages",))


@pytest.mark.parametrize(("query", "body", "later"), [
    ({}, None, False), ({"page_token": ""}, None, False), ({"cursor": "0"}, None, False),
    ({"page_token": "abc"}, None, True), ({"offset": "100"}, None, True),
    ({}, {"cursor": 0, "size": 100}, False), ({}, {"cursor": 100, "size": 100}, True),
    ({}, {"cursor": "b28x"}, True), ({}, {"cursor": ""}, False),
])
def test_a_later_page_is_told_by_any_paging_style(query, body, later):
    request = httpx.Request("POST" if body is not None else "GET", "https://x/list", params=query, json=body)
    assert Sandbox().later_page(request) is later


@pytest.mark.parametrize("service", ["dingtalk", "feishu"])
def test_a_listing_failing_mid_way_makes_the_pull_incomplete_and_plans_no_removal(coalition, service):
    ws = coalition(people=1000)
    sandbox = ws.sandboxes[service]
    users_before = {k: dict(v) for k, v in sandbox.users.items()}
    sandbox.faults = FaultPlan(schedule={1: "page"})
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    assert sandbox.faults.injected == {"page": 1}
    observed = result.observed[service]
    assert not observed.complete and observed.error
    assert result.plan.for_service(service) == []
    assert any(r.service == service and "could not be read" in r.reason for r in result.plan.refused)
    others = [c for c in result.plan.changes if c.service != service]
    assert others  # the other services were read and planned as usual
    apply_all(ws, result, run_id, approved_by=ws.actor)
    assert sandbox.users == users_before  # nobody removed, disabled or changed on a partial read
