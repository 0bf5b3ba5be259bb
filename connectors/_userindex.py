"""Users of a sandbox kept with look-up indexes (mobile → userid, email → userid, other ids).

A sandbox's ``users`` is a dict of user records (userid → dict). Checking a new account's
mobile or email against every user made a first sync quadratic in the fakes, so the
sandboxes keep ``users`` as an ``IndexedUsers``: a dict that maintains, for each named key
function, value → userids. Every way of changing it keeps the indexes in step — setting,
deleting or popping a user, and changing a field of a stored record in place
(``sandbox.users["amy"]["email"] = ...``, ``user.update(...)``): stored records are
``TrackedUser`` dicts that re-index their user after each change. A plain dict stored into
``users`` is copied into a ``TrackedUser``, so keep the record from ``users`` rather than
the dict you stored. Copies (``copy.deepcopy``, pickle, ``dict(...)``) are plain dicts, so
``export_state`` results stay plain data and ``import_state`` (assigning ``users``) re-indexes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

KeyFn = Callable[[str, dict[str, Any]], Hashable | None]  # (userid, record) → its index value (None: not indexed)

_MISSING = object()


class TrackedUser(dict):
    """A user record that re-indexes its user in the owning ``IndexedUsers`` after every change."""

    __slots__ = ("_owner", "_uid")

    def __init__(self, data: Mapping[str, Any] = (), owner: IndexedUsers | None = None, uid: str = "") -> None:
        """Copy ``data``; ``owner``/``uid`` say where it is stored (None: not stored anywhere)."""
        super().__init__(data)
        self._owner, self._uid = owner, uid

    def _changed(self) -> None:
        if self._owner is not None:
            self._owner._reindex(self._uid)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def __ior__(self, other: Any) -> TrackedUser:
        super().update(other)
        self._changed()
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``dict.update``, then re-index."""
        super().update(*args, **kwargs)
        self._changed()

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        """``dict.pop``, then re-index."""
        value = super().pop(key) if default is _MISSING else super().pop(key, default)
        self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        """``dict.popitem``, then re-index."""
        item = super().popitem()
        self._changed()
        return item

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``dict.setdefault``, then re-index."""
        value = super().setdefault(key, default)
        self._changed()
        return value

    def clear(self) -> None:
        """``dict.clear``, then re-index."""
        super().clear()
        self._changed()

    # copies are plain data
    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict[str, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self) -> tuple:
        return dict, (dict(self),)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return self.__reduce__()


class IndexedUsers(dict):
    """userid → user record, with value → userids indexes kept in step with every change.

    ``keys`` names the indexes: name → a function of (userid, record) giving the value to index
    (None or "" leaves the record out of that index). ``lookup(name, value)`` answers the
    userids holding ``value``, in the order they were indexed.
    """

    def __init__(self, keys: Mapping[str, KeyFn], data: Mapping[str, Any] | Iterable = ()) -> None:
        """An empty store with indexes ``keys``, filled from ``data`` (records are copied)."""
        super().__init__()
        self._keys = dict(keys)
        self._index: dict[str, dict[Hashable, dict[str, None]]] = {name: {} for name in self._keys}
        self._held: dict[str, dict[str, Hashable]] = {}  # uid → the value it is indexed under, per index
        for uid, record in dict(data).items():
            self[uid] = record

    # --- look-ups -------------------------------------------------------------------

    def lookup(self, name: str, value: Any) -> list[str]:
        """The userids whose ``name`` index value is ``value`` (oldest first)."""
        return list(self._holders(name, value))

    def taken(self, name: str, value: Any, own: str | None = None) -> bool:
        """Whether a user other than ``own`` holds ``value`` in index ``name``."""
        return any(uid != own for uid in self._holders(name, value))

    def first(self, name: str, value: Any) -> dict[str, Any] | None:
        """The first user whose ``name`` index value is ``value``, or None."""
        for uid in self._holders(name, value):
            return dict.__getitem__(self, uid)
        return None

    def _holders(self, name: str, value: Any) -> dict[str, None]:
        try:
            return self._index[name].get(value) or {}
        except TypeError:  # an unhashable value (a list in a JSON body) names nobody
            return {}

    # --- keeping the indexes ----------------------------------------------------------

    def _reindex(self, uid: str) -> None:
        held = self._held.pop(uid, {})
        record = dict.get(self, uid)
        now: dict[str, Hashable] = {}
        if record is not None:
            for name, fn in self._keys.items():
                try:
                    value = fn(uid, record)
                    hash(value)
                except (KeyError, TypeError, AttributeError):  # a malformed record is simply not indexed
                    continue
                if value is not None and value != "":
                    now[name] = value
            self._held[uid] = now
        for name, value in held.items():
            if now.get(name, _MISSING) != value:
                bucket = self._index[name].get(value)
                if bucket is not None:
                    bucket.pop(uid, None)
                    if not bucket:
                        del self._index[name][value]
        for name, value in now.items():
            if held.get(name, _MISSING) != value:
                self._index[name].setdefault(value, {})[uid] = None

    def _detach(self, uid: str) -> Any:
        record = dict.pop(self, uid)
        if isinstance(record, TrackedUser) and record._owner is self:
            record._owner = None
        self._reindex(uid)
        return record

    def __setitem__(self, uid: str, record: Any) -> None:
        if dict.__contains__(self, uid):
            self._detach(uid)
        if isinstance(record, TrackedUser) and record._owner is None:
            record._owner, record._uid = self, uid  # a record popped from here, stored again
        else:
            record = TrackedUser(record, self, uid)
        dict.__setitem__(self, uid, record)
        self._reindex(uid)

    def __delitem__(self, uid: str) -> None:
        if not dict.__contains__(self, uid):
            raise KeyError(uid)
        self._detach(uid)

    def pop(self, uid: str, default: Any = _MISSING) -> Any:
        """``dict.pop``, keeping the indexes."""
        if dict.__contains__(self, uid):
            return self._detach(uid)
        if default is _MISSING:
            raise KeyError(uid)
        return default

    def popitem(self) -> tuple[str, Any]:
        """``dict.popitem``, keeping the indexes."""
        uid = next(reversed(self))
        return uid, self._detach(uid)

    def setdefault(self, uid: str, default: Any = None) -> Any:
        """``dict.setdefault``, keeping the indexes."""
        if not dict.__contains__(self, uid):
            self[uid] = default
        return dict.__getitem__(self, uid)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``dict.update``, keeping the indexes."""
        for uid, record in dict(*args, **kwargs).items():
            self[uid] = record

    def __ior__(self, other: Any) -> IndexedUsers:
        self.update(other)
        return self

    def clear(self) -> None:
        """``dict.clear``, keeping the indexes."""
        for uid in list(self):
            self._detach(uid)

    # copies are plain data
    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict[str, Any]:
        return {uid: copy.deepcopy(record, memo) for uid, record in self.items()}

    def __reduce__(self) -> tuple:
        return dict, ({uid: dict(r) if isinstance(r, dict) else r for uid, r in self.items()},)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return self.__reduce__()


class IndexedUsersAttribute:
    """A sandbox's ``users``: reading gives its ``IndexedUsers``; assigning any mapping (``__init__``,
    ``import_state``) builds a new one with this sandbox's indexes."""

    def __init__(self, keys: Mapping[str, KeyFn], doc: str = "") -> None:
        self.keys, self.__doc__ = dict(keys), doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj, self.slot)

    def __set__(self, obj: Any, value: Mapping[str, Any]) -> None:
        setattr(obj, self.slot, IndexedUsers(self.keys, value))


__all__ = ["IndexedUsers", "IndexedUsersAttribute", "TrackedUser"]
