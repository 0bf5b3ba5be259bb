"""The whole schema history of a Muster database, as one ordered set of migrations.

A database records which migrations it has had (``_sqlite_migrations``), so ``open_db``
applies only the new ones, each in its own transaction together with that record. Never
edit or rename a function once it has shipped: add a new one below it. Production code
never creates or alters tables on the fly (no ``alter=True``); every table, key and
index is declared here, so the schema is the same on every coalition's machine.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

MIGRATIONS = Migrations("muster")


@MIGRATIONS()
def m001_people(db: Database) -> None:
    db["people"].create(
        {"id": str, "name": str, "mobile": str, "email": str, "status": str, "team": str,
         "tier": str, "attributes": str, "updated_at": str},
        pk="id",
        not_null={"id", "name", "status", "attributes", "updated_at"},
        defaults={"status": "active", "attributes": "{}"},
    )
    db["people"].create_index(["mobile"], index_name="people_mobile")
    db["people"].create_index(["status"], index_name="people_status")
    # Emails are matched case-insensitively; the index must share the collation to be used.
    db.execute("CREATE INDEX people_email ON people (email COLLATE NOCASE)")


@MIGRATIONS()
def m002_role_assignments(db: Database) -> None:
    db["role_assignments"].create(
        {"person_id": str, "position": int, "role": str, "start": str, "end": str},
        pk=("person_id", "position"),
        not_null={"person_id", "position", "role"},
        foreign_keys=[("person_id", "people", "id")],
    )
    db["role_assignments"].create_index(["role"], index_name="role_assignments_role")


@MIGRATIONS()
def m003_identities(db: Database) -> None:
    db["identities"].create(
        {"service": str, "external_id": str, "person_id": str, "matched_by": str, "linked_at": str},
        pk=("service", "external_id"),
        not_null={"service", "external_id", "person_id", "matched_by", "linked_at"},
        foreign_keys=[("person_id", "people", "id")],
    )
    db["identities"].create_index(["person_id"], index_name="identities_person")


@MIGRATIONS()
def m004_reviews(db: Database) -> None:
    db["reviews"].create(
        {"id": int, "service": str, "external_id": str, "reason": str, "candidates": str,
         "created_at": str, "updated_at": str, "resolved_at": str, "resolution": str},
        pk="id",
        not_null={"service", "external_id", "reason", "candidates", "created_at", "updated_at"},
    )
    # Resolved items stay as history; at most one is open per account.
    db.execute(
        "CREATE UNIQUE INDEX reviews_open ON reviews (service, external_id) WHERE resolved_at IS NULL"
    )


@MIGRATIONS()
def m005_resources(db: Database) -> None:
    db["resources"].create(
        {"service": str, "key": str, "external_id": str, "kind": str, "name": str,
         "run_id": str, "updated_at": str},
        pk=("service", "key"),
        not_null={"service", "key", "external_id", "kind", "name", "updated_at"},
    )


@MIGRATIONS()
def m006_snapshots(db: Database) -> None:
    db["snapshots"].create(
        {"id": int, "service": str, "run_id": str, "taken_at": str, "complete": int,
         "fingerprint": str, "observed": str},
        pk="id",
        not_null={"service", "run_id", "taken_at", "complete", "fingerprint", "observed"},
    )
    db["snapshots"].create_index(["service", "run_id"], index_name="snapshots_service_run", unique=True)


@MIGRATIONS()
def m007_cursors(db: Database) -> None:
    db["cursors"].create(
        {"connector": str, "stream": str, "value": str, "updated_at": str},
        pk=("connector", "stream"),
        not_null={"connector", "stream", "value", "updated_at"},
    )


@MIGRATIONS()
def m008_runs(db: Database) -> None:
    db["runs"].create(
        {"id": str, "kind": str, "actor": str, "params": str, "status": str,
         "started_at": str, "finished_at": str, "summary": str},
        pk="id",
        not_null={"id", "kind", "actor", "params", "status", "started_at"},
    )
    db["runs"].create_index(["started_at"], index_name="runs_started")


@MIGRATIONS()
def m009_plans(db: Database) -> None:
    db["plans"].create(
        {"id": str, "run_id": str, "status": str, "basis": str, "created_at": str,
         "saved_at": str, "changes": int, "refused": int, "body": str},
        pk="id",
        not_null={"id", "status", "basis", "saved_at", "changes", "refused", "body"},
    )


@MIGRATIONS()
def m010_journal(db: Database) -> None:
    db["journal"].create(
        {"plan_id": str, "key": str, "run_id": str, "service": str, "target": str,
         "object_id": str, "op": str, "change": str, "planned_at": str, "attempts": int,
         "sent_at": str, "applied_at": str, "failed_at": str, "last_error": str, "result": str},
        pk=("plan_id", "key"),
        not_null={"plan_id", "key", "service", "target", "object_id", "op", "change", "planned_at",
                  "attempts"},
        defaults={"attempts": 0},
    )
    db["journal"].create_index(["key"], index_name="journal_key")
    # Crash recovery asks for "sent, never answered" across all plans: keep that set indexed.
    db.execute(
        "CREATE INDEX journal_unconfirmed ON journal (sent_at)"
        " WHERE sent_at IS NOT NULL AND applied_at IS NULL AND failed_at IS NULL"
    )


@MIGRATIONS()
def m011_applied_state(db: Database) -> None:
    db["applied_state"].create(
        {"service": str, "target": str, "object_id": str, "value": str, "run_id": str,
         "applied_at": str},
        pk=("service", "target", "object_id"),
        not_null={"service", "target", "object_id", "value", "run_id", "applied_at"},
    )


@MIGRATIONS()
def m012_audit(db: Database) -> None:
    db["audit"].create(
        {"seq": int, "at": str, "run_id": str, "actor": str, "action": str, "service": str,
         "target": str, "object_id": str, "reason": str, "detail": str, "approved_by": str,
         "prev_hash": str, "hash": str},
        pk="seq",
        not_null={"at", "actor", "action", "service", "target", "object_id", "reason",
                  "detail", "prev_hash", "hash"},
    )
    db["audit"].create_index(["run_id"], index_name="audit_run")
    # Append-only by construction: a casual UPDATE or DELETE fails. verify() catches the rest.
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_no_{event.lower()} BEFORE {event} ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        )


@MIGRATIONS()
def m013_inbox(db: Database) -> None:
    # Form pushes, stored before they are answered; one row per (configured form, entry serial).
    db["inbox"].create(
        {"id": int, "form": str, "serial": str, "service": str, "payload": str, "entry": str,
         "received_at": str, "updated_at": str, "status": str, "person_id": str, "error": str,
         "attempts": int},
        pk="id",
        not_null={"form", "serial", "service", "payload", "entry", "received_at", "updated_at", "status",
                  "attempts"},
        defaults={"status": "received", "attempts": 0},
    )
    db["inbox"].create_index(["form", "serial"], index_name="inbox_form_serial", unique=True)
    db["inbox"].create_index(["status", "updated_at"], index_name="inbox_status")
    # Rejected pushes, kept as evidence so nothing a sender posted is lost; never processed automatically.
    db["quarantine"].create(
        {"id": int, "form": str, "received_at": str, "reason": str, "body": str, "remote": str},
        pk="id",
        not_null={"received_at", "reason", "body"},
    )


@MIGRATIONS()
def m014_work_items(db: Database) -> None:
    # Changes a human must make because no API can (a hand-over, a personal WeChat group):
    # an open item holds up whatever depends on it (a leaver's revocation).
    db["work_items"].create(
        {"id": int, "kind": str, "service": str, "person_id": str, "assignee": str, "detail": str,
         "status": str, "created_at": str, "done_at": str, "done_by": str, "note": str},
        pk="id",
        not_null={"kind", "service", "detail", "status", "created_at"},
        defaults={"status": "open"},
    )
    db["work_items"].create_index(["status", "person_id"], index_name="work_items_open")


@MIGRATIONS()
def m015_hours(db: Database) -> None:
    # Training meetings Muster created (or adopted), keyed by a deterministic key so scheduling is
    # idempotent; meeting_id stays NULL while a create is sent and unanswered.
    db["meetings"].create(
        {"key": str, "service": str, "meeting_id": str, "subject": str, "organiser": str, "organiser_id": str,
         "host": str, "start": str, "end": str, "scope": str, "invitees": str, "status": str, "run_id": str,
         "sent_at": str, "created_at": str, "failed_at": str, "last_error": str, "updated_at": str},
        pk="key",
        not_null={"key", "service", "subject", "organiser", "host", "start", "end", "scope", "invitees", "status",
                  "updated_at"},
        defaults={"scope": "[]", "invitees": "[]"},
    )
    db.execute("CREATE UNIQUE INDEX meetings_id ON meetings (service, meeting_id) WHERE meeting_id IS NOT NULL")
    # One row per join, as the participants API reports it: the evidence hours are computed from.
    db["attendance"].create(
        {"service": str, "meeting_id": str, "external_id": str, "joined_at": str, "left_at": str, "name": str,
         "collected_at": str},
        pk=("service", "meeting_id", "external_id", "joined_at"),
        not_null={"service", "meeting_id", "external_id", "joined_at", "collected_at"},
    )
    # Per person per meeting: computed, then certified by a coordinator (confirmed or corrected).
    # ``hours`` is what the rule computed; ``credited`` what counts (a correction's value).
    db["hours_records"].create(
        {"id": int, "service": str, "meeting_id": str, "external_id": str, "person_id": str, "name": str,
         "subject": str, "organiser": str, "day": str, "minutes": float, "hours": float, "credited": float,
         "intervals": str, "status": str, "computed_at": str, "confirmed_by": str, "confirmed_at": str,
         "evidence_changed": str},
        pk="id",
        not_null={"service", "meeting_id", "external_id", "subject", "organiser", "day", "minutes", "hours",
                  "credited", "intervals", "status", "computed_at"},
        defaults={"status": "computed"},
    )
    db.execute("CREATE UNIQUE INDEX hours_records_key ON hours_records (service, meeting_id, external_id)")
    db["hours_records"].create_index(["day"], index_name="hours_records_day")
    db["hours_records"].create_index(["person_id"], index_name="hours_records_person")
    db["hours_corrections"].create(
        {"id": int, "record_id": int, "original_hours": float, "new_hours": float, "reason": str, "by": str,
         "at": str},
        pk="id",
        not_null={"record_id", "original_hours", "new_hours", "reason", "by", "at"},
        foreign_keys=[("record_id", "hours_records", "id")],
    )
    db["hours_corrections"].create_index(["record_id"], index_name="hours_corrections_record")
    # A correction is history: it is never edited or removed.
    for event in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER hours_corrections_no_{event.lower()} BEFORE {event} ON hours_corrections"
            " BEGIN SELECT RAISE(ABORT, 'hours corrections are append-only'); END"
        )


@MIGRATIONS()
def m016_broadcasts(db: Database) -> None:
    db["broadcasts"].create(
        {"id": str, "text": str, "scopes": str, "created_by": str, "created_at": str},
        pk="id",
        not_null={"id", "text", "scopes", "created_by", "created_at"},
    )
    # one row per person per channel tried: written "sent" before the call, settled after it
    db["deliveries"].create(
        {"broadcast_id": str, "person_id": str, "attempt": int, "service": str, "external_id": str,
         "status": str, "sent_at": str, "answered_at": str, "detail": str},
        pk=("broadcast_id", "person_id", "attempt"),
        not_null={"broadcast_id", "person_id", "attempt", "service", "external_id", "status", "sent_at"},
        foreign_keys=[("broadcast_id", "broadcasts", "id")],
    )
    db["deliveries"].create_index(["broadcast_id", "status"], index_name="deliveries_status")


@MIGRATIONS()
def m017_meeting_requested(db: Database) -> None:
    # the invitee list Muster last asked for (``invitees`` is what the service kept: it drops unknown userids),
    # so a re-run compares like with like and does not overwrite the list again for an id the service refuses
    db.execute("ALTER TABLE meetings ADD COLUMN requested TEXT")


@MIGRATIONS()
def m018_drift(db: Database) -> None:
    # Grants the roster or policy took in by hand (drift adopted, access review removals): "grant" sets a
    # person's level on a policy resource whatever the rules say, "deny" takes them off it. Never deleted:
    # a withdrawn exception is stamped revoked_at, so the register can say why access was what it was.
    db["grant_exceptions"].create(
        {"id": int, "service": str, "resource": str, "person_id": str, "effect": str, "level": str,
         "reason": str, "source": str, "created_by": str, "created_at": str, "revoked_at": str, "revoked_by": str},
        pk="id",
        not_null={"service", "resource", "person_id", "effect", "reason", "source", "created_by", "created_at"},
    )
    db["grant_exceptions"].create_index(["service", "revoked_at"], index_name="grant_exceptions_active")
    # What each service should look like if nobody but Muster touched it: the first read, then every change
    # Muster applied (or a person adopted). Observed minus this is drift; desired minus this is pending work.
    db["baselines"].create(
        {"service": str, "run_id": str, "updated_at": str, "observed": str},
        pk="service",
        not_null={"service", "updated_at", "observed"},
    )
    db["drift_items"].create(
        {"id": str, "service": str, "kind": str, "target": str, "object_id": str, "external_id": str,
         "group_id": str, "summary": str, "detail": str, "made_by": str, "first_seen": str, "last_seen": str,
         "run_id": str, "status": str, "settled_by": str, "settled_at": str, "settle_reason": str},
        pk="id",
        not_null={"id", "service", "kind", "target", "object_id", "summary", "detail", "first_seen", "last_seen",
                  "status"},
        defaults={"status": "open"},
    )
    db["drift_items"].create_index(["status", "service"], index_name="drift_items_status")


@MIGRATIONS()
def m020_access_reviews(db: Database) -> None:
    # An access review (``muster review start``): each resource's owner confirms or removes every member;
    # ids read "R1", "R2" … (the identity-link queue already has the table ``reviews``).
    db["access_reviews"].create(
        {"id": str, "seq": int, "scope": str, "opened_by": str, "opened_at": str, "deadline": str,
         "remind_after": int, "status": str, "run_id": str, "closed_by": str, "closed_at": str},
        pk="id",
        not_null={"id", "seq", "scope", "opened_by", "opened_at", "deadline", "remind_after", "status"},
        defaults={"status": "open"},
    )
    db["access_reviews"].create_index(["seq"], index_name="access_reviews_seq", unique=True)
    # One row per (resource, member) in scope: who reviews it (the owner, else the coordinator) and the answer.
    # ``outcome`` is what the last removal attempt did (applied, held by a guard, failed), kept while the
    # item stays open so a held removal can be answered again with approval.
    db["access_review_items"].create(
        {"review_id": str, "item": int, "service": str, "kind": str, "resource_key": str, "resource_id": str,
         "resource_name": str, "person_id": str, "account_id": str, "member_name": str, "member_mobile": str,
         "level": str, "owner_id": str, "routed": str, "status": str, "answered_by": str, "answered_at": str,
         "reason": str, "outcome": str, "reminders": int, "reminded_at": str, "escalated_to": str, "escalated_at": str},
        pk=("review_id", "item"),
        not_null={"review_id", "item", "service", "kind", "resource_id", "resource_name", "account_id", "level",
                  "owner_id", "status", "reminders"},
        defaults={"status": "pending", "reminders": 0},
        foreign_keys=[("review_id", "access_reviews", "id")],
    )
    db["access_review_items"].create_index(["review_id", "status", "owner_id"], index_name="access_review_items_open")


@MIGRATIONS()
def m019_manual_groups(db: Database) -> None:
    # Groups no API can read (personal WeChat groups, Shimo folders): what is confirmed by hand — the
    # declaration as last imported (``declared`` = its digest, so an unchanged file is not re-imported over
    # confirmed work), then every work item marked done. ``owner`` is the roster person who makes changes.
    db["manual_groups"].create(
        {"service": str, "key": str, "kind": str, "name": str, "owner": str, "declared": str,
         "imported_at": str, "updated_at": str},
        pk=("service", "key"),
        not_null={"service", "key", "kind", "name", "owner", "declared", "imported_at", "updated_at"},
    )
    db["manual_members"].create(
        {"service": str, "group_key": str, "member_id": str, "person_id": str, "name": str, "mobile": str,
         "level": str, "source": str, "confirmed_at": str},
        pk=("service", "group_key", "member_id"),
        not_null={"service", "group_key", "member_id", "level", "source", "confirmed_at"},
    )
    # A manual service's work item carries the plan's changes for one group (``changes``, JSON), so marking
    # it done can record them; reminders count the notices sent after the first.
    for column, kind in (("group_key", "TEXT"), ("changes", "TEXT"), ("plan_id", "TEXT"), ("run_id", "TEXT"),
                         ("reminders", "INTEGER NOT NULL DEFAULT 0"), ("reminded_at", "TEXT"), ("notice", "TEXT")):
        db.execute(f"ALTER TABLE work_items ADD COLUMN {column} {kind}")
    db["work_items"].create_index(["service", "group_key", "status"], index_name="work_items_group")


@MIGRATIONS()
def m021_service_events(db: Database) -> None:
    # Who changed a chat or document, as the service reported it (Feishu's operator_id): one row per
    # (event, subject), an event's rows written together, so (service, event_id, subject) is unique.
    db["service_events"].create(
        {"id": int, "service": str, "event_id": str, "event_type": str, "resource": str, "subject": str,
         "operator": str, "operator_type": str, "happened_at": str, "received_at": str},
        pk="id",
        not_null={"service", "event_id", "event_type", "resource", "subject", "operator", "operator_type",
                  "happened_at", "received_at"},
    )
    db["service_events"].create_index(["service", "event_id", "subject"], index_name="service_events_event",
                                      unique=True)
    db["service_events"].create_index(["service", "resource", "subject", "happened_at"],
                                      index_name="service_events_subject")



@MIGRATIONS()
def m022_service_health(db: Database) -> None:
    # Per service: how many runs in a row failed for it (a read that came back incomplete, or an apply that
    # raised a service-level error), counted once per run (``last_failed_run``); ``failure_kind`` says which,
    # since a good read clears only a streak of bad reads. After three the service is paused (``paused_at``):
    # runs probe it (``probed_at``/``probe_error``/``probe_run``) instead of reading or writing it, and a
    # probe that answers resumes it (``resumed_at``) with the count reset.
    db["service_health"].create(
        {"service": str, "failures": int, "failure_kind": str, "last_error": str, "last_failed_at": str,
         "last_failed_run": str, "paused_at": str, "resumed_at": str, "probed_at": str, "probe_error": str,
         "probe_run": str, "updated_at": str},
        pk="service",
        not_null={"service", "failures", "updated_at"},
        defaults={"failures": 0},
    )
