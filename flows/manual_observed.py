"""What Muster holds as observed for a service people change by hand (see ``flows.work_items``).

Such a service has no API to read back, so its observed state is built here: the groups as declared (muster.yaml or
a groups file; imported into state only when the declaration changes), updated by every work item marked done, plus
what open work items have asked for, as Muster's last-applied state, so a re-run plans nothing the owner was
already asked to do. ``manual_connector`` is what the pull and the plan read.
"""

from __future__ import annotations

from collections import defaultdict

import state
from config.tenant import ManualConnection
from connectors.manual import (
    DeclarationError,
    DeclaredGroup,
    DeclaredMember,
    ManualConnector,
    ManualGroup,
    ManualMember,
    read_groups_file,
)
from flows.workspace import Workspace
from mappings.identity import userid_for
from mappings.models import Person, digest
from mappings.normalize import normalize_mobile


def declared_groups(ws: Workspace, service: str) -> list[DeclaredGroup]:
    """The groups muster.yaml and the groups file declare; ``DeclarationError`` locates every problem."""
    conn: ManualConnection = ws.connections[service]
    config = str(ws.config_file or "muster.yaml")
    out, errors = [], []
    for i, g in enumerate(conn.groups):
        kind, where = g.kind or conn.default_kind, f"services.{service}.groups[{i}]"
        members = []
        for j, m in enumerate(g.members):
            try:
                mobile = normalize_mobile(m.mobile)
            except ValueError as exc:
                errors.append(f"{where}.members[{j}].mobile: {exc}")
                continue
            members.append(DeclaredMember(person_id=m.id, name=m.name or "", mobile=mobile,
                                          level=m.level or conn.kinds[kind][0], where=f"{where}.members[{j}]"))
        out.append(DeclaredGroup(key=g.key, kind=kind, name=g.name, owner=g.owner, members=tuple(members),
                                 file=config, where=where))
    if errors:
        raise DeclarationError(config, errors, service=service)
    if conn.groups_file is not None:
        inline = {g.key for g in out}
        for g in read_groups_file(conn.groups_file, kinds=conn.kinds):
            if g.key in inline:
                raise DeclarationError(g.file, [f"{g.where}: group: {g.key!r} is also declared in {config}"],
                                       service=service)
            out.append(g)
    return out


def manual_connector(ws: Workspace, service: str) -> ManualConnector:
    """Import the declaration (when it changed) and build the connector over what is confirmed and asked for."""
    declared = declared_groups(ws, service)
    prefix = ws.policy.service(service).userid_prefix
    with ws.lock:
        people = {p.id: p for p in state.list_people(ws.db)}
        state.import_manual_groups(ws.db, service, _resolve(service, declared, people, prefix))
        _register_ids(ws, service, {g.key for g in declared})
        groups = state.manual_groups(ws.db, service)
        items = state.open_work_items(ws.db, service=service)
    ids = {r.key: r.external_id for r in ws.policy.resources.get(service, []) if r.external_id}
    asked: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        asked[item["group_key"]] += item["changes"]
    return ManualConnector(service, [_group(g, ids.get(key, key), asked[key], people, prefix)
                                     for key, g in groups.items()])


def _resolve(service: str, declared: list[DeclaredGroup], people: dict[str, Person], prefix: str) -> list[dict]:
    """Declared groups as state rows: members named by roster person id, or by a mobile only one person has."""
    by_mobile: dict[str, list[str]] = defaultdict(list)
    for p in people.values():
        if p.mobile:
            by_mobile[p.mobile].append(p.id)
    errors: dict[str, list[str]] = defaultdict(list)
    rows = []
    for g in declared:
        if g.owner not in people:
            errors[g.file].append(f"{g.where}: owner: {g.owner!r} is not a person in the roster")
        members: dict[str, dict] = {}
        for m in g.members:
            if m.person_id and m.person_id not in people:
                errors[g.file].append(f"{m.where}: member: {m.person_id!r} is not a person in the roster")
                continue
            row = _member_row(m, people, by_mobile, prefix)
            if row["member_id"] in members:
                errors[g.file].append(f"{m.where}: member: {row['name'] or m.mobile} is listed twice in {g.key}")
            members[row["member_id"]] = row
        body = g.model_dump(exclude={"file", "where"})
        rows.append({"key": g.key, "kind": g.kind, "name": g.name, "owner": g.owner, "members": list(members.values()),
                     "declared": digest(body)[:24]})
    for file, problems in errors.items():
        raise DeclarationError(file, problems, service=service)
    return rows


def _member_row(m: DeclaredMember, people: dict[str, Person], by_mobile: dict[str, list[str]], prefix: str) -> dict:
    pid = m.person_id
    if pid is None and len(by_mobile.get(m.mobile or "", [])) == 1:
        pid = by_mobile[m.mobile][0]  # the one roster person with this mobile; a name alone never matches
    if pid is None:
        return {"member_id": f"tel:{m.mobile}", "person_id": None, "name": m.name, "mobile": m.mobile,
                "level": m.level}
    person = people[pid]
    return {"member_id": userid_for(prefix, pid), "person_id": pid, "name": person.name, "mobile": person.mobile,
            "level": m.level}


def _register_ids(ws: Workspace, service: str, keys: set[str]) -> None:
    """Declared groups the policy names without an id are known by their key (the pull reads them by it)."""
    known = state.resource_ids(ws.db, service)
    for res in ws.policy.resources.get(service, []):
        if res.key in keys and not res.external_id and known.get(res.key) != res.key:
            state.set_resource_id(ws.db, service, res.key, res.key, kind=res.kind, name=res.name, run_id=None)


def _group(g: dict, external_id: str, asked: list[dict], people: dict[str, Person], prefix: str) -> ManualGroup:
    members = {mid: {**m, "member_id": mid} for mid, m in g["members"].items()}
    for c in asked:  # what open items asked for: planned once, not again while the owner works on it
        if c["op"] == "remove":
            members.pop(c["member_id"], None)
        else:
            members[c["member_id"]] = c
    owner = people.get(g["owner"])
    return ManualGroup(key=g["key"], external_id=external_id, kind=g["kind"], name=g["name"],
                       owner=ManualMember(member_id=userid_for(prefix, g["owner"]), name=owner.name if owner else "",
                                          mobile=owner.mobile if owner else None),
                       members=tuple(ManualMember(member_id=mid, name=m.get("name") or "", mobile=m.get("mobile"),
                                                  level=m["level"]) for mid, m in sorted(members.items())))


__all__ = ["declared_groups", "manual_connector"]
