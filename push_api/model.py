"""A raw user record -> the ``users`` row, in plain Python, as the Spark transform does it.

The consumer stores this row in DynamoDB, so the lookup (``GET /users/{id}``) answers
with exactly the columns analysts see in ``users`` (contracts.tables.USERS): direct
identifiers minimised (email -> domain + salted hash, phone -> masked, no street, no
secret). Each function mirrors its namesake in ``glue_jobs.transforms``;
``tests/functional/test_push_model_parity.py`` runs both on the same records and
compares.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from contracts.tables import USERS

__all__ = ["USER_ID_MAX_LEN", "clean_text", "coordinate", "email_domain", "email_hash",
           "mask_phone", "to_user_row", "tz_offset_minutes", "user_id_of", "valid_user_id"]

# Java's [\s\p{Z}] (glue_jobs.transforms.WHITESPACE)
_WHITESPACE = ("\t\n\x0b\x0c\r\x20\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
               "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# Java regex \d is ASCII unless UNICODE_CHARACTER_CLASS is set: re.ASCII keeps it so
_PHONE_MASK = re.compile(r"\d(?=(?:\D*\d){2})", re.ASCII)
_TZ = re.compile(r"^[+-]?[0-9]{1,2}:[0-9]{2}$")
# what Spark's string -> double cast accepts, for the forms coordinates take
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
USER_ID_MAX_LEN = next(f.max_len for f in USERS.fields if f.name == "user_id") or 36


def clean_text(value: Any) -> str | None:
    """Trim whitespace (incl. NBSP and Unicode separators); empty becomes None."""
    if value is None:
        return None
    text = str(value).strip(_WHITESPACE)
    return text or None


def _spark_trim(value: str) -> str:
    """``F.trim``: spaces only."""
    return value.strip(" ")


def email_domain(email: str | None) -> str | None:
    if email is None:
        return None
    e = _spark_trim(email).lower()
    return e.rsplit("@", 1)[-1] if "@" in e else None


def email_hash(email: str | None, salt: str) -> str | None:
    """Salted SHA-256 of the normalised address (hex), as ``sha2(concat(salt, e), 256)``."""
    if email is None:
        return None
    e = _spark_trim(email).lower()
    return hashlib.sha256((salt + e).encode("utf-8")).hexdigest() if e else None


def mask_phone(phone: str | None) -> str | None:
    text = clean_text(phone)
    return None if text is None else _PHONE_MASK.sub("*", text)


def tz_offset_minutes(offset: str | None) -> int | None:
    if offset is None:
        return None
    text = _spark_trim(offset)
    if not _TZ.match(text):
        return None
    head, _, tail = text.partition(":")
    hours, minutes = abs(int(head)), int(tail)
    return (-1 if text.startswith("-") else 1) * (hours * 60 + minutes)


def coordinate(text: str | None, limit: float) -> float | None:
    value = clean_text(text)
    if value is None or not _NUMBER.match(value):
        return None
    number = float(value)
    return number if abs(number) <= limit else None


def user_id_of(record: dict[str, Any]) -> str:
    """The natural key as the model has it: ``trim(login.uuid)``."""
    return _spark_trim(str(record["login"]["uuid"]))


def valid_user_id(user_id: str) -> bool:
    """Fits the ``users.user_id`` column (<= 36 characters), printable, no whitespace.

    The push path refuses records whose key does not fit (the warehouse column would
    refuse them at load); the lookup answers 400 for such an id.
    """
    return (0 < len(user_id) <= USER_ID_MAX_LEN and user_id.isprintable()
            and not any(c in _WHITESPACE for c in user_id))


def _ts(value: Any) -> str | None:
    """Timestamps travel as canonical UTC text (``...T..:..:...ffffffZ``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError(f"not a timestamp: {value!r}")


def _year(ts_text: str | None) -> int | None:
    return int(ts_text[:4]) if ts_text else None


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def to_user_row(record: dict[str, Any], salt: str) -> dict[str, Any]:
    """A validated raw record (JSON-ready, ingest metadata stamped) -> the ``users`` row,
    keys in contract order."""
    dob_date = _ts(_get(record, "dob", "date"))
    lower = clean_text(record.get("gender"))
    nat = clean_text(record.get("nat"))
    row = {
        "user_id": user_id_of(record),
        "gender": lower.lower() if lower else None,
        "title": clean_text(_get(record, "name", "title")),
        "nationality": nat.upper() if nat else None,
        "birth_year": _year(dob_date),
        "age": _get(record, "dob", "age"),
        "registered_at": _ts(_get(record, "registered", "date")),
        "email_domain": email_domain(record.get("email")),
        "email_hash": email_hash(record.get("email"), salt),
        "phone_masked": mask_phone(record.get("phone")),
        "city": clean_text(_get(record, "location", "city")),
        "state": clean_text(_get(record, "location", "state")),
        "country": clean_text(_get(record, "location", "country")),
        "postcode": clean_text(_get(record, "location", "postcode")),
        "latitude": coordinate(_get(record, "location", "coordinates", "latitude"), 90.0),
        "longitude": coordinate(_get(record, "location", "coordinates", "longitude"), 180.0),
        "tz_offset_minutes": tz_offset_minutes(_get(record, "location", "timezone", "offset")),
        "fetched_at": _ts(record["fetched_at"]),
        "batch_id": str(record["batch_id"]),
    }
    return {name: row[name] for name in USERS.column_names}
