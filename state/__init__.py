"""Muster's SQLite state: the only package that touches the database.

Every function takes the ``sqlite_utils.Database`` from ``open_db`` as its first argument
and speaks in the domain models of ``mappings.models``; rows never leave this package.
"""

from state.audit import append, append_many, audit_entries, verify
from state.cursors import get_cursor, set_cursor
from state.db import StateError, open_db
from state.identities import add_review, identities_for, link, open_reviews, resolve_review, unlink
from state.journal import (
    applied_state,
    forget_applied,
    journal_rows,
    journal_status,
    mark_applied,
    mark_failed,
    mark_sent,
    record_applied,
    record_planned,
    unconfirmed,
)
from state.plans import load_plan, plan_status, save_plan, set_plan_status
from state.resources import resource_ids, set_resource_id
from state.roster import (
    find_people,
    get_person,
    list_people,
    next_person_id,
    roster_digest,
    set_status,
    upsert_people,
)
from state.runs import finish_run, get_run, last_runs, start_run
from state.snapshots import latest_snapshot, save_snapshot

__all__ = [
    "StateError",
    "add_review",
    "append",
    "append_many",
    "applied_state",
    "audit_entries",
    "find_people",
    "finish_run",
    "forget_applied",
    "get_cursor",
    "get_person",
    "get_run",
    "identities_for",
    "journal_rows",
    "journal_status",
    "last_runs",
    "latest_snapshot",
    "link",
    "list_people",
    "load_plan",
    "mark_applied",
    "mark_failed",
    "mark_sent",
    "next_person_id",
    "open_db",
    "open_reviews",
    "plan_status",
    "record_applied",
    "record_planned",
    "resolve_review",
    "resource_ids",
    "roster_digest",
    "save_plan",
    "save_snapshot",
    "set_cursor",
    "set_plan_status",
    "set_resource_id",
    "set_status",
    "start_run",
    "unconfirmed",
    "unlink",
    "upsert_people",
    "verify",
]
