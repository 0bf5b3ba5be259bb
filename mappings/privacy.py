"""Masking personal data in reports by the reader's tier.

The coalition's rule (beneficiaries' and volunteers' data stay confidential) is that a
report shows mobiles and emails masked (``138****5678``, ``z***@example.org``) unless the
person reading it is an *active* member of a tier the policy lists under
``privacy.see_contacts``. The reader is whoever runs the command (``MUSTER_ACTOR`` or
``--as``), matched to the roster by person id or email; anyone else, or no one, reads
masked. Drift, review and hours reports use the same ``Masker``.
"""

from __future__ import annotations

from collections.abc import Iterable

from mappings.models import Person
from mappings.normalize import local_mobile, mask_email, mask_mobile, try_email
from mappings.policy import Policy


class Masker:
    """Shows contacts in full to a privileged reader, masked to everyone else."""

    def __init__(self, policy: Policy, reader: Person | None) -> None:
        self.reader = reader
        self.full = (reader is not None and reader.status == "active" and reader.tier is not None
                     and reader.tier in policy.privacy.see_contacts)

    def mobile(self, value: str | None) -> str:
        """The mobile as the reader may see it: local form in full, or ``138****5678``; empty when unknown."""
        if not value:
            return ""
        return (local_mobile(value) or "") if self.full else mask_mobile(value)

    def email(self, value: str | None) -> str:
        """The email in full, or ``z***@example.org``; empty when unknown."""
        if not value:
            return ""
        return value if self.full else mask_email(value)

    def describe(self) -> str:
        """One line for a report's header: who reads it and whether contacts are masked."""
        who = f"{self.reader.name} ({self.reader.id})" if self.reader else "an unknown reader"
        return f"read by {who}: contacts {'in full' if self.full else 'masked'}"


def reader_for(people: Iterable[Person], actor: str | None) -> Person | None:
    """The person whose id or email is ``actor`` (``MUSTER_ACTOR`` / ``--as``), else None."""
    text = (actor or "").strip()
    if not text:
        return None
    email = try_email(text)
    by_email = None
    for person in people:
        if person.id == text:
            return person
        if email and by_email is None and try_email(person.email) == email:
            by_email = person
    return by_email


__all__ = ["Masker", "reader_for"]
