"""Document and folder access on Feishu: drive v1 permission members, by ``user_id``.

A ``doc``/``folder`` group's ``external_id`` is ``"<type>:<token>"``: every drive call
needs the file type next to the token (1063001 otherwise). Grants are written with
``member_type=userid``, but the member listing has no id-type query and names users by
``openid``, so ``list_grants`` maps those back to user_ids with one ``users/batch`` read
per 50 collaborators; collaborators the app cannot see (other tenants, chats,
departments) are left out, as Muster cannot name them. Levels: ``view``/``edit`` are
Feishu's, Muster's ``manage`` is ``full_access``.

A doc/folder's title and owner come from its metadata (``metas/batch_query``); a doc that
is deleted or out of the app's reach is ``NotFound``/``PermissionDenied``. ``list_folder``
walks a folder's files (``drive/v1/files``) and every sub-folder's below it, once each.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from connectors._errors import InvalidPayload
from connectors.feishu.client import DOC_TYPES, FeishuClient
from mappings.models import AccessDelta, ApplyResult, Group, Member

LEVEL_TO_PERM = {"view": "view", "edit": "edit", "manage": "full_access"}
PERM_TO_LEVEL = {"view": "view", "edit": "edit", "full_access": "manage", "owner": "owner"}


class DocAccess:
    """``get_document``, ``list_folder``, grants and ``transfer_owner`` for a connector holding ``client``."""

    name = "feishu"
    client: FeishuClient

    def get_document(self, kind: str, external_id: str) -> Group:
        """A doc/folder with its title and owner (``user_id``), read from its metadata."""
        doc_type, token = doc_id(Group(service=self.name, kind=kind, external_id=external_id, name=external_id))
        meta = self.client.get_meta(token, doc_type)
        return Group(service=self.name, kind=kind, external_id=external_id, name=meta.title or external_id,
                     owner=meta.owner_id or None)

    def list_folder(self, folder: Group) -> Iterator[Group]:
        """Every file in a folder and, breadth first, in its sub-folders (each yielded too), once each.

        Types a doc id cannot name (``shortcut``) are skipped; a folder met twice is not
        walked again, so a cycle cannot loop.
        """
        doc_type, token = doc_id(folder)
        if doc_type != "folder":
            raise InvalidPayload(f"{folder.external_id} is not a folder", service=self.name)
        seen, queue = {token}, deque([token])
        while queue:
            for item in self.client.list_files(queue.popleft()):
                if item.type not in DOC_TYPES or item.token in seen:
                    continue
                seen.add(item.token)
                if item.type == "folder":
                    queue.append(item.token)
                yield Group(service=self.name, kind="folder" if item.type == "folder" else "doc",
                            external_id=f"{item.type}:{item.token}", name=item.name or item.token,
                            owner=item.owner_id or None)

    def list_grants(self, group: Group) -> Iterator[Member]:
        """Collaborators of a doc/folder that are users of this tenant, levels mapped to ours.

        The listing does not include the owner (sandbox assumption, unverified); a row with
        ``perm == "owner"`` would map to "owner".
        """
        doc_type, token = doc_id(group)
        rows = [r for r in self.client.list_permission_members(token, doc_type) if r.perm in PERM_TO_LEVEL]
        open_ids = [r.member_id for r in rows if r.member_type == "openid"]
        users = self.client.users_by_open_id(open_ids) if open_ids else {}
        for row in rows:
            if row.member_type == "userid":
                yield Member(external_id=row.member_id, level=PERM_TO_LEVEL[row.perm])
            elif row.member_type == "openid" and row.member_id in users:
                yield Member(external_id=users[row.member_id].key(), level=PERM_TO_LEVEL[row.perm])

    def apply_access(self, group: Group, delta: AccessDelta) -> ApplyResult:
        """Grant/change/revoke after reading the current grants: nothing already in place is sent."""
        doc_type, token = doc_id(group)
        wanted = {}
        for user_id, level in delta.grant.items():
            if level not in LEVEL_TO_PERM:
                raise InvalidPayload(f"level {level!r} cannot be granted on a Feishu doc", service=self.name)
            wanted[user_id] = LEVEL_TO_PERM[level]
        current = {m.external_id: m.level for m in self.list_grants(group)}
        calls = 0
        for user_id, perm in sorted(wanted.items()):
            level = current.get(user_id)
            if level == "owner" or level == PERM_TO_LEVEL[perm]:
                continue
            if level is None:
                self.client.add_permission_member(token, doc_type, user_id, perm)
            else:
                self.client.update_permission_member(token, doc_type, user_id, perm)
            calls += 1
        for user_id in sorted(set(delta.revoke) & set(current)):
            if current[user_id] != "owner":
                self.client.delete_permission_member(token, doc_type, user_id)
                calls += 1
        return ApplyResult(calls=calls, detail="" if calls else "already in place")

    def transfer_owner(self, group: Group, to_external_id: str, *, old_owner_perm: str = "view") -> ApplyResult:
        """Hand a doc/folder to ``to_external_id``; the old owner keeps ``view`` (never removed) by default."""
        doc_type, token = doc_id(group)
        if old_owner_perm not in LEVEL_TO_PERM.values():
            raise InvalidPayload(f"old owner perm {old_owner_perm!r} is not a Feishu perm", service=self.name)
        self.client.transfer_owner(token, doc_type, to_external_id, remove_old_owner=False,
                                   old_owner_perm=old_owner_perm)
        return ApplyResult()

    def watch(self, group: Group) -> None:
        """Ask Feishu to send this doc's permission events, so drift reports can name who changed access."""
        doc_type, token = doc_id(group)
        self.client.subscribe_file(token, doc_type)


def doc_id(group: Group) -> tuple[str, str]:
    """``(type, token)`` of a doc/folder group whose external id is ``"<type>:<token>"``."""
    doc_type, sep, token = group.external_id.partition(":")
    if group.kind not in ("doc", "folder") or not sep or not token or doc_type not in DOC_TYPES:
        raise InvalidPayload(f"not a Feishu doc id: {group.external_id!r} (want '<type>:<token>')",
                             service="feishu")
    if (group.kind == "folder") != (doc_type == "folder"):
        raise InvalidPayload(f"a {group.kind} cannot have type {doc_type!r}", service="feishu")
    return doc_type, token


__all__ = ["LEVEL_TO_PERM", "PERM_TO_LEVEL", "DocAccess", "doc_id"]
