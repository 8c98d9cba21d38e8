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

from contracts.erasure import REGISTER_KEY, ErasureRegister
from contracts.tables import PARTITION_KEY

__all__ = ["LayerCount", "ObjectRewriter", "S3RegisterWriter", "lines_without",
           "parquet_without", "partition_day"]


class S3RegisterWriter:
    """Writes the erasure register (``contracts.erasure_store`` only reads it)."""

    def __init__(self, s3: Any, bucket: str, key: str = REGISTER_KEY) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key

    def save(self, register: ErasureRegister) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key,
                           Body=register.to_json().encode("utf-8"),
                           ContentType="application/json")


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
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            close = getattr(body, "close", None)
            if close:
                close()

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


def partition_day(key: str, prefix: str) -> str | None:
    """``raw/user_data/p_date=D/obj`` under ``raw/user_data/`` -> ``D``."""
    rest = key[len(prefix):] if key.startswith(prefix) else ""
    head = rest.split("/", 1)[0]
    return head.removeprefix(f"{PARTITION_KEY}=") if head.startswith(f"{PARTITION_KEY}=") \
        else None
