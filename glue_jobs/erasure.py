"""The erasure's building blocks: the register's writer and the rewrites of raw and
quarantine objects without an erased user's rows.

Every AWS call goes through an injected boto3-shaped client, so the local command and
an erasure Glue job can run the same code.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.erasure import REGISTER_KEY, ErasureRegister, user_id_in
from contracts.erasure_store import read_body
from contracts.tables import PARTITION_KEY

__all__ = ["LayerCount", "ObjectRewriter", "RegisterBusy", "S3RegisterWriter",
           "lines_without", "parquet_values", "parquet_without", "partition_day",
           "record_values", "users_in_parquet", "users_in_raw"]

_CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class RegisterBusy(RuntimeError):
    """The register kept changing under this writer (another erasure writing at once)."""


def _code(exc: Exception) -> str | None:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return str(code) if code is not None else None


class S3RegisterWriter:
    """Writes the erasure register (``contracts.erasure_store`` only reads it).

    Every change is a read-modify-write made conditional on the object not having
    changed since it was read (S3's ``IfMatch`` on the ETag read, ``IfNoneMatch="*"``
    for the first write): two erasure requests at once never lose each other's ids;
    the one that loses the race reads again and applies its change to the winner's."""

    def __init__(self, s3: Any, bucket: str, key: str = REGISTER_KEY,
                 attempts: int = 20) -> None:
        self.s3, self.bucket, self.key, self.attempts = s3, bucket, key, attempts

    def _read(self) -> tuple[ErasureRegister | None, str | None]:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:  # botocore ClientError
            if _code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise
        body = answer["Body"]
        try:
            text = bytes(body.read())
        finally:
            close = getattr(body, "close", None)
            if close:
                close()
        return ErasureRegister.from_json(text), answer.get("ETag")

    def update(self, change: Callable[[ErasureRegister], ErasureRegister]) -> ErasureRegister:
        """Apply ``change`` to the stored register (a new one when none is stored) and
        write it back unless someone wrote in between; then read and apply again."""
        for _ in range(self.attempts):
            stored, etag = self._read()
            current = stored or ErasureRegister.new()
            changed = change(current)
            if stored is not None and changed == stored:
                return stored
            condition = {"IfMatch": etag} if stored is not None and etag else \
                {"IfNoneMatch": "*"}
            try:
                self.s3.put_object(Bucket=self.bucket, Key=self.key,
                                   Body=changed.to_json().encode("utf-8"),
                                   ContentType="application/json", **condition)
            except Exception as exc:
                if _code(exc) in _CONFLICT_CODES:
                    continue
                raise
            return changed
        raise RegisterBusy(f"s3://{self.bucket}/{self.key} changed {self.attempts} times "
                           "while this erasure tried to write it; run it again")


# ------------------------------------------------------------------ personal values

_VALUE_KEYS = ("email", "phone", "cell")


def record_values(record: Any) -> list[str]:
    """The e-mail, full name (``first last``) and phone numbers of a raw record (a dict
    as the API and the raw layer hold it): what ``--verify`` looks for later."""
    if not isinstance(record, dict):
        return []
    out = [record[k] for k in _VALUE_KEYS if isinstance(record.get(k), str)]
    name = record.get("name")
    if isinstance(name, dict):
        parts = [name.get(k) for k in ("first", "last")]
        if all(isinstance(p, str) and p.strip() for p in parts):
            out.append(f"{parts[0]} {parts[1]}")
    return out


def _records_in(doc: Any) -> list[dict[str, Any]]:
    """Every dict holding a ``login.uuid`` anywhere in a parsed JSON document."""
    found: list[dict[str, Any]] = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if user_id_in(item) is not None:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def json_lines_values(body: bytes, user_ids: Sequence[str]) -> dict[str, list[str]]:
    """The values of each of ``user_ids`` found in a JSON-lines object (lines that do
    not parse are skipped: they cannot be read for values, only matched as text)."""
    import json

    wanted = set(user_ids)
    out: dict[str, list[str]] = {}
    for line in body.splitlines():
        if not any(u.encode() in line for u in wanted):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        for record in _records_in(doc):
            uid = user_id_in(record)
            if uid in wanted:
                out.setdefault(uid, []).extend(record_values(record))
    return out


def _read_parquet(body: bytes, columns: Sequence[str] | None = None) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(body), columns=list(columns) if columns else None)


def users_in_parquet(body: bytes, user_ids: Sequence[str], column: str) -> bool:
    """Whether a Parquet object's ``column`` (a transform table's ``user_id``) holds one
    of ``user_ids``; reads that one column only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read_parquet(body, [column])
    if table.num_rows == 0:
        return False
    return bool(pc.any(pc.is_in(table.column(column), value_set=pa.array(list(user_ids)))
                       ).as_py())


def users_in_raw(body: bytes, user_ids: Sequence[str]) -> bool:
    """Whether a raw Parquet object holds a record of one of ``user_ids`` (its
    ``login.uuid``); reads the ``login`` column only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read_parquet(body)
    if table.num_rows == 0 or "login" not in table.column_names:
        return False
    ids = pc.struct_field(table.column("login"), "uuid")
    return bool(pc.any(pc.is_in(ids, value_set=pa.array(list(user_ids)))).as_py())


def parquet_values(body: bytes, user_ids: Sequence[str]) -> dict[str, list[str]]:
    """The values of each of ``user_ids`` in a raw Parquet object."""
    table = _read_parquet(body)
    if table.num_rows == 0 or "login" not in table.column_names:
        return {}
    wanted = set(user_ids)
    out: dict[str, list[str]] = {}
    for row in table.to_pylist():
        uid = user_id_in(row)
        if uid in wanted:
            out.setdefault(uid, []).extend(record_values(row))
    return out


# ------------------------------------------------------------------ pure rewrites


@dataclass
class LayerCount:
    """What an erasure did to one layer: objects looked at, rewritten (or deleted when
    nothing was left), rows removed, older object versions deleted. Counts only."""

    objects_scanned: int = 0
    objects_rewritten: int = 0
    rows_removed: int = 0
    versions_deleted: int = 0

    def add(self, other: LayerCount) -> None:
        for name in ("objects_scanned", "objects_rewritten", "rows_removed",
                     "versions_deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def parquet_without(body: bytes, register: ErasureRegister) -> tuple[bytes | None, int]:
    """A raw Parquet object without the rows of erased users: ``(new body, removed)``;
    the body is returned untouched when nothing is removed, None when nothing is left.
    The schema and compression (Snappy, as Firehose writes) are kept."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(body))
    if table.num_rows == 0 or "login" not in table.column_names:
        return body, 0
    ids = pc.struct_field(table.column("login"), "uuid").to_pylist()
    hashes = register.hashes
    keep = [uid is None or register.hash_of(uid) not in hashes for uid in ids]
    removed = keep.count(False)
    if not removed:
        return body, 0
    if removed == len(keep):
        return None, removed
    out = pa.BufferOutputStream()
    pq.write_table(table.filter(pa.array(keep)), out, compression="snappy")
    return out.getvalue().to_pybytes(), removed


def lines_without(body: bytes, user_ids: Sequence[str]) -> tuple[bytes | None, int]:
    """A JSON-lines object (quarantine, Firehose error output) without every line that
    holds one of ``user_ids`` anywhere, as bytes: a quarantined record may be too broken
    to parse, so the line is matched as text. None when no line is left."""
    needles = [u.encode("utf-8") for u in user_ids]
    lines = body.splitlines(keepends=True)
    kept = [line for line in lines if not any(n in line for n in needles)]
    removed = len(lines) - len(kept)
    if not removed:
        return body, 0
    return (b"".join(kept) or None), removed


# ------------------------------------------------------------------ S3 objects


class ObjectRewriter:
    """Rewrites objects in place through a boto3-shaped S3 client, and deletes every
    older version of a rewritten object (on a versioned bucket the old bytes would
    otherwise stay readable until the noncurrent-version rule expires them)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self.s3.list_objects_v2(**kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return keys
            kwargs["ContinuationToken"] = token

    def read(self, bucket: str, key: str) -> bytes:
        return read_body(self.s3.get_object(Bucket=bucket, Key=key)["Body"])

    def rewrite(self, bucket: str, key: str,
                rewrite: Callable[[bytes], tuple[bytes | None, int]]) -> LayerCount:
        count = LayerCount(objects_scanned=1)
        body, removed = rewrite(self.read(bucket, key))
        if removed:
            if body is None:
                self.s3.delete_object(Bucket=bucket, Key=key)
            else:
                self.s3.put_object(Bucket=bucket, Key=key, Body=body)
            count.objects_rewritten, count.rows_removed = 1, removed
        count.versions_deleted = self.purge_older_versions(
            bucket, key, everything=bool(removed) and body is None)
        return count

    def purge_older_versions(self, bucket: str, key: str, *, everything: bool = False) -> int:
        """Delete every noncurrent version and delete marker of ``key`` (with
        ``everything``, the current delete marker too: the object leaves no trace); how
        many. A client without versions (the local twin keeps none) has nothing to purge."""
        if not hasattr(self.s3, "list_object_versions"):
            return 0
        deleted = 0
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        while True:
            page = self.s3.list_object_versions(**kwargs)
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if v["Key"] == key and (everything or not v.get("IsLatest")):
                    self.s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
                    deleted += 1
            if not page.get("IsTruncated"):
                return deleted
            kwargs.update(KeyMarker=page["NextKeyMarker"],
                          VersionIdMarker=page.get("NextVersionIdMarker"))

    def purge_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every noncurrent version and every delete marker under ``prefix``:
        what deleting a folder (a superseded transform version) leaves readable on a
        versioned bucket. How many were deleted; 0 on a client without versions."""
        if not hasattr(self.s3, "list_object_versions"):
            return 0
        deleted = 0
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self.s3.list_object_versions(**kwargs)
            old = [v for v in page.get("Versions", []) if not v.get("IsLatest")]
            for v in [*old, *page.get("DeleteMarkers", [])]:
                self.s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
                deleted += 1
            if not page.get("IsTruncated"):
                return deleted
            kwargs.update(KeyMarker=page["NextKeyMarker"],
                          VersionIdMarker=page.get("NextVersionIdMarker"))

    def versions(self, bucket: str, prefix: str) -> list[tuple[str, str | None]]:
        """``(key, version id)`` of every noncurrent version under ``prefix`` (none on a
        client without versions): bytes a reader with s3:GetObjectVersion still gets."""
        if not hasattr(self.s3, "list_object_versions"):
            return []
        out: list[tuple[str, str | None]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self.s3.list_object_versions(**kwargs)
            out += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])
                    if not v.get("IsLatest")]
            if not page.get("IsTruncated"):
                return out
            kwargs.update(KeyMarker=page["NextKeyMarker"],
                          VersionIdMarker=page.get("NextVersionIdMarker"))

    def read_version(self, bucket: str, key: str, version_id: str | None) -> bytes:
        if version_id is None:
            return self.read(bucket, key)
        return read_body(self.s3.get_object(Bucket=bucket, Key=key,
                                            VersionId=version_id)["Body"])


def partition_day(key: str, prefix: str) -> str | None:
    """``raw/user_data/p_date=D/obj`` under ``raw/user_data/`` -> ``D``."""
    rest = key[len(prefix):] if key.startswith(prefix) else ""
    head = rest.split("/", 1)[0]
    return head.removeprefix(f"{PARTITION_KEY}=") if head.startswith(f"{PARTITION_KEY}=") \
        else None
