"""The policy of the demo coalition (and of ``muster init --sandbox-info``).

Written out as YAML into the demo folder, so what the demo does is what a coalition
would get from the same file. Existing chats are named by id: neither WeCom nor
DingTalk can list chats, so a coalition must say which existing chat is which.
"""

from __future__ import annotations

from flows.demo import ROLES, TEAMS


def demo_policy(chats: dict[str, dict[str, str]], *, manual: bool = False) -> str:
    """Policy YAML for the demo coalition; ``chats`` = service → chat key → existing chat id.

    ``manual`` adds a personal WeChat group and a Shimo folder, which people change by hand.
    """
    teams = "\n".join(f"  {k}: {{name: {v}}}" for k, v in TEAMS.items())
    roles = "\n".join(f"  {k}: {{name: {v}}}" for k, v in ROLES.items())
    depts = {s: "\n".join(f"    - {{key: {k}, kind: department, name: {v}}}" for k, v in TEAMS.items())
             for s in ("wecom", "dingtalk")}
    team_rules = "\n".join(
        f"  - name: team-{k}\n    when: {{team: {k}}}\n"
        f"    grant: [{{resource: wecom/{k}}}, {{resource: dingtalk/{k}}}]" for k in TEAMS)

    def chat(service: str, key: str, name: str) -> str:
        ext = chats.get(service, {}).get(key)
        return f"    - {{key: {key}, kind: chat, name: {name}" + (f", external_id: '{ext}'}}" if ext else "}")

    return f"""\
# The demo coalition's policy. Edit it and run `muster demo` again to see the plan change.
version: 1
guards: {{max_removal_fraction: 0.10, max_removals: 50}}
services:
  wecom: {{leavers: remove, unknown_members: keep, userid_prefix: m}}
  dingtalk: {{leavers: remove, unknown_members: keep, userid_prefix: m}}
  feishu: {{leavers: remove, unknown_members: keep, userid_prefix: m}}
roles:
{roles}
teams:
{teams}
tiers: [一线, 二线, 三线]
resources:
  wecom:
{depts['wecom']}
    - {{key: counsellors, kind: tag, name: 心理咨询师}}
    - {{key: doctors, kind: tag, name: 医生}}
{chat('wecom', 'all-hands', '全体志愿者')}
{chat('wecom', 'command', '指挥部')}
  dingtalk:
{depts['dingtalk']}
{chat('dingtalk', 'frontline', '一线志愿者群')}
{chat('dingtalk', 'command', '指挥部')}
{chat('dingtalk', 'medical-chat', '医疗组群')}
{chat('dingtalk', 'training-chat', '培训群')}
{feishu_resources(chats.get('feishu', {}))}
{MANUAL_RESOURCES if manual else ''}
rules:
  - name: everyone
    description: every active volunteer is in the WeCom all-hands chat
    grant: {{resource: wecom/all-hands}}
{team_rules}
  - name: community-leads
    when: {{team: community, role: coordinator}}
    grant: [{{resource: wecom/community, level: manage}}, {{resource: dingtalk/community, level: manage}}]
  - name: counsellors
    when: {{role: counsellor}}
    grant: {{resource: wecom/counsellors}}
  - name: doctors
    when: {{role: doctor}}
    grant: [{{resource: wecom/doctors}}, {{resource: dingtalk/medical-chat}}]
  - name: front-line
    when: {{tier: 一线}}
    grant: {{resource: dingtalk/frontline}}
  - name: training-chat
    when: {{team: training}}
    grant: {{resource: dingtalk/training-chat}}
  - name: command
    when: {{tier: 三线}}
    grant: [{{resource: wecom/command}}, {{resource: dingtalk/command}}]
  - name: command-owners
    description: coordinators on the command tier own the command chats
    when: {{role: coordinator, tier: 三线}}
    grant: [{{resource: wecom/command, level: owner}}, {{resource: dingtalk/command, level: owner}}]
{feishu_rules(chats.get('feishu', {}))}
{MANUAL_RULES if manual else ''}
successors:                   # who takes over what a leaver owns, by the leaver's role
  coordinator: coordinator
  doctor: coordinator
  counsellor: coordinator
  volunteer: coordinator
forms:                        # signup forms: answer codes → person attributes, then screening
{form_mapping('signup', *signup_codes('jinshuju'))}
{form_mapping('signup-wjx', *signup_codes('wenjuanxing'))}
"""


MANUAL_RESOURCES = """\
  wechat:                     # personal WeChat groups: declared in muster.yaml, changed by their owner by hand
    - {key: frontline-doctors, kind: chat, name: 一线医生群}
  shimo:                      # 石墨文档 has no collaborator API: the folder's owner shares it by hand
    - {key: training-docs, kind: folder, name: 培训资料, external_id: 'folder:DemoTraining2020'}"""
MANUAL_RULES = """\
  - name: frontline-doctors
    description: front-line doctors are in the WeChat group the medical team runs
    when: {team: medical, tier: 一线, role: doctor}
    grant: {resource: wechat/frontline-doctors}
  - name: training-docs
    when: {team: training}
    grant: {resource: shimo/training-docs, level: view}
  - name: training-docs-editors
    when: {team: training, role: coordinator}
    grant: {resource: shimo/training-docs, level: edit}"""


def manual_config(people: list, *, owner: str) -> str:
    """The demo's WeChat group and Shimo folder as a coordinator declared them (``people``: ``demo.Member``).

    Most members are named by person id, a few by name and mobile as typed into the group, one
    stranger no roster knows; about a fifth of those the policy grants are missing and a leaver
    is still there (and one Shimo collaborator edits who should view), so the first run issues one
    work item for each.
    """
    doctors = [p for p in people if p.team == "medical" and p.tier == "一线" and "doctor" in p.roles][:300]
    training = [p for p in people if p.team == "training"][:200]
    left = [p for p in people if p.status == "left"]

    def declared(group: list, level: str = "") -> list[str]:
        rows = []
        for i, p in enumerate(group):
            if i % 5 == 4:
                continue  # not added yet
            lvl = f", level: {'edit' if i == 2 else level}" if level else ""  # one shared wider than needed
            rows.append(f"{{name: {p.name}, mobile: '{p.mobile[:3]} {p.mobile[3:7]} {p.mobile[7:]}'{lvl}}}"
                        if i % 7 == 1 else f"{{id: {p.pid}{lvl}}}")
        return rows

    stranger = "{name: 群里的热心人, mobile: '19900000002'}"
    wechat = declared(doctors) + [f"{{id: {p.pid}}}" for p in left if p not in doctors][:1] + [stranger]
    shimo = declared(training, "view") + [f"{{id: {p.pid}, level: edit}}" for p in left if p not in training][-1:]
    lines = "\n".join
    return f"""\
  wechat:                     # 个人微信群: no API; Muster asks each group's owner to make the changes
    remind_after: 2d
    groups:
      - key: frontline-doctors
        name: 一线医生群
        owner: {owner}
        members:
{lines(f"          - {m}" for m in wechat)}
  shimo:                      # 石墨文档 folders: no collaborator API; the owner shares them by hand
    groups:
      - key: training-docs
        name: 培训资料
        owner: {owner}
        members:
{lines(f"          - {m}" for m in shimo)}
"""


def feishu_resources(docs: dict[str, str]) -> str:
    """The Feishu documents the demo shares (documents are named by id: Muster never creates them)."""
    if not docs:
        return ""
    return f"""\
  feishu:                     # documents: external_id is "<type>:<token>" from the document's URL
    - {{key: handbook, kind: doc, name: 志愿者手册, external_id: '{docs['handbook']}'}}
    - {{key: cases, kind: folder, name: 个案资料, external_id: '{docs['cases']}'}}"""


def feishu_rules(docs: dict[str, str]) -> str:
    """Document access as grants: team or role → document → view / edit / manage."""
    if not docs:
        return ""
    return """\
  - name: handbook-readers
    description: the teams that work in Feishu read the handbook
    when: {team: [tech, psych, training]}
    grant: {resource: feishu/handbook, level: view}
  - name: coordinators-docs
    when: {role: coordinator}
    grant: [{resource: feishu/handbook, level: edit}, {resource: feishu/cases, level: manage}]
  - name: counsellors-cases
    description: case files are for counsellors only (confidential tier)
    when: {role: counsellor}
    grant: {resource: feishu/cases, level: view}"""


SIGNUP_NAME = "志愿者报名表"
# the signup form of the demo and the served sandboxes: attribute → (question, choices)
SIGNUP_FIELDS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "name": ("姓名", None),
    "mobile": ("手机", None),
    "email": ("邮箱", None),
    "city": ("所在城市", None),
    "profession": ("职业", ("医生", "护士", "心理咨询师", "社工", "其他")),
    "availability": ("每周可服务时间", None),
    "consent.wecom": ("是否同意加入企业微信", ("是", "否")),
    "consent.dingtalk": ("是否同意加入钉钉", ("是", "否")),
}


def signup_codes(service: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(answer code → attribute, answer code → option code → label) of the signup form on ``service``.

    Jinshuju keys answers ``field_<n>`` and choices by option API codes; Wenjuanxing keys
    them ``q<n>`` and choices by their 1-based index.
    """
    fields, choices = {}, {}
    for n, (target, (_, options)) in enumerate(SIGNUP_FIELDS.items(), start=1):
        code = f"field_{n}" if service == "jinshuju" else f"q{n}"
        fields[code] = target
        if options:
            choices[code] = {(f"f{n}o{i}" if service == "jinshuju" else str(i)): label
                             for i, label in enumerate(options, start=1)}
    return fields, choices


SCREENING = """\
    screening:                # first match wins; no match → a coordinator reviews the signup
      - {when: {profession: [医生, 护士]}, roles: [volunteer, doctor], team: medical, tier: 一线}
      - {when: {profession: 心理咨询师}, roles: [volunteer, counsellor], team: psych, tier: 二线}
      - {when: {profession: 社工}, roles: [volunteer], team: community, tier: 一线}"""


def form_mapping(name: str, fields: dict[str, str], choices: dict[str, dict[str, str]]) -> str:
    """One ``forms.<name>`` section of the demo policy."""
    field_text = ", ".join(f"{k}: {v}" for k, v in fields.items())
    def options(v: dict[str, str]) -> str:
        return ", ".join(f"'{c}': {label}" for c, label in v.items())

    choice_text = "\n".join(f"      {k}: {{{options(v)}}}" for k, v in choices.items())
    return (f"  {name}:\n    fields: {{{field_text}}}\n    choices:\n{choice_text}\n"
            f"    required: [name, mobile]\n{SCREENING}")


def sandbox_config(coalition: str, credentials: dict[str, dict], *, in_process: bool, manual: str = "") -> str:
    """muster.yaml for the sandboxes: in-process (demo) or served over HTTP (``sandbox serve``).

    ``manual`` is the services' section of the groups people change by hand (``manual_config``).
    """
    wc, dt, fs = credentials["wecom"], credentials["dingtalk"], credentials.get("feishu")
    extra = "    sandbox: true\n" if in_process else ""
    # the contacts-sync (通讯录同步) secret: WeCom writes users and departments only with it
    contacts = "    contacts_secret: {env: MUSTER_WECOM_CONTACTS_SECRET}\n" if wc.get("contacts_secret") else ""
    return f"""\
# Connections of the {'demo' if in_process else 'sandbox'} coalition. Secrets are references only.
coalition: {coalition}
database: muster.db
policy: policy.yaml
reports: reports
services:
  wecom:
    base_url: {wc.get('base_url', 'https://qyapi.weixin.qq.com')}
    corpid: {wc['corpid']}
    corpsecret: {{env: MUSTER_WECOM_SECRET}}
    agentid: {wc['agentid']}
{contacts}{extra}  dingtalk:
    base_url: {dt.get('base_url', 'https://oapi.dingtalk.com')}
    appkey: {dt['appkey']}
    appsecret: {{env: MUSTER_DINGTALK_SECRET}}
    agentid: {dt['agentid']}
{extra}{_feishu_config(fs, extra)}{manual}{forms_config(credentials)}{meetings_config(credentials)}"""


def _feishu_config(fs: dict | None, extra: str) -> str:
    if not fs:
        return ""
    return f"""\
  feishu:                     # 飞书: a self-built app with contact, im and drive rights
    base_url: {fs.get('base_url', 'https://open.feishu.cn')}
    app_id: {fs['app_id']}
    app_secret: {{env: MUSTER_FEISHU_SECRET}}
{extra}"""


def meetings_config(credentials: dict[str, dict]) -> str:
    """The meetings section for a served Tencent Meeting sandbox, empty without one."""
    tm = credentials.get("tencent_meeting")
    if not tm:
        return ""
    return f"""\
meetings:                     # training sessions and the service hours they earn
  tencent_meeting:
    base_url: {tm['base_url']}
    app_id: '{tm['app_id']}'
    sdk_id: '{tm['sdk_id']}'
    secret_id: {tm['secret_id']}
    secret_key: {{env: MUSTER_TM_SECRET_KEY}}
    operator_id: {tm['operator_id']}
    userid_from: {tm.get('userid_from') or 'wecom'}
"""


def forms_config(credentials: dict[str, dict]) -> str:
    """The forms section for served form sandboxes (``sandbox serve --info``), empty without them."""
    jin, wjx = credentials.get("jinshuju"), credentials.get("wenjuanxing")
    if not (jin and wjx):
        return ""
    return f"""\
forms:                        # signups: pushed to `muster serve`, or polled with `muster forms poll`
  signup:
    service: jinshuju
    form: {jin['forms']['signup']['token']}
    token: {{env: MUSTER_SIGNUP_PUSH_TOKEN}}   # Jinshuju signs nothing: the push URL carries this token
    base_url: {jin['base_url']}
    api_key: {jin['api_key']}
    api_secret: {{env: MUSTER_JINSHUJU_SECRET}}
  signup-wjx:
    service: wenjuanxing
    form: '{wjx['forms']['signup']['activity']}'
    push_secret: {{env: MUSTER_WJX_PUSH_SECRET}}
    token: {{env: MUSTER_SIGNUP_PUSH_TOKEN}}   # Wenjuanxing's sign does not cover the answers
"""


__all__ = ["SIGNUP_FIELDS", "SIGNUP_NAME", "demo_policy", "manual_config", "sandbox_config", "signup_codes"]
