"""The erasure register, free of I/O: who has been erased, as salted hashes only.

A register is what keeps an erasure's promise after the erasure has run: every later
ingest (the pull Lambda, the push API), every rerun and every backfill of the transform
drops the records of a registered user, so an erased user never comes back from raw, a
replay or a partner's push.

It holds no personal data: not the user id either, only ``sha256(salt | "erasure" | id)``
with a random salt kept in the register itself (a per-deployment salt, as password
salts are stored beside their hashes), and for each entry the request and completion
times and the salted hashes of the user's e-mail, name and phone numbers as they were
stored before the erasure (:func:`value_hash`), which ``udp erase --verify`` looks for
long after the values are gone. Keeping the id out means a byte scan of the whole state
for the id finds nothing, the register included; the hash is all that dropping and
refusing need.

Text form: one JSON document (``to_json`` / ``from_json``), stored as one object next
to the lake (``register_key``); ``contracts.erasure_store`` reads and writes it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

__all__ = ["ERASED_REASON", "REGISTER_KEY", "ErasureEntry", "ErasureRegister",
           "InvalidUserId", "drop_erased", "hash_prefix", "id_hash", "normalised_id",
           "normalised_value", "parse_user_ids", "user_id_in", "value_hash"]

REGISTER_KEY = "_erasure/register.json"
"""Key of the register in the lake bucket: outside every table's prefix, so no crawler,
table or query reads it."""

ERASED_REASON = "erased"
"""The rejection code the push API answers for a record of an erased user."""

_MAX_ID = 36  # users.user_id is varchar(36)



class InvalidUserId(ValueError):
    """A user id that cannot name a user (empty, too long, spaces or control characters)."""


def normalised_id(user_id: str) -> str:
    """The id as the model stores it (``users.user_id`` is ``trim(login.uuid)``; Spark's
    ``trim`` strips spaces only)."""
    return user_id.strip(" ")


def parse_user_ids(values: Iterable[str]) -> list[str]:
    """Ids as typed on a command line or one a line in a file: blank lines and ``#``
    comments skipped, each id trimmed, duplicates once, order kept. Raises
    :class:`InvalidUserId` naming the first bad one."""
    out: dict[str, None] = {}
    for value in values:
        text = value.strip()
        if not text or text.startswith("#"):
            continue
        if len(text) > _MAX_ID or not all(c.isprintable() and not c.isspace() for c in text):
            raise InvalidUserId(f"not a user id: {text[:40]!r} (1..{_MAX_ID} printable "
                                "characters without spaces)")
        out[text] = None
    return list(out)


def hash_prefix(salt: str) -> str:
    """What :func:`id_hash` puts before the id: Spark builds the same hash with
    ``sha2(concat(lit(hash_prefix(salt)), trim(login.uuid)), 256)``."""
    return f"{salt}|erasure|"


def id_hash(user_id: str, salt: str) -> str:
    """Salted SHA-256 (hex) of a user id, the only form the register keeps."""
    return hashlib.sha256((hash_prefix(salt) + normalised_id(user_id)).encode("utf-8")
                          ).hexdigest()


def normalised_value(text: str) -> str:
    """How a personal value is compared: trimmed and lower case, and a phone number (7
    or more digits among only digits, spaces and ``+-.()``) as its digits alone, so
    ``(0151) 555-0199`` and ``01515550199`` are one value."""
    value = " ".join(text.split()).lower()
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) >= 7 and all(c.isdigit() or c in " +-.()" for c in value):
        return digits
    return value


def value_hash(value: str, salt: str) -> str:
    """Salted SHA-256 (hex) of a personal value (:func:`normalised_value`), for verify."""
    return hashlib.sha256(f"{salt}|value|{normalised_value(value)}".encode()).hexdigest()


@dataclass(frozen=True)
class ErasureEntry:
    """One erased user: the id's salted hash, when the erasure was asked and done, and
    the salted hashes of the values the erasure found stored for the user."""

    id_hash: str
    requested_at: str  # ISO 8601, UTC
    completed_at: str | None = None
    value_hashes: tuple[str, ...] = ()

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


def _now_text(now: datetime) -> str:
    return now.isoformat(timespec="seconds")


@dataclass(frozen=True)
class ErasureRegister:
    """Every erased user of a deployment (immutable; each change returns a new one)."""

    salt: str = field(repr=False)
    entries: tuple[ErasureEntry, ...] = ()

    @classmethod
    def new(cls) -> ErasureRegister:
        return cls(secrets.token_hex(16))

    @property
    def hashes(self) -> frozenset[str]:
        """The hashes every ingest, rerun and backfill drops (requested ones included:
        from the moment an erasure is asked, nothing new of that user is taken in)."""
        return frozenset(e.id_hash for e in self.entries)

    def hash_of(self, user_id: str) -> str:
        return id_hash(user_id, self.salt)

    def contains(self, user_id: str) -> bool:
        return self.hash_of(user_id) in self.hashes

    def entry(self, user_id: str) -> ErasureEntry | None:
        h = self.hash_of(user_id)
        return next((e for e in self.entries if e.id_hash == h), None)

    def requested(self, user_ids: Sequence[str], now: datetime) -> ErasureRegister:
        """The register with ``user_ids`` added (an id already there keeps its entry, so
        a repeated request keeps its first request time)."""
        known = self.hashes
        added = [ErasureEntry(h, _now_text(now)) for h in
                 dict.fromkeys(self.hash_of(u) for u in user_ids) if h not in known]
        return replace(self, entries=self.entries + tuple(added))

    def completed(self, user_ids: Sequence[str], now: datetime) -> ErasureRegister:
        """The register with the entries of ``user_ids`` marked done at ``now`` (an
        entry done before keeps its time)."""
        done = {self.hash_of(u) for u in user_ids}
        return replace(self, entries=tuple(
            replace(e, completed_at=_now_text(now))
            if e.id_hash in done and e.completed_at is None else e for e in self.entries))

    def with_values(self, user_id: str, values: Iterable[str]) -> ErasureRegister:
        """The register with the hashes of ``values`` (blank ones skipped) added to the
        entry of ``user_id`` (which must be requested already)."""
        h = self.hash_of(user_id)
        new = [value_hash(v, self.salt) for v in values if v and v.strip()]
        return replace(self, entries=tuple(
            replace(e, value_hashes=tuple(dict.fromkeys((*e.value_hashes, *new))))
            if e.id_hash == h else e for e in self.entries))

    def counts(self) -> dict[str, int]:
        """``{"requested", "completed", "pending"}``: what status and reports show."""
        done = sum(1 for e in self.entries if e.completed)
        return {"requested": len(self.entries), "completed": done,
                "pending": len(self.entries) - done}

    def to_json(self) -> str:
        return json.dumps({"salt": self.salt,
                           "entries": [{"id_hash": e.id_hash, "requested_at": e.requested_at,
                                        "completed_at": e.completed_at,
                                        "value_hashes": list(e.value_hashes)}
                                       for e in self.entries]}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> ErasureRegister:
        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("salt"), str):
            raise ValueError("not an erasure register: no salt")
        return cls(doc["salt"], tuple(
            ErasureEntry(str(e["id_hash"]), str(e["requested_at"]), e.get("completed_at"),
                         tuple(str(v) for v in e.get("value_hashes") or ()))
            for e in doc.get("entries") or []))


def user_id_in(record: Any) -> str | None:
    """``login.uuid`` of a raw record (a dict), or None when it has none."""
    login = record.get("login") if isinstance(record, dict) else None
    uid = login.get("uuid") if isinstance(login, dict) else None
    return uid if isinstance(uid, str) else None


def drop_erased[T](records: Iterable[T], hashes: frozenset[str], salt: str,
                id_of: Callable[[T], str | None] = user_id_in
                ) -> tuple[list[T], int]:
    """``records`` without those of erased users: ``(kept, dropped)``.

    ``id_of`` reads a record's user id (``login.uuid`` of a raw dict by default); a
    record without one is kept (validation deals with it). The one rule every path
    applies: the pull ingest, the push API, the transform (as a Spark filter built from
    :func:`hash_prefix`) and the erasure's own rewrite of raw and quarantine objects.
    """
    items = list(records)
    if not hashes:
        return items, 0
    kept: list[T] = []
    for record in items:
        uid = id_of(record)
        if uid is not None and id_hash(uid, salt) in hashes:
            continue
        kept.append(record)
    return kept, len(items) - len(kept)
