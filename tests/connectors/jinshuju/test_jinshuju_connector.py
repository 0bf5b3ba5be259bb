"""JinshujuConnector end to end against the sandbox: paging with cursors, polling, reads, errors, quota."""

from __future__ import annotations

import pytest

from connectors import FORM_SERVICES, Connector, form_connector_class, form_sandbox_class
from connectors._errors import AuthError, NotFound, PermissionDenied
from connectors._http import NO_RETRY_WAIT, RetryPolicy
from connectors.jinshuju import JinshujuConnector, JinshujuSandbox


def fill(sandbox, form, n):
    for i in range(n):
        sandbox.submit(form, {"field_1": f"张{i + 1}", "field_5": "医生"})


def test_it_is_a_connector_and_registered_as_a_form_service():
    assert FORM_SERVICES["jinshuju"][0] == "connectors.jinshuju"
    assert form_connector_class("jinshuju") is JinshujuConnector
    assert form_sandbox_class("jinshuju") is JinshujuSandbox
    assert isinstance(JinshujuConnector(api_key="k", api_secret="s"), Connector)


def test_check_passes_and_fails_on_bad_credentials_or_plan(sandbox, connector, clock):
    connector.check()
    wrong = JinshujuConnector(api_key=sandbox.api_key, api_secret="nope", transport=sandbox.transport(),
                              retry=NO_RETRY_WAIT, clock=clock, sleep=clock.sleep)
    with pytest.raises(AuthError):
        wrong.check()
    sandbox.api_enabled = False
    with pytest.raises(AuthError, match="套餐"):
        connector.check()
    sandbox.api_enabled, sandbox.frozen = True, True
    with pytest.raises(PermissionDenied):
        connector.check()


def test_list_entries_yields_every_page_with_its_resume_cursor(sandbox, signup, connector):
    fill(sandbox, signup, 120)
    pages = list(connector.list_entries(signup))
    assert [(len(entries), cursor) for entries, cursor in pages] == [(50, "51"), (50, "101"), (20, "121")]
    serials = [int(e.serial) for entries, _ in pages for e in entries]
    assert serials == list(range(1, 121))
    assert sandbox.calls[f"GET /api/v1/forms/{signup}/entries"] == 3
    first = pages[0][0][0]
    assert first.service == "jinshuju" and first.form == signup
    assert first.answers == {"field_1": "张1", "field_5": "1lq3"} and first.submitted_at is not None


def test_resuming_from_a_saved_cursor_has_no_gap_and_no_repeat(sandbox, signup, connector):
    fill(sandbox, signup, 60)
    pages = connector.list_entries(signup)
    _, cursor = next(pages)  # a crash after committing the first page
    rest = [int(e.serial) for entries, _ in connector.list_entries(signup, after=cursor) for e in entries]
    assert rest == list(range(51, 61))


def test_polling_again_returns_only_new_entries(sandbox, signup, connector):
    fill(sandbox, signup, 3)
    *_, (_, cursor) = connector.list_entries(signup)
    assert cursor == "4"
    assert list(connector.list_entries(signup, after=cursor)) == [([], "4")]
    fill(sandbox, signup, 2)
    again = list(connector.list_entries(signup, after=cursor))
    assert [[e.serial for e in entries] for entries, _ in again] == [["4", "5"]] and again[-1][1] == "6"


def test_an_empty_form_lists_one_empty_page_and_no_cursor(signup, connector):
    assert list(connector.list_entries(signup)) == [([], None)]


def test_get_entry_and_get_form(sandbox, signup, connector):
    fill(sandbox, signup, 2)
    sandbox.submit(signup, {"field_1": "张二"}, serial=2)
    entry = connector.get_entry(signup, 2)
    assert (entry.serial, entry.form_name, entry.answers["field_1"]) == ("2", "志愿者报名表", "张二")
    assert entry.updated_at >= entry.submitted_at
    assert connector.get_entry(signup, "1").answers["field_1"] == "张1"
    assert connector.get_form(signup) == {
        "form": signup, "name": "志愿者报名表", "fields": {"field_1": "姓名", "field_2": "手机", "field_5": "职业"},
        "choices": {"field_5": {"1lq3": "医生", "J2RP": "护士"}}}


@pytest.mark.parametrize("call", [
    lambda c, f: c.get_entry(f, 99),
    lambda c, f: c.get_form("nope"),
    lambda c, f: list(c.list_entries("nope")),
])
def test_unknown_forms_and_entries_raise_not_found_after_one_call(sandbox, signup, connector, call):
    with pytest.raises(NotFound):
        call(connector, signup)
    assert sandbox.requests == 1


def test_a_server_side_429_is_waited_out_until_the_hour_resets(clock):
    sandbox = JinshujuSandbox(clock=clock, seed=7, hourly_quota=2)
    form = sandbox.add_form("F1", "f", {"field_1": "姓名"})
    sandbox.submit(form, {"field_1": "张三"})
    # the client believes in a bigger quota, so the service is the one to say no
    retry = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0, sleep=clock.sleep)
    connector = JinshujuConnector.from_sandbox(sandbox, hourly_quota=20_000, retry=retry, clock=clock,
                                               sleep=clock.sleep)
    connector.check()
    connector.get_form(form)
    assert connector.get_entry(form, 1).answers == {"field_1": "张三"}  # the third call of the hour
    assert clock.now == pytest.approx(1_700_002_800.0, abs=0.5)  # waited until 23:00:00Z
    assert max(clock.slept) > 2700.0
    assert sandbox.calls[f"GET /api/v1/forms/{form}/entries/1"] == 2


def test_the_client_limiter_keeps_a_small_plan_from_ever_meeting_429(clock):
    sandbox = JinshujuSandbox(clock=clock, seed=7, hourly_quota=100)
    form = sandbox.add_form("F1", "f", {"field_1": "姓名"})
    connector = JinshujuConnector.from_sandbox(sandbox, retry=NO_RETRY_WAIT, clock=clock, sleep=clock.sleep)
    for _ in range(101):
        connector.get_form(form)
    assert sandbox.requests == 101  # none refused, none repeated
    assert clock.now - 1_700_000_000.0 >= 3600.0
