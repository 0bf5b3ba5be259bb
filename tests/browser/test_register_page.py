"""The register's HTML page as a person sees it in a browser: offline, searchable, sortable, masked."""

from datetime import date

import pytest

import state
from flows.html_report import HtmlTable, render_page
from flows.register import write_register
from flows.workspace import Workspace
from mappings.models import Account, Group, Identity, Member, Observed, Person, RoleAssignment
from mappings.policy import parse_policy_text

POLICY = """\
version: 1
roles:
  coordinator: {name: 协调人}
teams:
  community: {name: 社区服务组}
tiers: [一线, 三线]
privacy:
  see_contacts: [三线]
resources:
  wecom:
    - {key: community, kind: department, name: 社区服务组, external_id: '10'}
    - {key: all-hands, kind: tag, name: 全体志愿者, external_id: '7'}
  dingtalk:
    - {key: medics, kind: chat, name: 医疗组群}
rules:
  - name: everyone
    grant: {resource: wecom/all-hands}
  - name: team-community
    when: {team: community}
    grant: {resource: wecom/community}
"""
EVIL = "<script>alert(1)</script>"
PEOPLE = [
    Person(id="P1", name="张三", mobile="+8613812345678", email="zhangsan@example.org", team="community", tier="三线",
           roles=(RoleAssignment(role="coordinator"),)),
    Person(id="P2", name="李四", mobile="+8613900001111", team="community", tier="一线"),
    Person(id="P3", name="王五", mobile="+8613700002222", tier="一线"),
    Person(id="P4", name="赵六", tier="一线"),
    Person(id="P5", name=EVIL, tier="一线"),
]
WECOM = Observed(
    service="wecom",
    accounts=[
        Account(service="wecom", external_id="wx1", departments=("10",), leader_of=("10",)),
        Account(service="wecom", external_id="wx2", departments=("10",)),
        Account(service="wecom", external_id="wx3", departments=("2",)),
        Account(service="wecom", external_id="wx4", departments=("1",)),
        Account(service="wecom", external_id="wx5", departments=("1",)),
    ],
    groups=[Group(service="wecom", kind="department", external_id=i, name=n)
            for i, n in (("1", "root"), ("2", "培训组"), ("10", "社区服务组"))]
    + [Group(service="wecom", kind="tag", external_id="7", name="全体志愿者")],
    members={"7": [Member(external_id=f"wx{i}") for i in (1, 2, 3, 4, 5, 99)]},
)
DINGTALK = Observed(
    service="dingtalk",
    accounts=[Account(service="dingtalk", external_id="dt1"), Account(service="dingtalk", external_id="dt3")],
    groups=[Group(service="dingtalk", kind="chat", external_id="chatabc", name="指挥部", owner="dt1")],
    members={"chatabc": [Member(external_id="dt1", level="owner"), Member(external_id="dt3")]},
)
LINKS = {"wecom": {f"wx{i}": f"P{i}" for i in range(1, 6)}, "dingtalk": {"dt1": "P1", "dt3": "P3"}}
WECOM_ROWS = 11  # 5 department members + 6 tag members


@pytest.fixture
def workspace(tmp_path):
    db = state.open_db(tmp_path / "muster.db")
    state.upsert_people(db, PEOPLE)
    for service, links in LINKS.items():
        state.link(db, [Identity(service=service, external_id=e, person_id=p) for e, p in links.items()])
    run_id = state.start_run(db, "pull", actor="test")
    for obs in (WECOM, DINGTALK):
        state.save_snapshot(db, run_id, obs)
    return Workspace(db=db, policy=parse_policy_text(POLICY), connections={}, reports=tmp_path / "reports",
                     actor="someone", coalition="测试联盟")


def written(ws, reader=None):
    return write_register(ws, fmt="html", reader=reader, today=date(2026, 11, 20)).paths[0]


def visible(page, table, column):
    """The text of ``column`` (0-based) in the rows of ``table`` shown now, top to bottom."""
    return page.eval_on_selector_all(
        f'table[data-table="{table}"] tbody tr:not([hidden])',
        f"rows => rows.map(r => r.cells[{column}].textContent)")


def count(page, table):
    return page.inner_text(f'[data-count="{table}"]')


def header(page, table, name):
    return page.locator(f'table[data-table="{table}"] thead th', has_text=name).first


def test_the_page_loads_from_disk_without_asking_the_network_for_anything(workspace, page):
    path = written(workspace)
    shown = page.open(path)
    assert shown.title() == "Permission register — 测试联盟"
    assert page.blocked == []
    assert page.requests == [path.resolve().as_uri()]
    assert count(shown, "wecom") == f"{WECOM_ROWS} of {WECOM_ROWS} rows"
    assert count(shown, "dingtalk") == "2 of 2 rows"
    assert count(shown, "people") == "12 of 12 rows"  # one row per person and thing they reach: 3+2+3+2+2


def test_the_watch_catches_a_page_that_reaches_out(tmp_path, page):
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>', encoding="utf-8")
    page.open(leaky)
    assert page.blocked == ["http://example.invalid/x.png"]


def test_search_filters_every_table_and_updates_the_counts(workspace, page):
    shown = page.open(written(workspace))
    shown.fill("#search", "王五")
    assert visible(shown, "wecom", 5) == ["王五", "王五"]
    assert visible(shown, "dingtalk", 5) == ["王五"]
    assert visible(shown, "people", 1) == ["王五", "王五", "王五"]
    assert count(shown, "wecom") == f"2 of {WECOM_ROWS} rows"
    assert count(shown, "dingtalk") == "1 of 2 rows"
    shown.fill("#search", "WX99")  # case-insensitive, and any cell counts
    assert visible(shown, "wecom", 6) == ["wx99"] and count(shown, "dingtalk") == "0 of 2 rows"
    shown.fill("#search", "不存在")
    assert [count(shown, t) for t in ("wecom", "dingtalk")] == [f"0 of {WECOM_ROWS} rows", "0 of 2 rows"]
    shown.fill("#search", "")
    assert count(shown, "wecom") == f"{WECOM_ROWS} of {WECOM_ROWS} rows"


def test_clicking_a_header_sorts_text_in_chinese_order_both_ways(workspace, page):
    shown = page.open(written(workspace))
    shown.fill("#search", "全体志愿者")
    member = header(shown, "wecom", "member")
    member.click()
    up = visible(shown, "wecom", 5)
    assert [n for n in up if n in ("张三", "李四", "王五", "赵六")] == ["李四", "王五", "张三", "赵六"]  # pinyin
    assert sorted(up) == sorted(["张三", "李四", "王五", "赵六", EVIL, "wx99"])
    assert member.get_attribute("aria-sort") == "ascending"
    member.click()
    assert visible(shown, "wecom", 5) == list(reversed(up))
    assert member.get_attribute("aria-sort") == "descending"
    assert header(shown, "wecom", "account").get_attribute("aria-sort") == "none"
    assert count(shown, "wecom") == f"6 of {WECOM_ROWS} rows"  # sorting keeps the filter


def test_a_column_of_numbers_sorts_numerically(workspace, page):
    shown = page.open(written(workspace))
    ids = header(shown, "wecom", "resource id")
    ids.click()
    assert list(dict.fromkeys(visible(shown, "wecom", 2))) == ["1", "2", "7", "10"]
    ids.click()
    assert list(dict.fromkeys(visible(shown, "wecom", 2))) == ["10", "7", "2", "1"]
    header(shown, "wecom", "account").click()  # another column: starts ascending again
    assert header(shown, "wecom", "account").get_attribute("aria-sort") == "ascending"
    assert ids.get_attribute("aria-sort") == "none"


def test_names_are_shown_as_text_never_run(workspace, page):
    shown = page.open(written(workspace))
    assert EVIL in visible(shown, "wecom", 5)
    assert page.dialogs == []


def mobile_of(page, person_id):
    rows = page.eval_on_selector_all('table[data-table="people"] tbody tr',
                                     "rows => rows.map(r => [r.cells[0].textContent, r.cells[5].textContent])")
    return next(m for pid, m in rows if pid == person_id)


def test_an_unprivileged_reader_sees_mobiles_masked(workspace, page):
    shown = page.open(written(workspace, reader="P2"))
    assert mobile_of(shown, "P3") == "137****2222"
    assert mobile_of(shown, "P1") == "138****5678"
    assert "contacts masked" in shown.inner_text(".subtitle")


def test_a_see_contacts_reader_sees_mobiles_in_full(workspace, page):
    shown = page.open(written(workspace, reader="zhangsan@example.org"))
    assert mobile_of(shown, "P3") == "13700002222"
    assert "read by 张三 (P1): contacts in full" in shown.inner_text(".subtitle")


def test_the_renderer_serves_any_tables_and_notes(tmp_path, page):
    path = tmp_path / "any.html"
    path.write_text(render_page(title="漂移 <report>", subtitle="s", notes=["note & more"], tables=[
        HtmlTable("a", "A", ["n", "名字"], [["9", "乙"], ["10", "甲"], ["", "丙"]]),
        HtmlTable("b", "B", ["x"], [["甲乙"]]),
    ]), encoding="utf-8")
    shown = page.open(path)
    assert shown.title() == "漂移 <report>"
    assert "note & more" in shown.inner_text("ul.notes")
    header(shown, "a", "n").click()
    assert visible(shown, "a", 0) == ["9", "10", ""]
    shown.fill("#search", "甲")
    assert (count(shown, "a"), count(shown, "b")) == ("1 of 3 rows", "1 of 1 rows")
    assert page.blocked == []
