"""Form intake without pushes: polling Jinshuju page by page, importing exports all-or-nothing."""

import pytest

import state
from config.tenant import FormConnection, SecretRef
from connectors import form_sandbox_class
from connectors.jinshuju import JinshujuConnector
from flows.demo_policy import SIGNUP_FIELDS, SIGNUP_NAME, signup_codes
from flows.forms import import_file, poll, process_inbox
from flows.roster_io import RosterImportError


@pytest.fixture
def jinshuju(coalition):
    ws = coalition()
    sandbox = form_sandbox_class("jinshuju")(seed=2, rate_limits=False)
    fields, choices = signup_codes("jinshuju")
    token = sandbox.add_form(None, SIGNUP_NAME, {c: SIGNUP_FIELDS[t][0] for c, t in fields.items()}, choices=choices)
    ws.forms = {"signup": FormConnection(service="jinshuju", form=token, api_key=sandbox.credentials["api_key"],
                                         api_secret=SecretRef(env="UNUSED"))}
    return ws, sandbox, token


def signup(sandbox, token, n):
    return sandbox.submit(token, {"field_1": f"报名{n}", "field_2": f"1370000{n:04d}", "field_5": "社工",
                                  "field_7": "是", "field_8": "是"})


class Crashing(JinshujuConnector):
    """Dies after delivering ``pages`` pages, as a process killed mid-poll would."""

    pages = 2

    def list_entries(self, form, after=None):
        for i, page in enumerate(super().list_entries(form, after=after)):
            if i == self.pages:
                raise KeyboardInterrupt
            yield page


def test_poll_reads_every_page_once_and_resumes_after_a_crash(jinshuju):
    ws, sandbox, token = jinshuju
    for n in range(120):
        signup(sandbox, token, n)
    with pytest.raises(KeyboardInterrupt):
        poll(ws, "signup", connector=Crashing.from_sandbox(sandbox, rate_limit=False))
    assert len(state.inbox_items(ws.db)) == 100  # two committed pages, and the cursor after them
    got = poll(ws, "signup", connector=JinshujuConnector.from_sandbox(sandbox, rate_limit=False))
    assert (got.new, got.pages) == (20, 1)
    assert len(state.inbox_items(ws.db)) == 120
    assert poll(ws, "signup", connector=JinshujuConnector.from_sandbox(sandbox, rate_limit=False)).new == 0
    assert {i["entry"].form_name for i in state.inbox_items(ws.db)} == {SIGNUP_NAME}


def test_polled_signups_are_onboarded(jinshuju):
    ws, sandbox, token = jinshuju
    signup(sandbox, token, 1)
    poll(ws, "signup", connector=JinshujuConnector.from_sandbox(sandbox, rate_limit=False))
    [batch] = process_inbox(ws, state.start_run(ws.db, "onboard", actor="t"))
    assert [a.status for a in batch.admissions] == ["onboarding"]
    assert state.inbox_items(ws.db)[0]["status"] == "onboarded"


def test_an_export_is_imported_all_rows_or_none(coalition, tmp_path):
    ws = coalition()
    ws.forms = {}
    good = tmp_path / "export.csv"
    good.write_text("序号,field_1,field_2,field_5\n1,甲,13700000001,护士\n2,乙,13700000002,社工\n", encoding="utf-8")
    got = import_file(ws, good, "signup")
    assert (got.new, got.unchanged) == (2, 0)
    assert import_file(ws, good, "signup").unchanged == 2  # re-imported rows update, never duplicate
    bad = tmp_path / "bad.csv"
    bad.write_text("field_1,field_2\n丙,13700000003\n丁,137\n,13700000005\n", encoding="utf-8")
    with pytest.raises(RosterImportError) as info:
        import_file(ws, bad, "signup")
    assert "row 3: field_2 (mobile)" in str(info.value) and "row 4: field_1 (name)" in str(info.value)
    assert len(state.inbox_items(ws.db)) == 2
