"""Identity resolution: which roster person is behind each service account.

An account is linked to a person by, in order: an existing link; the user id Muster
itself gave the account; the normalised mobile; the normalised email. A key that points
to more than one person, or keys that point to different people, is *ambiguous*: the
account goes to the review list and stays unlinked. Muster never guesses — a wrong link
would grant one volunteer another's access.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mappings.models import Account, Identity, Person
from mappings.normalize import try_email, try_mobile


@dataclass(frozen=True)
class ReviewItem:
    """An account Muster would not link on its own."""

    service: str
    external_id: str
    reason: str
    candidates: tuple[str, ...]


@dataclass
class Resolution:
    """Links for one service: all current ones, which are new, and what needs review."""

    service: str
    links: dict[str, Identity] = field(default_factory=dict)  # external_id → identity
    new: list[Identity] = field(default_factory=list)
    dropped: list[Identity] = field(default_factory=list)
    reviews: list[ReviewItem] = field(default_factory=list)
    unmatched: list[Account] = field(default_factory=list)

    def person_accounts(self) -> dict[str, str]:
        """person_id → external_id."""
        return {i.person_id: ext for ext, i in self.links.items()}

    def counts(self) -> dict[str, int]:
        return {"linked": len(self.links), "new": len(self.new), "review": len(self.reviews),
                "unmatched": len(self.unmatched)}


class PeopleIndex:
    """Look-ups from normalised mobile and email to person ids (built once per run)."""

    def __init__(self, people: list[Person]):
        self.ids = {p.id for p in people}
        self.by_mobile: dict[str, list[str]] = defaultdict(list)
        self.by_email: dict[str, list[str]] = defaultdict(list)
        for p in people:
            if p.mobile:
                self.by_mobile[p.mobile].append(p.id)
            if p.email:
                self.by_email[p.email].append(p.id)


def userid_for(prefix: str, person_id: str) -> str:
    """The user id Muster gives an account it creates (stable, so re-runs are idempotent)."""
    return f"{prefix}{person_id}".lower()


def resolve(service: str, accounts: list[Account], index: PeopleIndex, existing: dict[str, Identity],
            *, userid_prefix: str = "m") -> Resolution:
    """Link every account of ``service`` to at most one person, and each person to at most one account."""
    res = Resolution(service)
    by_muster_id = {userid_for(userid_prefix, pid): pid for pid in index.ids}
    taken: dict[str, str] = {}
    for ident in existing.values():
        if ident.person_id not in index.ids:
            res.dropped.append(ident)
    live = {a.external_id for a in accounts}
    for acc in sorted(accounts, key=lambda a: (a.external_id not in existing, a.external_id)):
        ident = existing.get(acc.external_id)
        if ident and ident.person_id in index.ids:
            _take(res, taken, acc, ident, new=False)
            continue
        _match(res, taken, acc, index, by_muster_id)
    res.dropped += [i for ext, i in existing.items() if ext not in live and i.person_id in index.ids]
    return res


def _match(res: Resolution, taken: dict[str, str], acc: Account, index: PeopleIndex,
           by_muster_id: dict[str, str]) -> None:
    if acc.external_id.lower() in by_muster_id:
        pid = by_muster_id[acc.external_id.lower()]
        _take(res, taken, acc, Identity(service=res.service, external_id=acc.external_id, person_id=pid,
                                        matched_by="user_id"), new=True)
        return
    mobile, email = try_mobile(acc.mobile), try_email(acc.email)
    by_mobile = index.by_mobile.get(mobile, []) if mobile else []
    by_email = index.by_email.get(email, []) if email else []
    candidates = tuple(sorted(set(by_mobile) | set(by_email)))
    if not candidates:
        res.unmatched.append(acc)
        return
    if len(candidates) > 1:
        why = "mobile matches several people" if len(by_mobile) > 1 else (
            "email matches several people" if len(by_email) > 1 else "mobile and email match different people")
        res.reviews.append(ReviewItem(res.service, acc.external_id, why, candidates))
        return
    how = "mobile" if by_mobile else "email"
    _take(res, taken, acc, Identity(service=res.service, external_id=acc.external_id,
                                    person_id=candidates[0], matched_by=how), new=True)


def _take(res: Resolution, taken: dict[str, str], acc: Account, ident: Identity, *, new: bool) -> None:
    other = taken.get(ident.person_id)
    if other is not None:
        res.reviews.append(ReviewItem(res.service, acc.external_id,
                                      f"person already has account {other} in {res.service}",
                                      (ident.person_id,)))
        return
    taken[ident.person_id] = acc.external_id
    res.links[acc.external_id] = ident
    if new:
        res.new.append(ident)


__all__ = ["PeopleIndex", "Resolution", "ReviewItem", "resolve", "userid_for"]
