"""The registry of connector/sandbox pairs the contract suite runs over.

Each service in ``connectors.SERVICES`` needs one ``Pair`` subclass here: it builds the
connector against a fresh sandbox with a fake clock, a recording ``sleep`` and zero-wait
retries, seeds people so that listing takes several pages, and names the service's own
bits (API paths, the rate-limit wait, which groups take membership deltas). Everything
else the suite checks is generic.

Services that put ids in the path (Feishu: ``/contact/v3/users/:user_id``) name their APIs
by template; ``Pair.api_key`` folds the paths the sandbox saw into those names, so counts
stay exact per API.

Time is one ``FakeTime``: the connector reads ``client()``, the sandbox ``server()``;
they differ only by ``skew``, so a test can age the service's tokens without the client
knowing. Retry waits and rate-limiter waits are recorded apart (``waits``, ``throttled``)
and both advance the clock; nothing ever sleeps for real.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import httpx

import connectors
from connectors import FaultPlan, RetryPolicy
from connectors.dingtalk.client import PAGE_SIZE as DINGTALK_PAGE_SIZE
from connectors.dingtalk.client import RATE_LIMIT_WAIT as DINGTALK_RATE_LIMIT_WAIT
from connectors.feishu.client import CONTACT_PAGE_SIZE as FEISHU_PAGE_SIZE
from connectors.feishu.client import RATE_LIMIT_WAIT as FEISHU_RATE_LIMIT_WAIT
from connectors.wecom.client import RETRY_AFTER as WECOM_RETRY_AFTER
from mappings.models import Group

START = 1_700_000_000.0  # 2023-11-15 06:13:20 +08:00
OWNER, MEMBER, NEWCOMER = "alice", "bob", "carol"
SECOND_DEPT = 2  # every fifth seeded person is also here
TEAM_DEPT = 3  # OWNER and MEMBER are also here: a department membership target
BASE_USERS = 3  # OWNER, MEMBER, NEWCOMER, in every sandbox build() makes
MOBILES = {OWNER: "13890000000", MEMBER: "13890000001", NEWCOMER: "13890000002"}  # seed_people's stay below
FRESH_MOBILE = "13899999999"  # nobody has it


class FakeTime:
    """One fake clock for client and sandbox; sleeping advances it and is recorded."""

    def __init__(self, now: float = START):
        self.now = now
        self.skew = 0.0  # how far the sandbox's clock runs ahead of the client's
        self.waits: list[float] = []  # retry waits (RetryPolicy.sleep)
        self.throttled: list[float] = []  # client rate-limiter waits

    def client(self) -> float:
        return self.now

    def server(self) -> float:
        return self.now + self.skew

    def retry_sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def limiter_sleep(self, seconds: float) -> None:
        self.throttled.append(seconds)
        self.now += seconds


class Gateway:
    """The connector's transport: the sandbox behind a front proxy that can answer HTTP 502."""

    def __init__(self, sandbox: Any, api_key: Callable[[str], str] = str):
        self.sandbox = sandbox
        self.api_key = api_key
        self.failures = 0  # how many of the next requests the proxy answers 502 itself
        self.calls: Counter[str] = Counter()  # "METHOD /path" (folded by ``api_key``) answered 502 by the proxy

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.failures:
            self.failures -= 1
            self.calls[self.api_key(f"{request.method} {request.url.path}")] += 1
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>",
                                  headers={"Content-Type": "text/html"})
        return self.sandbox(request)


@dataclass
class Env:
    """A connector wired to a fresh sandbox, and the fake time they share."""

    pair: Pair
    sandbox: Any
    connector: Any
    time: FakeTime
    retry: RetryPolicy
    gateway: Gateway

    @property
    def client(self) -> Any:
        return self.connector.client

    def warm(self) -> None:
        """Fetch the token with one cheap read, so faults can target the next call."""
        self.pair.read(self.connector)

    def fault(self, *kinds: str) -> None:
        """Inject ``kinds`` on the next requests the sandbox receives, in order."""
        for offset, kind in enumerate(kinds, start=1):
            self.sandbox.faults.schedule[self.sandbox.requests + offset] = kind

    def mark(self) -> Mark:
        return Mark(Counter(self.sandbox.calls), self.sandbox.requests, self.sandbox.write_calls,
                    Counter(self.client.calls), self.client.auth.fetches)

    def since(self, mark: Mark) -> Counter:
        """Requests per ``"METHOD /path"`` (folded by ``Pair.api_key``) the sandbox received after ``mark``."""
        return self.pair.fold(Counter(self.sandbox.calls) - mark.calls)

    def writes_since(self, mark: Mark) -> int:
        return self.sandbox.write_calls - mark.writes

    def sent_since(self, mark: Mark) -> Counter:
        """Calls the client sent (retries counted, auth-flow resends not) after ``mark``.

        Keyed like the sandbox's counts (``"METHOD /path"``) though the client counts by path.
        """
        methods = {api.split(" ", 1)[1]: api.split(" ", 1)[0] for api in self.sandbox.calls}
        sent = Counter(self.client.calls) - mark.client_calls
        return self.pair.fold(Counter({f"{methods.get(path, '?')} {path}": n for path, n in sent.items()}))

    def fetches_since(self, mark: Mark) -> int:
        return self.client.auth.fetches - mark.fetches


@dataclass(frozen=True)
class Mark:
    calls: Counter
    requests: int
    writes: int
    client_calls: Counter
    fetches: int


@dataclass
class Pair:
    """What the contract suite needs to know about one service; subclass per service."""

    slug: str = ""
    token_api: str = ""  # "METHOD /path" of the token endpoint
    department_get_api: str = ""  # the cheap idempotent read (get_group department)
    chat_get_api: str = ""
    user_create_api: str = ""
    user_update_api: str = ""
    chat_create_api: str = ""
    retry_after: float = 0.0  # the wait the connector takes from the service's rate-limit answer
    check_api: str = ""  # what check() reads after fetching a token
    secret_field: str = ""  # the secret's key in ``sandbox.credentials``
    root_department: str = "1"
    people_to_page: int = 0  # how many users to seed so that listing needs several pages
    chat_create_idempotent: bool = False  # the service de-duplicates chat creates by a key of ours
    _open: list = field(default_factory=list, repr=False)

    # --- building -------------------------------------------------------------------

    def build(self, *, rate_limit: bool = True, attempts: int = RetryPolicy.attempts, paged: bool = False,
              people: int = 0) -> Env:
        """A fresh sandbox (three users, ``people`` more) and a connector on it.

        Retries wait zero seconds (a ``retry_after`` is waited in fake time); ``paged``
        sets the sandbox and connector up so that ``list_people`` takes its paged path.
        """
        time = FakeTime()
        sandbox = connectors.sandbox_class(self.slug)(clock=time.server, faults=FaultPlan())
        sandbox.add_department(SECOND_DEPT, "Counselling")
        sandbox.add_department(TEAM_DEPT, "Night shift")
        root = int(self.root_department)
        for userid, phone in MOBILES.items():
            depts = [root] if userid == NEWCOMER else [root, TEAM_DEPT]
            sandbox.add_user(userid, userid.title(), mobile=phone, departments=depts)
        self.seed_people(sandbox, people)
        connector_kw = self.paged(sandbox) if paged else {}
        retry = RetryPolicy(attempts=attempts, backoff=0.0, jitter=0.0, sleep=time.retry_sleep)
        gateway = Gateway(sandbox, self.api_key)
        connector = connectors.connector_class(self.slug).from_sandbox(
            sandbox, transport=httpx.MockTransport(gateway), retry=retry, rate_limit=rate_limit,
            clock=time.client, sleep=time.limiter_sleep, **connector_kw)
        # nothing may fall back to time.sleep
        assert connector.client.retry.sleep == time.retry_sleep
        assert connector.client.limiter.sleep == time.limiter_sleep
        self._open.append(connector)
        return Env(self, sandbox, connector, time, retry, gateway)

    def close(self) -> None:
        for connector in self._open:
            connector.close()

    # --- reads ------------------------------------------------------------------------

    def read(self, connector: Any) -> Group:
        """The cheap idempotent read: the root department."""
        return connector.get_group("department", self.root_department)

    def reads_to_check(self, group: Group) -> int:
        """Reads ``apply_membership`` needs to find a delta already in place (one, where the read shows all)."""
        return 1

    # --- naming APIs ------------------------------------------------------------------

    def api_key(self, call: str) -> str:
        """The name counts use for ``"METHOD /path"``: the path itself, unless it carries ids."""
        return call

    def fold(self, calls: Counter) -> Counter:
        """``calls`` keyed by ``api_key``."""
        folded: Counter[str] = Counter()
        for call, n in calls.items():
            folded[self.api_key(call)] += n
        return folded

    # --- seeding ------------------------------------------------------------------------

    def seed_people(self, sandbox: Any, n: int) -> set[str]:
        """``n`` users, every fifth also in a second department (listed twice by the API)."""
        ids: set[str] = set()
        root = int(self.root_department)
        for i in range(n):
            depts = [root, SECOND_DEPT] if i % 5 == 0 else [root]
            ids.add(sandbox.add_user(f"u{i:04d}", f"User {i}", mobile=mobile(i), departments=depts))
        return ids

    @staticmethod
    def in_second_department(n: int) -> int:
        return len(range(0, n, 5))

    def paged(self, sandbox: Any) -> dict[str, Any]:
        """Make ``list_people`` take its paged path; return extra connector arguments."""
        return {}

    def list_calls(self, n: int) -> Counter:
        """Exact requests ``list_people`` sends on the paged path for ``seed_people(n)``."""
        raise NotImplementedError

    def membership_groups(self, sandbox: Any) -> list[Group]:
        """Seeded groups ``apply_membership`` writes, holding OWNER and MEMBER, not NEWCOMER."""
        sandbox.add_chat("chat1", "Night team", OWNER, [MEMBER])
        return [Group(service=self.slug, kind="chat", external_id="chat1", name="Night team", owner=OWNER)]


def mobile(i: int) -> str:
    return f"138{i:08d}"


@dataclass
class WeComEnv(Env):
    """WeCom holds two tokens: the contacts-sync one (users, departments) and the app's (tags,
    chats, messages). ``warm`` fetches both, so a fault scheduled after it hits the business call."""

    def warm(self) -> None:
        super().warm()  # department/get: the contacts token
        self.client.get("tag/list")  # the app token


@dataclass
class WeComPair(Pair):
    """WeCom: user/list is one call; the paged path is user/list_id + user/get per user.

    ``legacy_contacts_blocked`` makes the sandbox refuse the detail list (48002), as WeCom
    does for contacts secrets on new IPs since 2022-08-15; the connector then pages
    ``user/list_id`` (relations: one row per user per department) at ``page_size``.
    The sandbox's contacts-sync secret is the one ``check`` reads with (a contacts read).
    """

    slug: str = "wecom"
    token_api: str = "GET /cgi-bin/gettoken"
    check_api: str = "GET /cgi-bin/department/simplelist"
    secret_field: str = "contacts_secret"

    def build(self, **kw: Any) -> Env:
        env = super().build(**kw)
        return WeComEnv(**{f.name: getattr(env, f.name) for f in fields(env)})
    department_get_api: str = "GET /cgi-bin/department/get"
    chat_get_api: str = "GET /cgi-bin/appchat/get"
    user_create_api: str = "POST /cgi-bin/user/create"
    user_update_api: str = "POST /cgi-bin/user/update"
    chat_create_api: str = "POST /cgi-bin/appchat/create"
    retry_after: float = WECOM_RETRY_AFTER[45009]  # the 'ratelimit' fault answers 45009
    people_to_page: int = 25
    page_size: int = 10

    def paged(self, sandbox: Any) -> dict[str, Any]:
        sandbox.legacy_contacts_blocked = True
        return {"page_size": self.page_size}

    def list_calls(self, n: int) -> Counter:
        people = n + BASE_USERS
        relations = people + self.in_second_department(n) + 2  # OWNER, MEMBER are in TEAM_DEPT too
        return Counter({
            "GET /cgi-bin/user/list": 1,  # refused with 48002, not retried
            "POST /cgi-bin/user/list_id": math.ceil(relations / self.page_size),
            "GET /cgi-bin/user/get": people,
        })

    def membership_groups(self, sandbox: Any) -> list[Group]:
        sandbox.add_tag(7, "Night", [OWNER, MEMBER])
        tag = Group(service=self.slug, kind="tag", external_id="7", name="Night")
        return [*super().membership_groups(sandbox), tag]


@dataclass
class DingTalkPair(Pair):
    """DingTalk: departments are walked from the root, each paged at 100 direct members."""

    slug: str = "dingtalk"
    token_api: str = "GET /gettoken"
    check_api: str = "POST /topapi/v2/department/get"
    secret_field: str = "appsecret"
    department_get_api: str = "POST /topapi/v2/department/get"
    chat_get_api: str = "GET /chat/get"
    user_create_api: str = "POST /topapi/v2/user/create"
    user_update_api: str = "POST /topapi/v2/user/update"
    chat_create_api: str = "POST /chat/create"
    retry_after: float = DINGTALK_RATE_LIMIT_WAIT  # 90002's punishment
    people_to_page: int = 250

    def list_calls(self, n: int) -> Counter:
        root, second, team = n + BASE_USERS, self.in_second_department(n), 2
        pages = sum(math.ceil(members / DINGTALK_PAGE_SIZE) for members in (root, second, team))
        return Counter({
            "POST /topapi/v2/department/listsubid": 3,  # root, SECOND_DEPT, TEAM_DEPT
            "POST /topapi/v2/user/list": pages,
        })

    def membership_groups(self, sandbox: Any) -> list[Group]:
        dept = Group(service=self.slug, kind="department", external_id=str(TEAM_DEPT), name="Night shift",
                     parent_id="1")
        return [*super().membership_groups(sandbox), dept]


FEISHU = "/open-apis"
FEISHU_PATH_IDS = [  # (pattern, template) in lark-oapi's URI style
    (re.compile(r"^(\S+ /open-apis/contact/v3/departments/)[^/]+"), r"\1:department_id"),
    (re.compile(r"^(\S+ /open-apis/contact/v3/users/)(?!find_by_department$|batch$)[^/]+$"), r"\1:user_id"),
    (re.compile(r"^(\S+ /open-apis/im/v1/chats/)[^/]+"), r"\1:chat_id"),
    (re.compile(r"^(\S+ /open-apis/drive/v1/permissions/)[^/]+"), r"\1:token"),
    (re.compile(r"^(\S+ /open-apis/drive/v1/permissions/:token/members/)(?!transfer_owner$)[^/]+$"),
     r"\1:member_id"),
]


@dataclass
class FeishuPair(Pair):
    """Feishu: users by ``user_id``, root department ``"0"``, ids in the path.

    Departments are walked from the root (``children`` of each) and each department's
    direct members paged at 50. A chat's owner and its members are two reads
    (``GET /im/v1/chats/:chat_id`` has no member list, the member list no owner), and a
    chat create carries a ``uuid`` that de-duplicates it, so its resend is safe.
    """

    slug: str = "feishu"
    token_api: str = f"POST {FEISHU}/auth/v3/tenant_access_token/internal"
    check_api: str = f"GET {FEISHU}/contact/v3/departments/0"
    secret_field: str = "app_secret"
    department_get_api: str = f"GET {FEISHU}/contact/v3/departments/:department_id"
    chat_get_api: str = f"GET {FEISHU}/im/v1/chats/:chat_id"
    user_create_api: str = f"POST {FEISHU}/contact/v3/users"
    user_update_api: str = f"PATCH {FEISHU}/contact/v3/users/:user_id"
    chat_create_api: str = f"POST {FEISHU}/im/v1/chats"
    retry_after: float = FEISHU_RATE_LIMIT_WAIT  # the sandbox's 429 says x-ogw-ratelimit-reset: 1
    root_department: str = "0"
    people_to_page: int = 120
    chat_create_idempotent: bool = True

    def api_key(self, call: str) -> str:
        for pattern, template in FEISHU_PATH_IDS:
            call = pattern.sub(template, call)
        return call

    def reads_to_check(self, group: Group) -> int:
        return 2 if group.kind == "chat" else 1

    def list_calls(self, n: int) -> Counter:
        root, second, team = n + BASE_USERS, self.in_second_department(n), 2
        pages = sum(math.ceil(members / FEISHU_PAGE_SIZE) for members in (root, second, team))
        return Counter({
            f"GET {FEISHU}/contact/v3/departments/:department_id/children": 3,  # root, SECOND_DEPT, TEAM_DEPT
            f"GET {FEISHU}/contact/v3/users/find_by_department": pages,
        })

    def membership_groups(self, sandbox: Any) -> list[Group]:
        dept = Group(service=self.slug, kind="department", external_id=str(TEAM_DEPT), name="Night shift",
                     parent_id=self.root_department)
        return [*super().membership_groups(sandbox), dept]


PAIRS: dict[str, type[Pair]] = {"wecom": WeComPair, "dingtalk": DingTalkPair, "feishu": FeishuPair}


def pair_for(slug: str) -> Pair:
    """A fresh adapter for ``slug``; ``LookupError`` when the service has none."""
    try:
        return PAIRS[slug]()
    except KeyError:
        raise LookupError(
            f"service {slug!r} is registered in connectors.SERVICES but has no contract adapter: "
            "add a Pair subclass for it to tests/contract/pairs.py"
        ) from None
