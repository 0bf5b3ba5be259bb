"""Muster's SQLite state: the only package that touches the database.

Every function takes the ``sqlite_utils.Database`` from ``open_db`` as its first argument
and speaks in the domain models of ``mappings.models``; rows never leave this package.
"""

from state.audit import append, append_many, audit_entries, verify
from state.cursors import get_cursor, set_cursor
from state.db import StateError, open_db
from state.hours import (
    attendance_of,
    confirm_hours,
    correct_hours,
    find_meeting,
    get_meeting,
    hours_corrections,
    hours_ledger,
    known_meetings,
    meeting_created,
    meeting_failed,
    meeting_invitees_set,
    meeting_sent,
    save_attendance,
    store_hours,
)
from state.identities import add_review, identities_for, link, open_reviews, resolve_review, unlink
from state.inbox import claim_pending, get_item, inbox_items, quarantine, quarantined, receive, set_item_status
from state.journal import (
    applied_anywhere,
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
from state.work_items import add_work_item, close_work_item, open_work_items

__all__ = [
    "StateError",
    "add_review",
    "add_work_item",
    "append",
    "append_many",
    "applied_anywhere",
    "applied_state",
    "attendance_of",
    "audit_entries",
    "claim_pending",
    "close_work_item",
    "confirm_hours",
    "correct_hours",
    "find_meeting",
    "find_people",
    "finish_run",
    "forget_applied",
    "get_cursor",
    "get_item",
    "get_meeting",
    "get_person",
    "get_run",
    "hours_corrections",
    "hours_ledger",
    "identities_for",
    "inbox_items",
    "journal_rows",
    "journal_status",
    "known_meetings",
    "last_runs",
    "latest_snapshot",
    "link",
    "list_people",
    "load_plan",
    "mark_applied",
    "mark_failed",
    "mark_sent",
    "meeting_created",
    "meeting_failed",
    "meeting_invitees_set",
    "meeting_sent",
    "next_person_id",
    "open_db",
    "open_reviews",
    "open_work_items",
    "plan_status",
    "quarantine",
    "quarantined",
    "receive",
    "record_applied",
    "record_planned",
    "resolve_review",
    "resource_ids",
    "roster_digest",
    "save_attendance",
    "save_plan",
    "save_snapshot",
    "set_cursor",
    "set_item_status",
    "set_plan_status",
    "set_resource_id",
    "set_status",
    "start_run",
    "store_hours",
    "unconfirmed",
    "unlink",
    "upsert_people",
    "verify",
]
