"""``muster demo``: a sandbox coalition with the mess real ones have, synced end to end.

The generator builds a roster master table (CSV, imported like any coalition's) and
seeds the WeCom and DingTalk sandboxes as if a tool-platform team had run them by hand
for weeks: most volunteers already have accounts, under mobiles typed every which way;
a few people in chats are not in the roster; leavers are still in groups; some
department leaders and a chat owner are wrong; the command chat's owner has left; one
account's mobile and email point at two different people. Everything is seeded from
one ``random.Random(seed)``, so a demo is reproducible.

Sandbox state is saved under the demo folder between runs, so a second ``muster demo``
continues the same coalition — and finds nothing left to do.
"""

from __future__ import annotations

import csv
import pickle
import random
from dataclasses import dataclass
from pathlib import Path

from connectors import sandbox_class

DEMO_SERVICES = ("wecom", "dingtalk", "feishu")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉健俊帆宇欣怡晨阳雪梅"
TEAMS = {"community": "社区服务组", "training": "培训组", "medical": "医疗组", "psych": "心理支持组", "tech": "技术组"}
TEAM_WEIGHTS = [30, 20, 20, 20, 10]
TIERS = ["一线", "二线", "三线"]
TIER_WEIGHTS = [50, 35, 15]
ROLES = {"volunteer": "志愿者", "counsellor": "心理咨询师", "doctor": "医生", "coordinator": "协调员",
         "tool_platform": "工具平台"}


@dataclass
class Member:
    """One generated volunteer and how the services currently know them."""

    pid: str
    name: str
    mobile: str  # 11 digits
    email: str | None
    team: str
    tier: str
    roles: list[str]
    status: str


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        m = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        if m not in used:
            used.add(m)
            return m


def _messy(rng: random.Random, mobile: str) -> str:
    """The same mobile as someone typed it."""
    style = rng.randrange(6)
    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    return [mobile, f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
            f"+86{mobile}", mobile.translate(full_width), f" {mobile} "][style]


def generate(n: int, seed: int) -> list[Member]:
    """``n`` volunteers with teams, tiers, roles and statuses in realistic proportions."""
    rng, used = random.Random(seed), set()
    people = []
    for i in range(1, n + 1):
        team = rng.choices(list(TEAMS), TEAM_WEIGHTS)[0]
        tier = rng.choices(TIERS, TIER_WEIGHTS)[0]
        roles = ["volunteer"]
        if team == "psych" and rng.random() < 0.7:
            roles.append("counsellor")
        if team == "medical" and rng.random() < 0.6:
            roles.append("doctor")
        if tier == "三线" and rng.random() < 0.35:
            roles.append("coordinator")
        if team == "tech" and rng.random() < 0.3:
            roles.append("tool_platform")
        status = rng.choices(["active", "left"], [97, 3])[0]
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        email = f"v{i:04d}@volunteers.example.org" if rng.random() < 0.3 else None
        people.append(Member(f"P{i:06d}", name, _mobile(rng, used), email, team, tier, roles, status))
    # every coalition, however small, has a command tier with a coordinator and someone who left
    people[0].tier, people[0].status = "三线", "active"
    people[0].roles = sorted(set(people[0].roles) | {"coordinator"})
    people[1].tier, people[1].status = "三线", "active"
    people[1].roles = [r for r in people[1].roles if r != "coordinator"]
    if not any(p.status == "left" for p in people):
        people[-1].status = "left"
    return people


def write_roster_csv(path: Path, people: list[Member], rng: random.Random) -> None:
    """The master table as a coordinator keeps it: Chinese headers, messy mobiles, one duplicate row."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["编号", "姓名", "手机号", "邮箱", "项目组", "层级", "岗位", "状态"])
        for p in people:
            out.writerow(_row(p, _messy(rng, p.mobile)))
        dup = people[len(people) // 3]
        out.writerow(["", dup.name, f"+86 {dup.mobile}", "", TEAMS[dup.team], dup.tier,
                      "、".join(ROLES[r] for r in dup.roles), "在岗" if dup.status == "active" else "已离开"])


def _row(p: Member, mobile: str) -> list[str]:
    return [p.pid, p.name, mobile, p.email or "", TEAMS[p.team], p.tier, "、".join(ROLES[r] for r in p.roles),
            "在岗" if p.status == "active" else "已离开"]


# --- the services as a team kept them by hand ------------------------------------------


def seed_sandboxes(people: list[Member], seed: int) -> tuple[dict, dict]:
    """Seeded WeCom, DingTalk and Feishu sandboxes, and the ids of the chats and documents that already exist."""
    rng = random.Random(seed + 1)
    sandboxes = {s: sandbox_class(s)(seed=seed) for s in DEMO_SERVICES}
    chats: dict[str, dict[str, str]] = {s: {} for s in DEMO_SERVICES}
    _seed_wecom(sandboxes["wecom"], people, rng, chats["wecom"])
    _seed_dingtalk(sandboxes["dingtalk"], people, rng, chats["dingtalk"])
    _seed_feishu(sandboxes["feishu"], people, rng, chats["feishu"])
    return sandboxes, chats


def _strangers(rng: random.Random, count: int, prefix: str) -> list[tuple[str, str, str]]:
    used: set[str] = set()
    return [(f"{prefix}{i}", rng.choice(SURNAMES) + rng.choice(GIVEN), "199" + _mobile(rng, used)[3:])
            for i in range(count)]


def _seed_wecom(sb, people: list[Member], rng: random.Random, chats: dict) -> None:
    # community, training and medical exist; psych and tech departments were never made
    depts = {"community": 10, "training": 11, "medical": 12}
    for key, dept_id in depts.items():
        sb.add_department(dept_id, TEAMS[key])
    accounts = {}
    for i, p in enumerate(people):
        if p.status == "active" and rng.random() < 0.15:
            continue  # joined recently: no WeCom account yet
        uid = f"wx{i:05d}"
        dept = depts.get(p.team, 1)
        leader = (dept,) if dept != 1 and rng.random() < 0.02 else ()  # a wrong leader flag
        name = p.name if rng.random() < 0.95 else p.name + "(志愿者)"
        sb.add_user(uid, name, mobile=_messy(rng, p.mobile), departments=(dept,), leader_of=leader)
        accounts[p.pid] = uid
    strangers = _strangers(rng, 6, "ext")
    for uid, name, mobile in strangers:
        sb.add_user(uid, name, mobile=mobile)
    # one account whose mobile is one volunteer's and email another's: ambiguous, goes to review
    a = next(p for p in people if p.status == "active" and p.pid not in accounts)
    b = next(p for p in people if p.email and p.pid != a.pid)
    sb.add_user("wxconfused", a.name, mobile=a.mobile, email=b.email)
    members = [uid for pid, uid in accounts.items() if rng.random() < 0.8] + [s[0] for s in strangers[:4]]
    chats["all-hands"] = sb.add_chat("allhands2020", "全体志愿者", members[0], members)
    command = [accounts[p.pid] for p in people if p.tier == "三线" and p.pid in accounts]
    gone = next(accounts[p.pid] for p in people if p.status == "left" and p.pid in accounts)
    chats["command"] = sb.add_chat("command2020", "指挥部", gone, [gone, *command[: len(command) // 2]])
    counsellors = [accounts[p.pid] for p in people if "counsellor" in p.roles and p.pid in accounts]
    sb.add_tag(7, "心理咨询师", counsellors[: len(counsellors) // 2])


def _seed_dingtalk(sb, people: list[Member], rng: random.Random, chats: dict) -> None:
    depts = {"community": 20, "medical": 22, "psych": 23}
    for key, dept_id in depts.items():
        sb.add_department(dept_id, TEAMS[key])
    accounts = {}
    for i, p in enumerate(people):
        if p.status == "active" and rng.random() < 0.2:
            continue
        uid = f"dt{i:05d}"
        sb.add_user(uid, p.name, mobile=_messy(rng, p.mobile), departments=(depts.get(p.team, 1),))
        accounts[p.pid] = uid
    for uid, name, mobile in _strangers(rng, 4, "dtext"):
        sb.add_user(uid, name, mobile=mobile)
    front = [accounts[p.pid] for p in people if p.tier == "一线" and p.pid in accounts][:600]
    if len(front) >= 2:
        chats["frontline"] = sb.add_chat(None, "一线志愿者群", front[0], front[: max(2, int(len(front) * 0.7))])
    command = [accounts[p.pid] for p in people if p.tier == "三线" and p.pid in accounts]
    plain = next((uid for pid, uid in accounts.items() if uid in command and not _is_coordinator(people, pid)),
                 None)
    if plain and len(command) >= 2:
        chats["command"] = sb.add_chat(None, "指挥部", plain, command)


def _seed_feishu(sb, people: list[Member], rng: random.Random, docs: dict) -> None:
    # only the tech and psych teams moved to Feishu so far; the shared docs live there
    accounts = {}
    for i, p in enumerate(people):
        if i == 0 or (p.team in ("tech", "psych", "training") and rng.random() < 0.7):
            accounts[p.pid] = sb.add_user(f"fs{i:05d}", p.name, mobile=_messy(rng, p.mobile), email=p.email)
    stranger = sb.add_user("fsext1", "外部顾问", mobile="19900000001")
    owner = accounts[people[0].pid]  # the coordinator who wrote the handbook
    docs["handbook"] = sb.add_doc("doxcnDemoHandbook2020", "docx", "志愿者手册", owner)
    docs["cases"] = sb.add_doc("fldcnDemoCases2020", "folder", "个案资料", owner)
    sb.grant("doxcnDemoHandbook2020", stranger, "view")  # shared by hand with an outside adviser
    gone = [accounts[p.pid] for p in people if p.status == "left" and p.pid in accounts]
    active = [accounts[p.pid] for p in people[1:] if p.status == "active" and p.pid in accounts]
    for uid in gone[:2]:
        sb.grant("fldcnDemoCases2020", uid, "edit")  # leavers who still hold the case files
    for uid in active[:3]:
        sb.grant("doxcnDemoHandbook2020", uid, "full_access")  # more than anyone needs


def _is_coordinator(people: list[Member], pid: str) -> bool:
    return any(p.pid == pid and "coordinator" in p.roles for p in people)


# --- persistence between demo runs ------------------------------------------------------


def save_sandboxes(folder: Path, sandboxes: dict) -> None:
    """Keep the sandboxes' data (not their locks or clocks) for the next demo run."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, sb in sandboxes.items():
        (folder / f"{name}.pickle").write_bytes(pickle.dumps(sb.export_state()))


def load_sandboxes(folder: Path, seed: int) -> dict | None:
    """The sandboxes saved by the last run, or None when there are none."""
    out = {}
    for name in DEMO_SERVICES:
        path = folder / f"{name}.pickle"
        if not path.exists():
            return None
        sb = sandbox_class(name)(seed=seed)
        sb.import_state(pickle.loads(path.read_bytes()))
        out[name] = sb
    return out


__all__ = ["DEMO_SERVICES", "generate", "load_sandboxes", "save_sandboxes", "seed_sandboxes", "write_roster_csv"]
