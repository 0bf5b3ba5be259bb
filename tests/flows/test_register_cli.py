"""``muster register`` end to end on a synced demo coalition: HTML, XLSX and CSV, masking, --since, errors."""

import csv
import html
from datetime import datetime

import pytest
from openpyxl import load_workbook

import state
from flows.cli import main
from flows.register import CHANGE_COLUMNS, PEOPLE_COLUMNS, RESOURCE_COLUMNS
from flows.run import apply_all, pull_all
from flows.steps import plan_all
from mappings.hours import SHANGHAI
from mappings.normalize import local_mobile, mask_mobile


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


def pull(ws):
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    pull_all(ws, run_id)
    return run_id


@pytest.fixture
def synced(coalition, monkeypatch):
    """A 40-person demo coalition synced once and read again; the reader is someone not in the roster."""
    ws = coalition(40)
    run_id = state.start_run(ws.db, "test", actor=ws.actor)
    apply_all(ws, plan_all(ws, pull_all(ws, run_id), allow_removals=True), run_id, approved_by=ws.actor)
    ws.last_run = pull(ws)
    ws.config = ws.reports.parent / "muster.yaml"
    monkeypatch.setenv("MUSTER_ACTOR", "tester")
    return ws


def today():
    return datetime.now(SHANGHAI).date().isoformat()


def registered(ws):
    from flows.register import latest_observed, register_of

    return register_of(ws, latest_observed(ws), state.list_people(ws.db), datetime.now(SHANGHAI).date())


def with_privacy(ws, tiers="[三线]"):
    policy = ws.reports.parent / "policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8") + f"privacy:\n  see_contacts: {tiers}\n", encoding="utf-8")


def reader(ws, tier="三线", status="active"):
    return next(p for p in state.list_people(ws.db) if p.tier == tier and p.status == status and p.mobile)


def test_html_by_default_into_the_reports_folder_with_a_table_per_service_and_masked_contacts(synced, capsys):
    code, out = run(["register", "--config", str(synced.config)], capsys)
    path = synced.reports / f"register-{today()}.html"
    assert code == 0, out
    assert f"wrote {path}" in out
    reg = registered(synced)
    assert f"register: {len(reg.rows)} grant(s) (dingtalk " in out and "40 people" in out
    assert "contacts masked" in out
    page = path.read_text(encoding="utf-8")
    for name in ("dingtalk", "feishu", "wecom", "people"):
        assert f'<table data-table="{name}"' in page
    someone = reader(synced)
    assert f"<td>{mask_mobile(someone.mobile)}</td>" in page
    assert local_mobile(someone.mobile) not in page
    assert page.count("<tr><td>") == len(reg.rows) + sum(max(1, len(e.reach)) for e in reg.people)
    owner = next(r for r in reg.rows if r.service == "wecom" and r.kind == "chat" and r.owner)
    assert f"<td>{html.escape(owner.member)}</td><td>{owner.account}</td><td>owner</td><td>yes</td>" in page
    assert [e["action"] for e in state.audit_entries(synced.db)][-1] == "export register"


def test_xlsx_has_a_sheet_per_service_and_a_people_sheet(synced, capsys):
    out_file = synced.reports.parent / "out" / "reg.xlsx"
    code, out = run(["register", "--format", "xlsx", "--out", str(out_file), "--config", str(synced.config)], capsys)
    assert code == 0, out
    book = load_workbook(out_file, read_only=True)
    assert book.sheetnames == ["dingtalk", "feishu", "wecom", "people"]
    reg = registered(synced)
    wecom = [list(r) for r in book["wecom"].iter_rows(values_only=True)]
    assert wecom[0] == RESOURCE_COLUMNS
    assert len(wecom) == 1 + len(reg.for_service("wecom"))
    first = reg.for_service("wecom")[0]
    assert wecom[1][:3] == [first.kind, first.resource, first.resource_id] and wecom[1][-1] == first.why
    assert {row[-1] for row in wecom[1:]} >= {"unmanaged", "everyone"}
    people = [list(r) for r in book["people"].iter_rows(values_only=True)]
    assert people[0] == PEOPLE_COLUMNS
    assert {row[0] for row in people[1:]} == {p.id for p in state.list_people(synced.db)}


def test_csv_is_one_file_with_a_service_column_and_the_people_next_to_it(synced, capsys):
    code, out = run(["register", "--format", "csv", "--config", str(synced.config)], capsys)
    assert code == 0, out
    main_csv = synced.reports / f"register-{today()}.csv"
    people_csv = synced.reports / f"register-{today()}-people.csv"
    assert f"wrote {main_csv}" in out and f"wrote {people_csv}" in out
    assert main_csv.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel opens it as UTF-8
    rows = list(csv.reader(main_csv.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["service", *RESOURCE_COLUMNS]
    reg = registered(synced)
    assert [(r[0], r[3], r[7]) for r in rows[1:]] == [(x.service, x.resource_id, x.account) for x in reg.rows]
    people = list(csv.reader(people_csv.read_text(encoding="utf-8-sig").splitlines()))
    assert people[0] == PEOPLE_COLUMNS and len(people) > 40


def test_a_see_contacts_reader_reads_mobiles_in_full_others_masked(synced, capsys):
    with_privacy(synced)
    boss, frontline = reader(synced, "三线"), reader(synced, "一线")
    people_csv = synced.reports / f"register-{today()}-people.csv"

    def mobile_of(person):
        rows = list(csv.reader(people_csv.read_text(encoding="utf-8-sig").splitlines()))
        return next(r[5] for r in rows[1:] if r[0] == person.id)

    code, out = run(["register", "--format", "csv", "--as", boss.id, "--config", str(synced.config)], capsys)
    assert code == 0 and f"read by {boss.name} ({boss.id}): contacts in full" in out
    assert mobile_of(frontline) == local_mobile(frontline.mobile)
    code, out = run(["register", "--format", "csv", "--as", frontline.id, "--config", str(synced.config)], capsys)
    assert code == 0 and "contacts masked" in out
    assert mobile_of(frontline) == mask_mobile(frontline.mobile)
    entry = state.audit_entries(synced.db)[-1]
    assert entry["detail"]["contacts"] == "masked" and entry["detail"]["reader"] == frontline.id


def test_since_a_run_shows_what_changed_in_the_services_after_it(synced, capsys):
    sandbox = synced.sandboxes["dingtalk"]
    command_id = state.resource_ids(synced.db, "dingtalk")["command"]
    chat = sandbox.chats[command_id]
    outsider = next(u for u in sandbox.users if u not in chat["useridlist"])
    old_owner, new_owner = chat["owner"], next(u for u in chat["useridlist"] if u != chat["owner"])
    chat["useridlist"].append(outsider)
    chat["owner"] = new_owner
    pull(synced)
    out_file = synced.reports / "changes.xlsx"
    code, out = run(["register", "--since", synced.last_run, "--format", "xlsx", "--out", str(out_file),
                     "--config", str(synced.config)], capsys)
    assert code == 0, out
    assert f"since {synced.last_run}: 1 added, 0 removed, 2 level changed" in out
    book = load_workbook(out_file, read_only=True)
    assert book.sheetnames == ["changes", "dingtalk", "feishu", "wecom", "people"]
    changes = [list(r) for r in book["changes"].iter_rows(values_only=True)]
    assert changes[0] == CHANGE_COLUMNS
    got = {(r[0], r[5], r[6], r[7]) for r in changes[1:]}
    assert got == {("added", outsider, None, "member"), ("level changed", old_owner, "owner", "member"),
                   ("level changed", new_owner, "member", "owner")}
    added = next(r for r in changes[1:] if r[0] == "added")
    assert added[1:4] == ["dingtalk", "chat", "指挥部"]
    assert added[8].startswith("not granted by any rule")


def test_since_the_latest_run_shows_no_change(synced, capsys):
    code, out = run(["register", "--since", synced.last_run, "--config", str(synced.config)], capsys)
    assert code == 0 and "0 added, 0 removed, 0 level changed" in out
    page = (synced.reports / f"register-{today()}.html").read_text(encoding="utf-8")
    assert '<table data-table="changes"' in page


def test_an_unknown_run_is_one_line_listing_the_runs_kept(synced, capsys):
    code, out = run(["register", "--since", "R19990101T000000-dead", "--config", str(synced.config)], capsys)
    assert code == 1
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: --since 'R19990101T000000-dead': no snapshot of that run is kept")
    assert synced.last_run in lines[0]
    assert not list(synced.reports.glob("register-*"))


def test_an_unknown_format_is_one_line(synced, capsys):
    code, out = run(["register", "--format", "pdf", "--config", str(synced.config)], capsys)
    assert code == 1
    assert out.strip() == "error: --format 'pdf': use one of html, xlsx, csv"


def test_nothing_read_yet_says_to_pull_first(coalition, capsys, monkeypatch):
    ws = coalition(10)
    code, out = run(["register", "--config", str(ws.reports.parent / "muster.yaml")], capsys)
    assert code == 1
    assert out.strip() == "error: no service has been read yet: run `muster pull` or `muster sync` first"
