"""Personal data in every report, by the reader's tier: masked (``138****5678``) unless privacy.see_contacts.

Reports covered here: the run report (Markdown and JSON, the sync flow's artifact text),
the drift report, ``muster roster list`` and ``roster show``. The permission register is
covered per tier in tests/flows/test_register_cli.py, the hours export (id numbers) in
tests/flows/test_hours_cli.py, work-item and access-review notices (always masked: their
readers are group owners and reviewers) in tests/flows/test_work_items.py and test_access_review.py.
"""

from __future__ import annotations

import time

import pytest

import state
from flows.cli import main
from mappings.normalize import local_mobile, mask_email, mask_mobile
from mappings.policy import PrivacyPolicy
from mappings.privacy import Masker

PRIVILEGED = "三线"


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


def _sync(ws):
    from flows.run import apply_all, pull_all
    from flows.steps import plan_all
    from flows.sync import finish

    run_id = state.start_run(ws.db, "sync", actor=ws.actor)
    result = plan_all(ws, pull_all(ws, run_id), allow_removals=True)
    state.save_plan(ws.db, result.plan, run_id)
    outcomes = apply_all(ws, result, run_id, approved_by=ws.actor)
    return finish(ws, run_id, "sync", result, outcomes, time.monotonic())


def reader(ws, tier, status="active"):
    return next(p for p in state.list_people(ws.db) if p.tier == tier and p.status == status and p.mobile and p.email)


@pytest.fixture
def synced(coalition, monkeypatch):
    """A synced 40-person coalition whose policy lets tier 三线 read contacts in full."""
    ws = coalition(40)
    policy = ws.reports.parent / "policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8") + f"privacy:\n  see_contacts: [{PRIVILEGED}]\n",
                      encoding="utf-8")
    ws.policy = ws.policy.model_copy(update={"privacy": PrivacyPolicy(see_contacts=[PRIVILEGED])})
    ws.config = ws.reports.parent / "muster.yaml"
    ws.summary = _sync(ws)
    monkeypatch.delenv("MUSTER_ACTOR", raising=False)
    return ws


def test_the_run_report_and_its_artifact_text_carry_no_contacts(synced):
    md = synced.reports / f"{synced.summary['run_id']}.md"
    texts = md.read_text(encoding="utf-8") + (synced.reports / f"{synced.summary['run_id']}.json").read_text(
        encoding="utf-8")
    assert synced.summary["changes"] > 0 and "# Muster run" in texts
    for p in state.list_people(synced.db):
        for value in filter(None, (p.mobile, local_mobile(p.mobile), p.email)):
            assert value not in texts, f"{p.id}'s contact in the run report"


def test_drift_masks_an_unmatched_accounts_mobile_unless_the_reader_may_see_it(synced):
    from flows.drift import check_drift, markdown

    report = check_drift(synced)
    item = next(i for i in report.items if i["kind"] == "unmatched_account" and i["detail"].get("mobile"))
    mobile = item["detail"]["mobile"]
    boss, frontline = reader(synced, PRIVILEGED), reader(synced, "一线")
    masked = markdown(report, Masker(synced.policy, frontline))
    assert mask_mobile(mobile) in masked and local_mobile(mobile) not in masked
    assert local_mobile(mobile) in markdown(report, Masker(synced.policy, boss))
    assert local_mobile(mobile) not in markdown(report, Masker(synced.policy, None))


def test_roster_show_masks_mobile_and_email_by_the_readers_tier(synced, capsys):
    boss, frontline = reader(synced, PRIVILEGED), reader(synced, "一线")
    cfg = str(synced.config)
    code, out = run(["roster", "show", frontline.id, "--config", cfg, "--as", frontline.id], capsys)
    assert code == 0
    assert f"mobile {mask_mobile(frontline.mobile)}" in out and mask_email(frontline.email) in out
    assert local_mobile(frontline.mobile) not in out and frontline.email not in out
    code, out = run(["roster", "show", frontline.id, "--config", cfg, "--as", boss.id], capsys)
    assert code == 0 and f"mobile {local_mobile(frontline.mobile)}" in out and frontline.email in out


def test_roster_show_reads_the_reader_from_muster_actor(synced, capsys, monkeypatch):
    boss, frontline = reader(synced, PRIVILEGED), reader(synced, "一线")
    monkeypatch.setenv("MUSTER_ACTOR", boss.email)
    code, out = run(["roster", "show", frontline.id, "--config", str(synced.config)], capsys)
    assert code == 0 and f"mobile {local_mobile(frontline.mobile)}" in out
    monkeypatch.setenv("MUSTER_ACTOR", "someone-else")
    code, out = run(["roster", "show", frontline.id, "--config", str(synced.config)], capsys)
    assert code == 0 and f"mobile {mask_mobile(frontline.mobile)}" in out


def test_roster_list_masks_mobiles_unless_the_reader_may_see_them(synced, capsys, monkeypatch):
    import flows.cli

    monkeypatch.setattr(flows.cli.console, "width", 200)  # one table row per person, whatever the terminal
    boss, frontline = reader(synced, PRIVILEGED), reader(synced, "一线")
    people = [p for p in state.list_people(synced.db, status="active") if p.mobile]
    code, out = run(["roster", "list", "--status", "active", "--config", str(synced.config), "--as", frontline.id],
                    capsys)
    assert code == 0 and "contacts masked" in out
    assert all(mask_mobile(p.mobile) in out and local_mobile(p.mobile) not in out for p in people)
    code, out = run(["roster", "list", "--status", "active", "--config", str(synced.config), "--as", boss.id],
                    capsys)
    assert code == 0 and "contacts in full" in out
    assert all(local_mobile(p.mobile) in out for p in people)

