from mappings.models import Account, Group, Member, Observed
from state import get_cursor, latest_snapshot, save_snapshot, set_cursor
from state.snapshots import KEEP, snapshot_runs

WECOM = Observed(
    service="wecom",
    accounts=[Account(service="wecom", external_id="anna", name="Anna", mobile="13800000001",
                      departments=("1", "2"))],
    groups=[Group(service="wecom", kind="chat", external_id="wr1", name="Counsellors", owner="anna")],
    members={"wr1": [Member(external_id="anna", level="owner"), Member(external_id="bo")]},
)


def test_snapshot_round_trip(fresh_db):
    save_snapshot(fresh_db, "R1", WECOM)
    assert latest_snapshot(fresh_db, "wecom") == WECOM
    assert latest_snapshot(fresh_db, "dingtalk") is None


def test_snapshot_row(fresh_db, clock):
    partial = Observed(service="wecom", complete=False, error="timeout listing chats")
    save_snapshot(fresh_db, "R1", partial)
    row = fresh_db.execute("SELECT id, service, run_id, taken_at, complete, fingerprint FROM snapshots")
    assert row.fetchall() == [(1, "wecom", "R1", clock(0), 0, partial.fingerprint())]
    assert latest_snapshot(fresh_db, "wecom") == partial


def test_latest_is_per_service_and_newest(fresh_db):
    later = WECOM.model_copy(update={"members": {}})
    ding = Observed(service="dingtalk")
    save_snapshot(fresh_db, "R1", WECOM)
    save_snapshot(fresh_db, "R2", ding)
    save_snapshot(fresh_db, "R2", later)
    assert latest_snapshot(fresh_db, "wecom") == later
    assert latest_snapshot(fresh_db, "dingtalk") == ding


def test_saving_again_in_the_same_run_replaces_that_runs_snapshot(fresh_db):
    save_snapshot(fresh_db, "R1", WECOM)
    save_snapshot(fresh_db, "R2", Observed(service="wecom"))
    save_snapshot(fresh_db, "R1", WECOM)
    assert snapshot_runs(fresh_db, "wecom") == ["R1", "R2"]
    assert latest_snapshot(fresh_db, "wecom") == WECOM


def test_only_the_last_20_per_service_are_kept(fresh_db):
    assert KEEP == 20
    save_snapshot(fresh_db, "R-ding", Observed(service="dingtalk"))
    for i in range(25):
        save_snapshot(fresh_db, f"R{i:02d}", Observed(service="wecom", error=str(i)))
    assert snapshot_runs(fresh_db, "wecom") == [f"R{i:02d}" for i in range(24, 4, -1)]
    assert snapshot_runs(fresh_db, "dingtalk") == ["R-ding"]
    assert latest_snapshot(fresh_db, "wecom").error == "24"


def test_cursor_round_trip_and_upsert(fresh_db, clock):
    assert get_cursor(fresh_db, "jinshuju", "entries") is None
    set_cursor(fresh_db, "jinshuju", "entries", "100")
    set_cursor(fresh_db, "jinshuju", "forms", "f1")
    set_cursor(fresh_db, "jinshuju", "entries", "250")
    assert get_cursor(fresh_db, "jinshuju", "entries") == "250"
    assert list(fresh_db.query("SELECT * FROM cursors ORDER BY stream")) == [
        {"connector": "jinshuju", "stream": "entries", "value": "250", "updated_at": clock(2)},
        {"connector": "jinshuju", "stream": "forms", "value": "f1", "updated_at": clock(1)},
    ]


def test_cursor_rolls_back_with_its_page(fresh_db):
    set_cursor(fresh_db, "jinshuju", "entries", "100")
    try:
        with fresh_db.atomic():
            set_cursor(fresh_db, "jinshuju", "entries", "200")
            raise RuntimeError("page write failed")
    except RuntimeError:
        pass
    assert get_cursor(fresh_db, "jinshuju", "entries") == "100"
