"""Trainings on the in-process Tencent Meeting sandbox, the hours they earn, and the national export."""

import csv
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook

import state
from config.tenant import SecretRef, TencentMeetingConnection
from connectors import NO_RETRY_WAIT
from connectors.tencent_meeting import TencentMeetingSandbox
from flows.hours import (
    HoursError,
    collect,
    confirm,
    correct,
    schedule_training,
)
from flows.hours_export import export, mask_id_number
from flows.workspace import Workspace
from mappings.hours import SHANGHAI
from mappings.models import Identity, Person, RoleAssignment
from mappings.policy import parse_policy_text

POLICY = """\
version: 1
roles:
  volunteer: {name: 志愿者}
  counsellor: {name: 心理咨询师}
  coordinator: {name: 协调员}
teams:
  community: {name: 社区服务组}
  training: {name: 培训组}
"""
TODAY = date(2026, 11, 20)
M1_START = datetime(2026, 11, 25, 19, 0, tzinfo=SHANGHAI)
M2_START = datetime(2026, 12, 2, 7, 30, tzinfo=SHANGHAI)  # 1 December 23:30 UTC


def roles(*names, until=None):
    return tuple(RoleAssignment(role=n, end=until if n == "counsellor" else None) for n in names)


PEOPLE = [
    Person(id="P1", name="张三", team="community", roles=roles("volunteer", "counsellor", until=date(2026, 11, 30)),
           attributes={"id_number": "110101199003071234"}),
    Person(id="P2", name="李四", team="community", roles=roles("volunteer")),
    Person(id="P3", name="王五", team="training", roles=roles("volunteer", "coordinator"),
           attributes={"id_number": "G1234567"}),
    Person(id="P4", name="赵六", team="community", roles=roles("volunteer")),  # no account anywhere
    Person(id="P5", name="钱七", team="community", status="left", roles=roles("volunteer")),
    Person(id="P6", name="孙八", team="community", roles=roles("volunteer")),  # WeCom only: no meeting account
]


class Coalition:
    def __init__(self, tmp_path):
        self.db = state.open_db(tmp_path / "muster.db")
        state.upsert_people(self.db, PEOPLE)
        state.link(self.db, [Identity(service="wecom", external_id=u, person_id=p)
                             for u, p in (("wx1", "P1"), ("wx2", "P2"), ("wx5", "P5"), ("wx6", "P6"))])
        state.link(self.db, [Identity(service="tencent_meeting", external_id="tm3", person_id="P3")])
        self.tm = TencentMeetingSandbox(seed=5, rate_limits=False)
        for userid, name in (("wx1", "张三"), ("wx2", "李四"), ("wx5", "钱七"), ("tm3", "王五"), ("ext9", "访客")):
            self.tm.add_user(userid, name)
        conn = TencentMeetingConnection(app_id=self.tm.app_id, sdk_id=self.tm.sdk_id, secret_id=self.tm.secret_id,
                                        secret_key=SecretRef(env="UNUSED"), operator_id="admin",
                                        userid_from="wecom", sandbox=True)
        self.ws = Workspace(db=self.db, policy=parse_policy_text(POLICY), connections={},
                            reports=tmp_path / "reports", actor="tester", coalition="测试联盟",
                            sandboxes={"tencent_meeting": self.tm}, retry=NO_RETRY_WAIT,
                            connector_options={"rate_limit": False}, meetings={"tencent_meeting": conn})

    def schedule(self, subject="心理援助培训", start=M1_START, minutes=90, scopes=("team:community",), host=None, **kw):
        return schedule_training(self.ws, subject, start, minutes, list(scopes), host, today=TODAY, **kw)

    def join(self, meeting_id, userid, start, a, b=None, name=None):
        self.tm.record_join(meeting_id, userid, start + timedelta(minutes=a),
                            None if b is None else start + timedelta(minutes=b), name=name)

    def records(self):
        return {(r["meeting_id"], r["external_id"]): r for r in state.hours_ledger(self.db)}


@pytest.fixture
def c(tmp_path):
    return Coalition(tmp_path)


def two_trainings(c):
    """Training 1 for team community (operator hosts), training 2 for counsellors hosted by P1, with joins."""
    m1 = c.schedule().meeting["meeting_id"]
    m2 = c.schedule("急救培训", M2_START, 60, ["role:心理咨询师"], host="P1").meeting["meeting_id"]
    c.join(m1, "wx1", M1_START, 0, 20)
    c.join(m1, "wx1", M1_START, 25, 50)  # a rejoin
    c.join(m1, "wx1", M1_START, 40, 65)  # a second device overlapping it
    c.join(m1, "wx2", M1_START, 5, 40, name="李四(手机)")
    c.join(m1, "tm3", M1_START, 0, 90)
    c.join(m1, "ext9", M1_START, 0, 50)
    c.join(m2, "wx1", M2_START, 0, 60)
    c.join(m2, "tm3", M2_START, 0, 10)
    c.join(m2, "wx2", M2_START, 0)  # never left: closed at the meeting's end
    return m1, m2


# --- scheduling -----------------------------------------------------------------------------


def test_a_training_invites_exactly_the_people_in_scope_once(c):
    done = c.schedule()
    m = done.meeting
    sandboxed = c.tm.meetings[m["meeting_id"]]
    assert sandboxed["invitees"] == ["wx1", "wx2"] and sandboxed["creator"] == "admin"
    assert (sandboxed["subject"], sandboxed["start"], sandboxed["end"]) == (
        "心理援助培训", int(M1_START.timestamp()), int(M1_START.timestamp()) + 90 * 60)
    assert done.invited == ["wx1", "wx2"] and done.rejected == ["wx6"] and done.in_scope == 4
    assert [p.id for p in done.without_account] == ["P4"]
    assert (m["status"], m["organiser"], m["host"], m["scope"]) == ("created", "测试联盟", "admin", ["team:community"])
    writes = c.tm.write_calls
    again = c.schedule()
    assert again.outcome == "already" and again.meeting["meeting_id"] == m["meeting_id"]
    assert len(c.tm.meetings) == 1 and c.tm.write_calls == writes
    assert [e["action"] for e in state.audit_entries(c.db)] == ["create meeting"]
    with pytest.raises(HoursError, match="already meeting .* with another end"):
        c.schedule(minutes=60)


def test_a_host_from_the_roster_creates_and_organises(c):
    done = c.schedule("急救培训", M2_START, 60, ["role:counsellor"], host="P1")
    assert c.tm.meetings[done.meeting["meeting_id"]]["creator"] == "wx1"
    assert (done.meeting["organiser"], done.meeting["organiser_id"], done.invited) == ("张三", "P1", ["wx1"])


@pytest.mark.parametrize(("kw", "message"), [
    ({"scopes": ["team:火星组"]}, "no team '火星组'"),
    ({"scopes": []}, "say who the training is for"),
    ({"minutes": 0}, "1 to 1440 minutes"),
    ({"subject": " "}, "--subject is empty"),
    ({"host": "P4"}, "P4 .赵六. has no tencent_meeting account"),
    ({"host": "P99"}, "no such person"),
])
def test_bad_input_creates_nothing(c, kw, message):
    with pytest.raises(HoursError, match=message):
        c.schedule(**kw)
    assert c.tm.meetings == {} and state.known_meetings(c.db, created_only=False) == []


def test_a_refused_create_is_recorded_and_may_be_retried(c):
    admin = c.tm.users.pop("admin")
    with pytest.raises(HoursError, match=r"refused to create the meeting: .*\[20001\]: user does not exist"):
        c.schedule()
    (row,) = state.known_meetings(c.db, created_only=False)
    assert row["status"] == "failed"
    c.tm.users["admin"] = admin
    assert c.schedule().outcome == "created" and len(c.tm.meetings) == 1


def test_an_unanswered_create_is_not_repeated(c):
    def answer_lost(request):
        response = c.tm(request)
        if request.method == "POST" and request.url.path == "/v1/meetings":
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    c.ws.connector_options["transport"] = httpx.MockTransport(answer_lost)
    with pytest.raises(HoursError, match="did not answer the create"):
        c.schedule()
    (made,) = c.tm.meetings
    assert state.known_meetings(c.db, created_only=False)[0]["status"] == "sent"
    with pytest.raises(HoursError, match="no answer was recorded.*--adopt <meeting id>.*--resend"):
        c.schedule()
    assert len(c.tm.meetings) == 1
    with pytest.raises(HoursError, match="no such meeting"):
        c.schedule(adopt="123")
    done = c.schedule(adopt=made)
    assert done.outcome == "adopted" and done.meeting["meeting_id"] == made and len(c.tm.meetings) == 1
    assert c.schedule().outcome == "already"


def test_resend_after_checking_creates_it(c):
    def never_sent(request):
        if request.method == "POST" and request.url.path == "/v1/meetings":
            raise httpx.ReadTimeout("lost on the way", request=request)
        return c.tm(request)

    c.ws.connector_options["transport"] = httpx.MockTransport(never_sent)
    with pytest.raises(HoursError):
        c.schedule()
    del c.ws.connector_options["transport"]
    done = c.schedule(resend=True)
    assert done.outcome == "created" and list(c.tm.meetings) == [done.meeting["meeting_id"]]


# --- attendance and hours ---------------------------------------------------------------------


def test_collect_merges_rejoins_and_overlaps_and_rounds(c):
    m1, m2 = two_trainings(c)
    got = collect(c.ws)
    assert (got.meetings, got.joins, got.new_joins, got.added) == (2, 9, 9, 7)
    assert sorted((i.external_id, i.person_id, i.matched_by) for i in got.linked) == [
        ("wx1", "P1", "userid_from:wecom"), ("wx2", "P2", "userid_from:wecom")]
    assert set(state.identities_for(c.db, "tencent_meeting")) == {"tm3", "wx1", "wx2"}
    recs = c.records()
    wx1 = recs[(m1, "wx1")]
    assert (wx1["person_id"], wx1["minutes"], wx1["hours"], wx1["day"], wx1["organiser"]) == (
        "P1", 60, 1.0, "2026-11-25", "测试联盟")
    start = M1_START.astimezone(UTC)
    assert wx1["intervals"] == [[start.isoformat(), (start + timedelta(minutes=20)).isoformat()],
                                [(start + timedelta(minutes=25)).isoformat(),
                                 (start + timedelta(minutes=65)).isoformat()]]
    assert (recs[(m1, "wx2")]["minutes"], recs[(m1, "wx2")]["hours"], recs[(m1, "wx2")]["name"]) == (35, 0.5, "李四(手机)")
    assert (recs[(m1, "tm3")]["hours"], recs[(m2, "tm3")]["hours"]) == (1.5, 0)
    assert (recs[(m2, "wx2")]["minutes"], recs[(m2, "wx1")]["day"], recs[(m2, "wx1")]["organiser"]) == (
        60, "2026-12-02", "张三")
    assert [(r["external_id"], r["name"], r["hours"]) for r in got.unmatched] == [("ext9", "访客", 1.0)]
    again = collect(c.ws, [m1])
    assert (again.new_joins, again.added, again.updated, again.unchanged) == (0, 0, 0, 4)
    with pytest.raises(HoursError, match="no training meeting 42"):
        collect(c.ws, ["42"])


def test_recompute_never_touches_certified_records(c):
    m1, m2 = two_trainings(c)
    collect(c.ws)
    recs = c.records()
    done = confirm(c.ws, meeting=m1, by="协调员甲")
    assert sorted(done["confirmed"]) == sorted(recs[(m1, u)]["id"] for u in ("wx1", "wx2", "tm3"))
    assert done["skipped"] == {recs[(m1, "ext9")]["id"]: "not credited until linked to a person"}
    correct(c.ws, recs[(m1, "wx2")]["id"], 1.0, "在线时长统计漏记", "协调员甲")
    c.join(m1, "wx1", M1_START, 70, 100)  # evidence of a confirmed record changes
    c.join(m1, "wx2", M1_START, 50, 80)  # ... and of a corrected one
    c.join(m2, "tm3", M2_START, 15, 40)  # a computed record follows its evidence
    got = collect(c.ws)
    assert got.new_joins == 3 and got.updated == 1
    assert sorted(got.evidence_changed) == sorted([recs[(m1, "wx1")]["id"], recs[(m1, "wx2")]["id"]])
    after = c.records()
    assert (after[(m1, "wx1")]["minutes"], after[(m1, "wx1")]["credited"], after[(m1, "wx1")]["status"]) == (
        60, 1.0, "confirmed")
    assert after[(m1, "wx1")]["evidence_changed"]["minutes"] == 90
    assert (after[(m1, "wx2")]["hours"], after[(m1, "wx2")]["credited"], after[(m1, "wx2")]["status"]) == (
        0.5, 1.0, "corrected")
    assert (after[(m2, "tm3")]["minutes"], after[(m2, "tm3")]["hours"]) == (35, 0.5)


def test_correction_keeps_the_original_and_the_reason_and_is_audited(c):
    m1, _ = two_trainings(c)
    collect(c.ws)
    rid = c.records()[(m1, "wx2")]["id"]
    for args, message in (((rid, 1.0, " ", "甲"), "--reason"), ((rid, 25, "x", "甲"), "0 to 24"),
                          ((999, 1.0, "x", "甲"), "no hours record 999"),
                          ((c.records()[(m1, "ext9")]["id"], 1.0, "x", "甲"), "not credited until linked")):
        with pytest.raises(HoursError, match=message):
            correct(c.ws, *args)
    row = correct(c.ws, rid, 1.0, "在线时长统计漏记", "协调员甲")
    assert (row["hours"], row["credited"], row["status"]) == (0.5, 1.0, "corrected")
    (fix,) = state.hours_corrections(c.db, rid)
    assert (fix["original_hours"], fix["new_hours"], fix["reason"], fix["by"]) == (0.5, 1.0, "在线时长统计漏记", "协调员甲")
    entry = state.audit_entries(c.db)[-1]
    assert (entry["action"], entry["object_id"], entry["reason"], entry["approved_by"]) == (
        "correct hours", "P2", "在线时长统计漏记", "协调员甲")
    assert entry["detail"] == {"record": rid, "original_hours": 0.5, "hours": 1.0, "computed_hours": 0.5}
    assert state.verify(c.db) is None


def test_confirm_needs_ids_or_a_meeting_and_a_name(c):
    for kw, message in (({}, "one of the two"), ({"ids": [1], "meeting": "m"}, "one of the two"),
                        ({"meeting": "nope"}, "no training meeting nope"), ({"ids": [1], "by": " "}, "--by")):
        with pytest.raises(HoursError, match=message):
            confirm(c.ws, **{"by": "甲", **kw})


# --- export ----------------------------------------------------------------------------------


def certified(c):
    """Both trainings collected; training 1 confirmed with one correction, training 2 only P1's record."""
    m1, m2 = two_trainings(c)
    collect(c.ws)
    recs = c.records()
    confirm(c.ws, meeting=m1, by="协调员甲")
    correct(c.ws, recs[(m1, "wx2")]["id"], 1.0, "在线时长统计漏记", "协调员甲")
    confirm(c.ws, [recs[(m2, "wx1")]["id"]], by="协调员乙")
    c.join(m1, "wx1", M1_START, 70, 100)
    c.join(m2, "tm3", M2_START, 15, 40)
    collect(c.ws)
    return m1, m2


HEADER = ["姓名 name", "证件号码 id number", "活动名称 activity", "服务日期 date", "服务时长 hours", "组织方 organiser"]


def test_export_writes_the_national_import_and_the_statistics(c, tmp_path):
    certified(c)
    out = export(c.ws, tmp_path / "out", today=date(2026, 12, 31))
    assert out.csv.name == "hours-2026-12-31.csv" and out.xlsx.name == "hours-2026-12-31.xlsx"
    expected = [
        ["王五", "G12*4567", "心理援助培训", "2026-11-25", 1.5, "测试联盟"],
        ["张三", "110***********1234", "心理援助培训", "2026-11-25", 1, "测试联盟"],
        ["李四", "", "心理援助培训", "2026-11-25", 1, "测试联盟"],
        ["张三", "110***********1234", "急救培训", "2026-12-02", 1, "张三"],
    ]
    raw = out.csv.read_bytes()
    assert raw.startswith("\ufeff".encode())
    with out.csv.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [HEADER] + [[str(v) for v in row] for row in expected]
    book = load_workbook(out.xlsx)
    assert book.sheetnames == ["服务记录 records", "统计 statistics"]
    sheet = [list(r) for r in book["服务记录 records"].iter_rows(values_only=True)]
    assert sheet == [HEADER] + [[v if v != "" else None for v in row] for row in expected]
    stats = {(r[0], r[1]): r[2] for r in book["统计 statistics"].iter_rows(min_row=2, values_only=True)}
    assert stats[("场次 sessions", None)] == 2
    assert stats[("参会记录 attendances (join rows)", None)] == 11  # 6 + 1 in training 1, 3 + 1 in training 2
    assert stats[("参会人数 attendances (distinct people)", None)] == 4  # P1, P2, P3 and the stranger
    assert stats[("总时长 total hours", None)] == 4.5
    assert {k[1]: v for k, v in stats.items() if k[0] == "按组 hours by team"} == {"培训组": 1.5, "社区服务组": 3}
    # P1 was a counsellor until 30 November: counted for both roles in training 1, as a volunteer in training 2
    assert {k[1]: v for k, v in stats.items() if k[0] == "按岗位 hours by role"} == {
        "志愿者": 4.5, "心理咨询师": 1, "协调员": 1.5}
    assert {k[1]: v for k, v in stats.items() if k[0] == "按月 hours by month"} == {"2026-11": 3.5, "2026-12": 1}
    assert any(k[0] == "说明 note" and "counts for each" in k[1] for k in stats)
    assert stats[("时长口径 hours counted", "仅已确认 confirmed only")] is None
    assert state.audit_entries(c.db)[-1]["detail"]["rows"] == 4


def test_export_period_is_in_shanghai_days_and_unconfirmed_are_marked(c, tmp_path):
    certified(c)
    out = export(c.ws, tmp_path, day_from=date(2026, 12, 2), day_to=date(2026, 12, 2), include_unconfirmed=True,
                 today=date(2026, 12, 31))
    assert out.rows == [
        ["王五", "G12*4567", "急救培训", "2026-12-02", 0.5, "张三", "未确认 unconfirmed"],
        ["张三", "110***********1234", "急救培训", "2026-12-02", 1.0, "张三", ""],
        ["李四", "", "急救培训", "2026-12-02", 1.0, "张三", "未确认 unconfirmed"],
    ]
    header = next(load_workbook(out.xlsx)["服务记录 records"].iter_rows(values_only=True))
    assert list(header) == HEADER + ["备注 note"]
    stats = {(r[0], r[1]): r[2] for r in out.stats[1:]}
    assert (stats[("场次 sessions", "")], stats[("参会记录 attendances (join rows)", "")],
            stats[("总时长 total hours", "")]) == (1, 4, 2.5)
    with pytest.raises(HoursError, match="is after"):
        export(c.ws, tmp_path / "none", day_from=date(2026, 12, 2), day_to=date(2026, 12, 1))
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(("value", "masked"), [("110101199003071234", "110***********1234"), ("G1234567", "G12*4567"),
                                               ("1234567", "*******"), ("", ""), (None, "")])
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


def test_a_rerun_after_the_roster_changed_overwrites_the_invitees_once(c):
    m = c.schedule().meeting
    state.set_status(c.db, "P2", "left")  # 李四 left the team: no longer invited
    writes = c.tm.write_calls
    again = c.schedule()
    assert again.outcome == "updated" and again.meeting["meeting_id"] == m["meeting_id"]
    assert c.tm.meetings[m["meeting_id"]]["invitees"] == ["wx1"]
    assert c.tm.write_calls == writes + 1  # one PUT, made as the meeting's creator
    assert again.meeting["invitees"] == ["wx1"] and again.meeting["requested"] == ["wx1", "wx6"]
    entry = state.audit_entries(c.db)[-1]
    assert entry["action"] == "set invitees" and entry["detail"]["removed"] == ["wx2"]
    third = c.schedule()  # wx6 is still refused by the service: nothing is sent again for it
    assert third.outcome == "already" and c.tm.write_calls == writes + 1


def test_invitees_of_a_meeting_hosted_by_a_volunteer_are_set_as_that_host(c):
    m = c.schedule("急救培训", M2_START, 60, ["role:心理咨询师"], host="P1").meeting
    assert c.tm.meetings[m["meeting_id"]]["creator"] == "wx1"
    p2 = next(p for p in PEOPLE if p.id == "P2")
    state.upsert_people(c.db, [p2.model_copy(update={"roles": roles("volunteer", "counsellor")})])
    again = c.schedule("急救培训", M2_START, 60, ["role:心理咨询师"], host="P1")
    assert again.outcome == "updated"  # the service lets only the creator set invitees: this went as wx1
    assert c.tm.meetings[m["meeting_id"]]["invitees"] == ["wx1", "wx2"]
