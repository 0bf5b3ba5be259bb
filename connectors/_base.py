"""The connector contract: small capability protocols a connector opts into.

The flows ask ``isinstance(connector, AppliesMembership)`` rather than knowing services.
Every write takes a delta or a spec and is idempotent: adding a present member, removing
an absent one, creating an account whose id already exists with the same person, all
succeed. ``Runner`` wraps every call (ConnId's wrapper classes): it validates and
normalises inputs, logs entry and exit without payloads, and turns anything unexpected
into a ``ConnectorError`` so callers handle one hierarchy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from connectors._errors import ConnectorError, HubError, InvalidPayload
from mappings.models import (
    AccessDelta,
    Account,
    AccountSpec,
    ApplyResult,
    Group,
    GroupSpec,
    Member,
    MembershipDelta,
)

log = logging.getLogger("muster.connector")


@runtime_checkable
class Connector(Protocol):
    """Every connector: a slug, a connectivity check, and close."""

    name: str

    def check(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ListsPeople(Protocol):
    """Lists every user account visible to the app."""

    def list_people(self) -> Iterator[Account]: ...


@runtime_checkable
class ListsGroups(Protocol):
    """Lists departments, tags and chats, and the members of tags and chats."""

    def list_groups(self) -> Iterator[Group]: ...

    def list_members(self, group: Group) -> Iterator[Member]: ...


@runtime_checkable
class ReadsGroups(Protocol):
    """Reads one group by id: for chats, which neither WeCom nor DingTalk can list."""

    def get_group(self, kind: str, external_id: str) -> Group: ...


@runtime_checkable
class ManagesAccounts(Protocol):
    """Creates, updates and disables user accounts."""

    def create_account(self, spec: AccountSpec) -> ApplyResult: ...

    def update_account(self, external_id: str, fields: dict[str, Any]) -> ApplyResult: ...

    def disable_account(self, external_id: str) -> ApplyResult:
        """Disable (or, where the service has no disabled state, delete) an account.

        A service that hands a deleted user's documents to someone also takes ``acceptor``.
        """


@runtime_checkable
class CreatesGroups(Protocol):
    """Creates departments, tags or chats."""

    def create_group(self, spec: GroupSpec) -> ApplyResult: ...


@runtime_checkable
class AppliesMembership(Protocol):
    """Adds and removes members of a tag or chat, and changes a chat's owner."""

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult: ...


@runtime_checkable
class AppliesAccess(Protocol):
    """Shares documents and folders at a level, revokes, and hands ownership over."""

    def list_grants(self, group: Group) -> Iterator[Member]: ...

    def apply_access(self, group: Group, delta: AccessDelta) -> ApplyResult: ...

    def transfer_owner(self, group: Group, to_external_id: str) -> ApplyResult: ...


@runtime_checkable
class SendsMessages(Protocol):
    """Sends a text notice to accounts.

    ``key`` names the notice (a broadcast id): a connector whose service de-duplicates
    resends (Feishu's ``uuid``, WeCom's duplicate check) uses it so a resend after an
    unanswered call is dropped by the service instead of delivered twice.
    """

    def send_message(self, external_ids: list[str], text: str, key: str | None = None) -> ApplyResult: ...


class Runner:
    """Wraps a connector's calls: validation, id normalisation, logging, one error type."""

    def __init__(self, connector: Connector):
        self.connector = connector
        self.name = connector.name

    def call(self, op: str, *args: Any) -> Any:
        start = time.perf_counter()
        log.debug("%s.%s start", self.name, op)
        try:
            result = getattr(self.connector, op)(*args)
        except HubError:
            log.info("%s.%s failed after %.2fs", self.name, op, time.perf_counter() - start)
            raise
        except Exception as exc:  # a connector bug or an unmapped failure
            raise ConnectorError(f"{op} failed: {type(exc).__name__}: {exc}", service=self.name) from exc
        log.debug("%s.%s done in %.2fs", self.name, op, time.perf_counter() - start)
        return result

    def apply_membership(self, group: Group, delta: MembershipDelta) -> ApplyResult:
        delta = MembershipDelta(
            add=frozenset(_clean(i) for i in delta.add),
            remove=frozenset(_clean(i) for i in delta.remove),
            owner=_clean(delta.owner) if delta.owner is not None else None,
        )
        if "" in delta.add | delta.remove or delta.owner == "":
            raise InvalidPayload("blank member id in membership delta", service=self.name)
        if delta.is_empty():
            raise InvalidPayload("empty membership delta", service=self.name)
        if delta.add & delta.remove:
            raise InvalidPayload(f"ids both added and removed: {sorted(delta.add & delta.remove)}",
                                 service=self.name)
        if delta.owner and delta.owner in delta.remove:
            raise InvalidPayload("the new owner is also being removed", service=self.name)
        return self.call("apply_membership", group, delta)

    def apply_access(self, group: Group, delta: AccessDelta) -> ApplyResult:
        grant = {_clean(k): v for k, v in delta.grant.items()}
        revoke = frozenset(_clean(i) for i in delta.revoke)
        if "" in grant or "" in revoke:
            raise InvalidPayload("blank member id in access delta", service=self.name)
        if not grant and not revoke:
            raise InvalidPayload("empty access delta", service=self.name)
        if set(grant) & revoke:
            raise InvalidPayload(f"ids both granted and revoked: {sorted(set(grant) & revoke)}", service=self.name)
        if "owner" in grant.values() or "member" in grant.values():
            raise InvalidPayload("documents are shared at view, edit or manage; ownership moves by transfer",
                                 service=self.name)
        return self.call("apply_access", group, AccessDelta(grant=grant, revoke=revoke))

    def transfer_owner(self, group: Group, to_external_id: str) -> ApplyResult:
        if not _clean(to_external_id):
            raise InvalidPayload("a transfer needs the new owner's id", service=self.name)
        return self.call("transfer_owner", group, _clean(to_external_id))

    def watch(self, group: Group) -> None:
        """Subscribe to a resource's change events (where the service needs a per-resource subscription)."""
        self.call("watch", group)

    def create_account(self, spec: AccountSpec) -> ApplyResult:
        if not spec.external_id.strip() or not spec.name.strip():
            raise InvalidPayload("account needs an id and a name", service=self.name)
        return self.call("create_account", spec)

    def update_account(self, external_id: str, fields: dict[str, Any]) -> ApplyResult:
        if not fields:
            raise InvalidPayload("empty account update", service=self.name)
        return self.call("update_account", _clean(external_id), fields)

    def disable_account(self, external_id: str, acceptor: str | None = None) -> ApplyResult:
        if acceptor is not None:
            if _clean(acceptor) in ("", _clean(external_id)):
                raise InvalidPayload("the documents' acceptor must be another account", service=self.name)
            return self.call("disable_account", _clean(external_id), _clean(acceptor))
        return self.call("disable_account", _clean(external_id))

    def create_group(self, spec: GroupSpec) -> ApplyResult:
        return self.call("create_group", spec)

    def send_message(self, external_ids: list[str], text: str, key: str | None = None) -> ApplyResult:
        ids = sorted({_clean(i) for i in external_ids if i and i.strip()})
        if not ids or not text.strip():
            raise InvalidPayload("a message needs recipients and text", service=self.name)
        return self.call("send_message", ids, text, key) if key else self.call("send_message", ids, text)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.connector, name)
        if callable(target):
            return lambda *a: self.call(name, *a)
        return target


def _clean(external_id: str) -> str:
    return external_id.strip()


__all__ = [
    "AppliesAccess",
    "AppliesMembership",
    "Connector",
    "CreatesGroups",
    "ListsGroups",
    "ListsPeople",
    "ManagesAccounts",
    "ReadsGroups",
    "Runner",
    "SendsMessages",
]
