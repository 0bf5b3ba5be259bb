"""The generic SCIM 2.0 connector: Users as accounts, Groups as Muster's flat "tag" groups.

Any RFC 7643/7644 service provider works: the connector uses only core User and Group
attributes, PATCH, ``eq`` filters and index paging, and tolerates the usual deviations
(``op`` in any case on the provider's side, PATCH answered 200 with the resource or 204,
a capped ``count``, a ``totalResults`` that overstates, see ``client.ScimPaginator``).

**Account ids are ``userName``s.** Muster gives the accounts it creates a deterministic id
(``mappings.identity.userid_for``) and links the person before the create is answered, so
``Account.external_id`` is the ``userName`` (also sent as ``externalId``), never the
provider's ``id``. The connector maps ``userName`` ↔ ``id`` itself, case-insensitively as
``userName`` is (RFC 7643 §4.1.1): from ``list_people``, from what it creates, else by
``GET /Users?filter=userName eq "..."``. Group members are ``id``s on the wire and
``userName``s to Muster.

Writes are idempotent. Creating a ``userName`` that exists (409 ``uniqueness``) succeeds
when the existing user is the same person (same email, mobile or name), as a re-run after
a lost answer would find it; anything else is ``AlreadyExists``. A group is created by
name: an existing group of that ``displayName`` is reused (many providers do not enforce
unique names). Membership changes read the group first and send only what is missing, as
ONE PatchOp (an ``add`` of all new members and a ``remove`` per leaving member by value
filter). Accounts are deactivated (``active: false``), never deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr, ValidationError

from connectors._errors import AlreadyExists, InvalidPayload, NotFound
from connectors._http import RetryPolicy
from connectors.scim.client import NO_TARGET, SERVICE, ScimClient, eq_filter
from connectors.scim.models import GROUP_SCHEMA, USER_SCHEMA, ScimGroup, ScimMember, ScimUser, ServiceProviderConfig
from mappings.models import Account, AccountSpec, ApplyResult, Group, GroupSpec, Member, MembershipDelta
from mappings.normalize import clean_text, try_email, try_mobile

PAGE_SIZE = 100
UPDATABLE = frozenset({"name", "mobile", "email", "active"})
IGNORED = frozenset({"departments", "leader_of"})  # SCIM has no departments: the plan's placement is moot
BULK_LOOKUP = 5  # more unknown userNames than this: list every user once instead of one filter each


class ScimConnector:
    """Users and Groups of one SCIM 2.0 service provider, with a bearer token.

    ``page_size`` is the ``count`` asked for per page (providers may serve fewer).
    ``rate_limit`` is True for ``client.DEFAULT_RATE`` calls a second, False for none, or
    a number of calls a second. ``client.calls`` and ``client.writes`` count the calls sent.
    """

    name = SERVICE

    def __init__(
        self,
        base_url: str,
        token: SecretStr | str,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: bool | float = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
    ):
        self.client = ScimClient(base_url, token=token, transport=transport, retry=retry, rate_limit=rate_limit,
                                 clock=clock, sleep=sleep)
        self.page_size = max(1, int(page_size))
        self._ids: dict[str, str] = {}  # userName (casefolded) → SCIM id
        self._names: dict[str, str] = {}  # SCIM id → userName
        self._users_loaded = False  # every user has been read once: an unknown userName does not exist
        self._members: dict[str, list[ScimMember]] = {}  # group id → members, as the last listing gave them

    def check(self) -> None:
        """Read ``/ServiceProviderConfig``, then one user: the config needs no token (RFC 7643 §5), users do."""
        config = ServiceProviderConfig.model_validate(self.client.get("/ServiceProviderConfig") or {})
        if config.patch is not None and not config.patch.supported:
            raise InvalidPayload("the provider does not support PATCH, which Muster needs for every change",
                                 service=SERVICE, api="/ServiceProviderConfig")
        self.client.get("/Users", startIndex=1, count=1)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.client.close()

    # --- people ---------------------------------------------------------------------

    def list_people(self) -> Iterator[Account]:
        """Every user, deactivated ones included (``active`` False), keyed by ``userName``."""
        seen: set[str] = set()
        for raw in self.client.pages("/Users", count=self.page_size):
            user = self._remember(_user(raw))
            if user.id not in seen:  # a page boundary that shifted under a concurrent create
                seen.add(user.id)
                yield to_account(user)
        self._users_loaded = True

    def create_account(self, spec: AccountSpec) -> ApplyResult:
        """``POST /Users`` with ``userName`` = the account id; an existing same person counts as created."""
        try:
            created = self.client.post("/Users", user_body(spec), idempotent=True)
        except AlreadyExists as exc:
            existing = self._find_user(spec.external_id)
            if existing is None:
                raise AlreadyExists(f"cannot create {spec.external_id}: {exc.args[0] if exc.args else exc}",
                                    service=SERVICE, api=exc.api, code=exc.code) from None
            if not same_person(existing, spec):
                raise AlreadyExists(f"userName {existing.user_name} belongs to another person (no email, mobile "
                                    "or name in common)", service=SERVICE, api=exc.api, code=exc.code) from None
            return ApplyResult(created_id=spec.external_id, detail="userName already exists")
        if isinstance(created, dict) and created.get("id"):
            self._remember(_user(created))
        return ApplyResult(created_id=spec.external_id)

    def update_account(self, external_id: str, fields: dict[str, Any]) -> ApplyResult:
        """PATCH replace of name (``displayName`` and ``name.formatted``), email, mobile, ``active``."""
        unknown = set(fields) - UPDATABLE - IGNORED
        if unknown:
            raise InvalidPayload(f"cannot update {sorted(unknown)} on a SCIM account", service=SERVICE)
        operations = update_operations(fields)
        if not operations:
            return ApplyResult(calls=0, detail="nothing SCIM can change")
        self._patch_user(external_id, operations)
        return ApplyResult()

    def disable_account(self, external_id: str) -> ApplyResult:
        """PATCH ``active`` to false: the account stays, deactivated (never DELETE)."""
        self._patch_user(external_id, [{"op": "replace", "path": "active", "value": False}])
        return ApplyResult()

    def _patch_user(self, user_name: str, operations: list[dict[str, Any]]) -> None:
        cached = self._ids.get(user_name.casefold())
        user_id = cached or self._require_id(user_name)
        try:
            answer = self.client.patch(f"/Users/{quote(user_id, safe='')}", operations)
        except NotFound:
            if cached is None:
                raise
            self._forget(user_id)  # deleted and re-created since it was listed: look it up again
            answer = self.client.patch(f"/Users/{quote(self._require_id(user_name), safe='')}", operations)
        if isinstance(answer, dict) and answer.get("id"):
            self._remember(_user(answer))

    # --- groups ---------------------------------------------------------------------

    def list_groups(self) -> Iterator[Group]:
        """Every SCIM Group, as a ``tag``; members the listing carries are kept for ``list_members``."""
        self._members.clear()
        for raw in self.client.pages("/Groups", count=self.page_size):
            group = _group(raw)
            if group.members is not None:
                self._members[group.id] = group.members
            yield tag(group)

    def get_group(self, kind: str, external_id: str) -> Group:
        """One group by its SCIM id; ``NotFound`` if the provider has none."""
        _require_tag(kind)
        group = self._read_group(external_id)
        self._members[group.id] = group.members or []
        return tag(group)

    def list_members(self, group: Group) -> Iterator[Member]:
        """The group's user members by ``userName`` (nested groups and dangling ids are left out).

        Members come from the listing when it carried them, else from ``GET /Groups/{id}``.
        """
        _require_tag(group.kind)
        members = self._members.pop(group.external_id, None)
        if members is None:
            members = self._read_group(group.external_id).members or []
        for member in members:
            if member.is_group() or not member.value:
                continue
            user_name = self._user_name(member.value)
            if user_name is not None:
                yield Member(external_id=user_name)

    def create_group(self, spec: GroupSpec) -> ApplyResult:
        """``POST /Groups`` by ``displayName`` with its members; an existing group of that name is reused."""
        _require_tag(spec.kind)
        existing = self._find_group(spec.name)
        if existing is None:
            ids, rejected = self._member_ids(spec.members)
            body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": spec.name}
            if spec.external_id:
                body["externalId"] = spec.external_id
            if ids:
                body["members"] = [{"value": i} for i in dict.fromkeys(ids.values())]
            try:
                created = _group(self.client.post("/Groups", body, idempotent=False))
            except AlreadyExists:
                existing = self._find_group(spec.name)
                if existing is None:
                    raise
            else:
                return ApplyResult(created_id=created.id, rejected=rejected)
        detail = "group already exists"
        if not spec.members:
            return ApplyResult(created_id=existing.id, calls=0, detail=detail)
        added = self.apply_membership(tag(existing), MembershipDelta(add=frozenset(spec.members)))
        return ApplyResult(created_id=existing.id, rejected=added.rejected, calls=added.calls, detail=detail)

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult:
        """Add and remove members in one PATCH, sending only what is not yet true.

        ``userName``s that do not exist are ``rejected`` when added and ignored when removed.
        A provider that answers 400 ``noTarget`` to a remove (the member left meanwhile) gets
        the group read again and the remaining change sent once more.
        """
        _require_tag(group.kind)
        if delta.owner is not None:
            raise InvalidPayload("SCIM groups have no owner", service=SERVICE)
        scim_group = self._read_group(group.external_id)  # first: an unknown group costs one call
        ids, missing = self._member_ids(sorted(delta.add | delta.remove))
        rejected = tuple(sorted(set(missing) & delta.add))
        adds = list(dict.fromkeys(ids[n] for n in sorted(delta.add) if n in ids))
        removes = list(dict.fromkeys(ids[n] for n in sorted(delta.remove) if n in ids))
        calls = 0
        for attempt in range(2):
            if attempt:
                scim_group = self._read_group(group.external_id)
            current = {m.value for m in scim_group.members or []}
            operations = membership_operations([i for i in adds if i not in current],
                                               [i for i in removes if i in current])
            if not operations:
                break
            calls += 1
            try:
                self.client.patch(f"/Groups/{quote(group.external_id, safe='')}", operations)
            except InvalidPayload as exc:
                if attempt or exc.code != NO_TARGET:
                    raise
                continue
            break
        self._members.pop(group.external_id, None)
        return ApplyResult(rejected=rejected, calls=calls, detail="" if calls else "already true")

    # --- id mapping -----------------------------------------------------------------

    def _remember(self, user: ScimUser) -> ScimUser:
        self._ids[user.user_name.casefold()] = user.id
        self._names[user.id] = user.user_name
        return user

    def _forget(self, user_id: str) -> None:
        name = self._names.pop(user_id, None)
        if name is not None:
            self._ids.pop(name.casefold(), None)

    def _require_id(self, user_name: str) -> str:
        user = self._find_user(user_name)
        if user is None:
            raise NotFound(f"no user with userName {user_name!r}", service=SERVICE, api="/Users", code=404)
        return user.id

    def _find_user(self, user_name: str) -> ScimUser | None:
        """The user with this ``userName`` (a filter search), or None."""
        wanted = user_name.casefold()
        params = {"filter": eq_filter("userName", user_name)}
        for raw in self.client.pages("/Users", count=self.page_size, params=params):
            user = self._remember(_user(raw))
            if user.user_name.casefold() == wanted:  # a provider that ignores the filter lists everyone
                return user
        return None

    def _member_ids(self, user_names: Iterable[str]) -> tuple[dict[str, str], tuple[str, ...]]:
        """userName → SCIM id for those that exist, and the ones that do not."""
        names = list(dict.fromkeys(user_names))
        missing = [n for n in names if n.casefold() not in self._ids]
        if len(missing) > BULK_LOOKUP and not self._users_loaded:
            for _ in self.list_people():
                pass
        if not self._users_loaded:
            for name in missing:
                self._find_user(name)
        ids = {n: self._ids[n.casefold()] for n in names if n.casefold() in self._ids}
        return ids, tuple(n for n in names if n not in ids)

    def _user_name(self, user_id: str) -> str | None:
        if user_id not in self._names:
            try:
                self._remember(_user(self.client.get(f"/Users/{quote(user_id, safe='')}")))
            except NotFound:
                return None  # a member id that is no (longer a) user
        return self._names[user_id]

    def _read_group(self, group_id: str) -> ScimGroup:
        return _group(self.client.get(f"/Groups/{quote(group_id, safe='')}"))

    def _find_group(self, name: str) -> ScimGroup | None:
        """The group whose ``displayName`` is exactly ``name`` (the first, if several), or None."""
        try:
            found = [_group(r) for r in self.client.pages(
                "/Groups", count=self.page_size, params={"filter": eq_filter("displayName", name)})]
        except InvalidPayload:  # no filtering (400 invalidFilter, 501): read them all
            found = [_group(r) for r in self.client.pages("/Groups", count=self.page_size)]
        return next((g for g in found if g.display_name == name), None)


# --- mapping ------------------------------------------------------------------------


def to_account(user: ScimUser) -> Account:
    """A SCIM User as a Muster account: ``external_id`` is its ``userName``."""
    return Account(service=SERVICE, external_id=user.user_name, name=user.full_name(), mobile=user.mobile(),
                   email=user.email(), active=user.active)


def tag(group: ScimGroup) -> Group:
    """A SCIM Group as a Muster ``tag``."""
    return Group(service=SERVICE, kind="tag", external_id=group.id, name=group.display_name)


def user_body(spec: AccountSpec) -> dict[str, Any]:
    """The ``POST /Users`` body of an account spec (departments have no SCIM meaning)."""
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": spec.external_id,
        "externalId": spec.external_id,
        "displayName": spec.name,
        "name": {"formatted": spec.name},
        "active": True,
    }
    if spec.email:
        body["emails"] = [_email(spec.email)]
    if spec.mobile:
        body["phoneNumbers"] = [_phone(spec.mobile)]
    return body


def update_operations(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """PATCH operations setting the given account fields; a blank email or mobile removes it."""
    ops: list[dict[str, Any]] = []
    if "name" in fields:
        ops.append({"op": "replace", "path": "displayName", "value": fields["name"]})
        ops.append({"op": "replace", "path": "name.formatted", "value": fields["name"]})
    for field, path, entry in (("email", "emails", _email), ("mobile", "phoneNumbers", _phone)):
        if field in fields:
            value = fields[field]
            ops.append({"op": "replace", "path": path, "value": [entry(value)]} if value
                       else {"op": "remove", "path": path})
    if "active" in fields:
        ops.append({"op": "replace", "path": "active", "value": bool(fields["active"])})
    return ops


def membership_operations(add: list[str], remove: list[str]) -> list[dict[str, Any]]:
    """One ``add`` of every new member id, and a ``remove`` by value filter per leaving member."""
    ops: list[dict[str, Any]] = []
    if add:
        ops.append({"op": "add", "path": "members", "value": [{"value": i} for i in add]})
    for member_id in remove:
        ops.append({"op": "remove", "path": f"members[value eq {json.dumps(member_id)}]"})
    return ops


def same_person(user: ScimUser, spec: AccountSpec) -> bool:
    """Whether an existing user is the spec's person: same email, mobile or name."""
    email = try_email(spec.email)
    if email and any(try_email(e.value) == email for e in user.emails):
        return True
    mobile = try_mobile(spec.mobile)
    if mobile and any(try_mobile(p.value) == mobile for p in user.phone_numbers):
        return True
    name = clean_text(spec.name)
    return bool(name) and clean_text(user.full_name()) == name


def _email(value: str) -> dict[str, Any]:
    return {"value": value, "type": "work", "primary": True}


def _phone(value: str) -> dict[str, Any]:
    return {"value": value, "type": "mobile"}


def _require_tag(kind: str) -> None:
    if kind != "tag":
        raise InvalidPayload(f"SCIM has flat groups only (kind 'tag'), not {kind!r}", service=SERVICE)


def _user(raw: Any) -> ScimUser:
    try:
        return ScimUser.model_validate(raw)
    except ValidationError as exc:
        raise InvalidPayload(f"unreadable User resource: {_first_error(exc)}", service=SERVICE) from None


def _group(raw: Any) -> ScimGroup:
    try:
        return ScimGroup.model_validate(raw)
    except ValidationError as exc:
        raise InvalidPayload(f"unreadable Group resource: {_first_error(exc)}", service=SERVICE) from None


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}"


__all__ = ["PAGE_SIZE", "ScimConnector", "membership_operations", "same_person", "to_account", "update_operations",
           "user_body"]
