"""The Jinshuju connector: signup entries by API v1 polling, and the data-push parser.

Jinshuju delivers a submission two ways, with one entry shape: the data push (数据推送)
POSTs ``{form, form_name, entry}`` to the form's configured URL on each new (and, when
``post_updated_entry`` is on, each edited) entry; API v1 lists the same entries 50 a page.
Both go through ``to_form_entry``, a pure function, so a pushed entry and a polled one
are the same ``FormEntry``. An edited entry keeps its serial number, so consumers upsert
by (form, serial).

Answers are every key of the entry that is not Jinshuju's own metadata: ``field_N``,
aliases the owner gave fields, and the extended attributes ``x_field_N`` (values carried in
the form link, like Wenjuanxing's ``sojumpparm``). Times are UTC ISO-8601 (``...Z``).

``list_entries`` yields each page with the cursor to resume *after* it, so a caller can
commit a page and its cursor in one transaction: the service's ``next`` while pages
follow; after the last page, one past its last serial number (serial numbers only grow),
so the next poll asks for exactly the entries submitted since.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._errors import InvalidPayload
from connectors._formpush import json_kind, show
from connectors._http import RetryPolicy
from connectors.jinshuju.client import BASE_URL, HOURLY_QUOTA, SERVICE, JinshujuClient
from mappings.models import FormEntry

SANDBOX_URL = "http://jinshuju.sandbox"
# entry keys that describe the submission rather than answer the form (reference §5.1)
METADATA_KEYS = frozenset({"serial_number", "token", "creator_name", "updater_name", "created_at", "updated_at"})
METADATA_PREFIXES = ("info_",)  # info_remote_ip, info_platform, info_os, info_browser, info_region ...
MAX_SERIAL = 2**63


class JinshujuConnector:
    """Reads a Jinshuju account's form entries and definitions through API v1."""

    name = SERVICE

    def __init__(self, *, base_url: str = BASE_URL, api_key: str, api_secret: SecretStr | str,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | None = None,
                 rate_limit: bool = True, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, hourly_quota: int = HOURLY_QUOTA):
        secret = api_secret if isinstance(api_secret, SecretStr) else SecretStr(api_secret)
        self.client = JinshujuClient(base_url=base_url, api_key=api_key, api_secret=secret, transport=transport,
                                     retry=retry, rate_limit=rate_limit, clock=clock, sleep=sleep,
                                     hourly_quota=hourly_quota)

    @classmethod
    def from_sandbox(cls, sandbox: Any, **kw: Any) -> JinshujuConnector:
        """A connector wired to an in-process ``JinshujuSandbox``, its credentials and quota."""
        creds = sandbox.credentials
        kw.setdefault("base_url", SANDBOX_URL)
        kw.setdefault("transport", sandbox.transport())
        kw.setdefault("hourly_quota", sandbox.hourly_quota)
        return cls(api_key=creds["api_key"], api_secret=SecretStr(creds["api_secret"]), **kw)

    def check(self) -> None:
        """Read the caller's account: ``AuthError`` on bad credentials or a plan without API."""
        self.client.get_me()

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self.client.close()

    def list_entries(self, form: str, after: str | None = None) -> Iterator[tuple[list[FormEntry], str | None]]:
        """Each page of entries from cursor ``after`` on, with the cursor to resume after that page."""
        cursor = after
        for page in self.client.list_entry_pages(form, start=after):
            entries = [to_form_entry(form, "", row, where=f"data[{i}]") for i, row in enumerate(page.data)]
            if page.next is not None:
                cursor = page.next
            elif entries:
                cursor = str(max(int(e.serial) for e in entries) + 1)
            yield entries, cursor

    def get_entry(self, form: str, serial: int | str) -> FormEntry:
        """One entry by serial number (``NotFound`` if the form or the entry is absent)."""
        envelope = self.client.get_entry(form, serial)
        return to_form_entry(envelope.form or form, envelope.form_name, envelope.entry)

    def get_form(self, form: str) -> dict[str, Any]:
        """The form's title, field code → label, and choice field → {option code → label}."""
        definition = self.client.get_form(form)
        return {"form": form, "name": definition.name, "fields": definition.field_labels(),
                "choices": definition.choice_labels()}


# --- entries → FormEntry (pure) ------------------------------------------------------


def parse_push(payload: Any) -> FormEntry:
    """The entry a Jinshuju data push carries; ``InvalidPayload`` with a one-line reason otherwise."""
    if not isinstance(payload, dict):
        raise _bad(f"push body is a JSON {json_kind(payload)}, not an object")
    form = payload.get("form")
    if not isinstance(form, str) or not form.strip():
        raise _bad("push has no form (the form token)" if form in (None, "") else
                   f"push form is not a form token: {show(form)}")
    form_name = payload.get("form_name", "")
    if form_name is None:
        form_name = ""
    if not isinstance(form_name, str):
        raise _bad(f"push form_name is not a string: {show(form_name)}")
    if "entry" not in payload:
        raise _bad("push has no entry")
    return to_form_entry(form, form_name, payload["entry"], where="entry")


def to_form_entry(form: str, form_name: str, entry: Any, *, where: str = "entry") -> FormEntry:
    """Map one raw entry (push or API row) to a ``FormEntry``; ``InvalidPayload`` names the bad field."""
    if not isinstance(entry, dict):
        raise _bad(f"{where} is a JSON {json_kind(entry)}, not an object")
    if not all(isinstance(k, str) for k in entry):
        raise _bad(f"{where} has a key that is not a string")
    answers = {k: v for k, v in entry.items() if k not in METADATA_KEYS and not k.startswith(METADATA_PREFIXES)}
    return FormEntry(
        service=SERVICE,
        form=form,
        serial=str(_serial(entry, where)),
        answers=answers,
        submitted_at=_time(entry, "created_at", where),
        updated_at=_time(entry, "updated_at", where),
        form_name=form_name,
    )


def _serial(entry: dict, where: str) -> int:
    if "serial_number" not in entry or entry["serial_number"] in (None, ""):
        raise _bad(f"{where}.serial_number is missing")
    value = entry["serial_number"]
    # documented as a Number in single-entry answers and a String in listings: take both
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) <= 20:
        number = int(value.strip())
    else:
        raise _bad(f"{where}.serial_number is not an integer: {show(value)}")
    if not 1 <= number < MAX_SERIAL:
        raise _bad(f"{where}.serial_number is out of range: {show(value)}")
    return number


def _time(entry: dict, key: str, where: str) -> datetime | None:
    value = entry.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _bad(f"{where}.{key} is not an ISO-8601 time: {show(value)}")
    try:
        when = datetime.fromisoformat(value.strip())
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(f"{where}.{key} is not an ISO-8601 time: {show(value)}") from None


def _bad(reason: str) -> InvalidPayload:
    return InvalidPayload(reason, service=SERVICE)



__all__ = ["METADATA_KEYS", "METADATA_PREFIXES", "SANDBOX_URL", "JinshujuConnector", "parse_push", "to_form_entry"]
