"""The erasure job: remove users from every layer, resumably, beside the nightly runs.

One body for ``udp erase`` and the erasure Glue job; every outside call goes through
the ports of :class:`ErasurePorts` (boto3-shaped clients, a warehouse port, the
transform's republish). Steps, each idempotent, with progress kept in one S3 object per
request (``_erasure/requests/<request id>.json``: days and counts, never ids):

1. register the ids (a conditional write: see ``S3RegisterWriter``); from here on every
   ingest, rerun and backfill drops them;
2. find the affected days: the transform layer's ``users`` table says on which days
   each user arrived (its ``user_id`` column, one column read per object); a raw day
   with no published version at all (never transformed, or stopped by the DQ gate) is
   found from the S3 listing and only its raw ``login`` column is read; capture the
   users' e-mail, name and phones from those raw days and the quarantine, as salted
   hashes in the register, for ``--verify``;
3. filter the quarantine (the errors bucket, every object, and the lake's ``errors/``
   prefix): quarantined records are found by their id as text, whatever day they are
   under, since a broken record may not reach the transform layer at all;
4. per affected day, under the day's lease (the one the nightly and the backfill take):
   rewrite its raw objects without the users, then republish the day through the
   transform's versioned publish (which drops registered users) and delete the
   superseded versions; a day another run holds is left for the next ``udp erase``;
5. delete from the warehouse (one audited transaction) and the push path's user table;
6. mark the register entries complete once no day is left.

Killed at any point, each raw object is either rewritten or not (S3 puts are atomic),
each transform day points at either its old or its new version, and readers of a day
not yet republished never see the users again (the transform drops them); running the
same request again finishes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from contracts.erasure import ErasureRegister
from contracts.tables import PARTITION_KEY, RAW, USERS
from glue_jobs.erasure import (
    LayerCount,
    ObjectRewriter,
    S3RegisterWriter,
    json_lines_values,
    lines_without,
    parquet_values,
    parquet_without,
    partition_day,
    users_in_parquet,
    users_in_raw,
)

__all__ = [
    "ERRORS_PREFIX",
    "REQUESTS_PREFIX",
    "WAREHOUSE_TABLES",
    "DynamoLeases",
    "DynamoUserTable",
    "ErasurePlan",
    "ErasurePorts",
    "ErasureReport",
    "ErasureSettings",
    "affected_days",
    "erase_in_warehouse",
    "erase_raw_day",
    "erase_users",
    "plan_erasure",
    "request_id",
    "rows_of_users",
    "unpublished_raw_days",
]

log = logging.getLogger(__name__)

REQUESTS_PREFIX = "_erasure/requests/"
ERRORS_PREFIX = "errors/"
"""The lake's own error prefix (Firehose's ``ErrorOutputPrefix``)."""
WAREHOUSE_TABLES = (f"analytics.{USERS.name}", f"staging.{USERS.name}")
"""Warehouse tables holding rows per user: the model and the load's staging table."""
AUDIT_TABLE = "audit.erasure_log"


def request_id(register: ErasureRegister, user_ids: Sequence[str]) -> str:
    """A request's name: a hash of its users' register hashes (no id in it)."""
    joined = "|".join(sorted({register.hash_of(u) for u in user_ids}))
    return hashlib.sha256(joined.encode()).hexdigest()[:20]


# ------------------------------------------------------------------ ports


class DateLeases(Protocol):
    def acquire(self, p_date: str, holder: str, now_ms: int, expires_ms: int) -> bool:
        """Take the day's lease; False when a live run holds it."""

    def release(self, p_date: str, holder: str) -> None: ...


def _error_code(exc: Exception) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return str(code or getattr(exc, "error", "") or type(exc).__name__)


class DynamoLeases:
    """The per-date leases of ``docs/adr/0008-one-run-per-date.md`` through a
    boto3-shaped DynamoDB client: the same item and condition as the state machines'
    ``AcquireDateLease``, so an erasure and a run of a day exclude each other."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def acquire(self, p_date: str, holder: str, now_ms: int, expires_ms: int) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"p_date": {"S": p_date}, "holder": {"S": holder},
                      "started_at": {"S": datetime.now(UTC).isoformat()},
                      "expires_at": {"N": str(expires_ms)}},
                ConditionExpression="attribute_not_exists(p_date) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(now_ms)}})
        except Exception as exc:
            if "ConditionalCheckFailed" in _error_code(exc):
                return False
            raise
        return True

    def release(self, p_date: str, holder: str) -> None:
        try:
            self.client.delete_item(TableName=self.table, Key={"p_date": {"S": p_date}},
                                    ConditionExpression="holder = :me",
                                    ExpressionAttributeValues={":me": {"S": holder}})
        except Exception as exc:
            if "ConditionalCheckFailed" not in _error_code(exc):
                raise


class DynamoUserTable:
    """The push path's user table (key ``user_id``) through a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def delete(self, user_ids: Sequence[str]) -> int:
        deleted = 0
        for uid in user_ids:
            answer = self.client.delete_item(TableName=self.table,
                                             Key={"user_id": {"S": uid}},
                                             ReturnValues="ALL_OLD")
            deleted += bool(answer.get("Attributes"))
        return deleted

    def present(self, user_ids: Sequence[str]) -> int:
        """How many of ``user_ids`` still have an item (a consistent read each)."""
        return sum(bool(self.client.get_item(TableName=self.table,
                                             Key={"user_id": {"S": uid}},
                                             ConsistentRead=True).get("Item"))
                   for uid in user_ids)


class UserTable(Protocol):
    def delete(self, user_ids: Sequence[str]) -> int: ...

    def present(self, user_ids: Sequence[str]) -> int:
        """How many of ``user_ids`` the table still holds."""


class WarehouseEraser(Protocol):
    def erase(self, user_ids: Sequence[str], erasure_id: str) -> int:
        """Delete the users' rows in one audited transaction; rows deleted."""

    def remaining(self, user_ids: Sequence[str]) -> int:
        """Rows of ``user_ids`` still in :data:`WAREHOUSE_TABLES`."""


def erase_in_warehouse(cursor: Any, user_ids: Sequence[str], erasure_id: str,
                       now: datetime) -> int:
    """The warehouse delete on a DB-API cursor (Redshift or PostgreSQL), inside the
    caller's transaction: the users' rows out of every table in
    :data:`WAREHOUSE_TABLES`, then one row in ``audit.erasure_log`` saying how many
    users and rows (never which). Returns the rows deleted."""
    ids = list(user_ids)
    marks = ", ".join(["%s"] * len(ids))
    deleted = 0
    cursor.execute(f"create table if not exists {AUDIT_TABLE} (erasure_id varchar(64) "
                   "not null, users_requested integer not null, rows_deleted bigint not "
                   "null, finished_at timestamp not null)")
    for table in WAREHOUSE_TABLES:
        cursor.execute(f"delete from {table} where user_id in ({marks})", ids)
        deleted += max(cursor.rowcount or 0, 0)
    cursor.execute(f"insert into {AUDIT_TABLE} (erasure_id, users_requested, rows_deleted, "
                   "finished_at) values (%s, %s, %s, %s)",
                   (erasure_id, len(ids), deleted, now.replace(tzinfo=None)))
    return deleted


def rows_of_users(cursor: Any, user_ids: Sequence[str]) -> int:
    """Rows of ``user_ids`` in every table of :data:`WAREHOUSE_TABLES` (a DB-API cursor)."""
    ids = list(user_ids)
    marks = ", ".join(["%s"] * len(ids))
    total = 0
    for table in WAREHOUSE_TABLES:
        cursor.execute(f"select count(*) from {table} where user_id in ({marks})", ids)
        total += int(cursor.fetchone()[0])
    return total


Republish = Callable[[Sequence[str], str], Mapping[str, bool]]
"""``(days, run_key) -> {day: published}``: the transform of those days again."""


@dataclass
class ErasurePorts:
    s3: Any
    leases: DateLeases
    warehouse: WarehouseEraser
    users: UserTable
    republish: Republish
    purge_versions: Callable[[str], int] = lambda uri: 0
    """Delete what a deleted transform version folder leaves in a versioned bucket."""


@dataclass(frozen=True)
class ErasureSettings:
    lake_bucket: str
    errors_bucket: str
    lease_seconds: int = 21600


@dataclass
class ErasureReport:
    """What one ``udp erase`` did: counts per layer and days, never ids."""

    request_id: str
    users: int
    days_affected: list[str] = field(default_factory=list)
    days_done: list[str] = field(default_factory=list)
    days_held: list[str] = field(default_factory=list)
    days_failed: list[str] = field(default_factory=list)
    layers: dict[str, dict[str, int]] = field(default_factory=dict)
    complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Progress:
    """The request's progress object in the lake (days and steps, never ids)."""

    def __init__(self, s3: Any, bucket: str, rid: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, f"{REQUESTS_PREFIX}{rid}.json"
        try:
            body = s3.get_object(Bucket=bucket, Key=self.key)["Body"].read()
            self.doc: dict[str, Any] = json.loads(body)
        except Exception as exc:
            if _error_code(exc) not in ("NoSuchKey", "404"):
                raise
            self.doc = {"request_id": rid, "days": [], "done_days": [], "steps": []}

    def save(self) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key,
                           Body=json.dumps(self.doc, indent=1).encode())

    def step_done(self, step: str) -> bool:
        return step in self.doc["steps"]

    def mark(self, step: str) -> None:
        if step not in self.doc["steps"]:
            self.doc["steps"].append(step)
        self.save()


def _keys(rewriter: ObjectRewriter, bucket: str, prefix: str) -> list[str]:
    return [k for k in rewriter.keys(bucket, prefix) if not k.endswith("/")]


def day_in_key(key: str) -> str | None:
    """The ``p_date`` of the Hive folder a key sits in (a transform version's files sit
    in ``_versions/<day>/<run>/p_date=<day>/``), or None."""
    for part in key.split("/")[:-1]:
        if part.startswith(f"{PARTITION_KEY}="):
            return part.removeprefix(f"{PARTITION_KEY}=")
    return None


def affected_days(rewriter: ObjectRewriter, bucket: str, user_ids: Sequence[str]) -> list[str]:
    """The days whose transform ``users`` partition holds one of ``user_ids``."""
    days: set[str] = set()
    for key in _keys(rewriter, bucket, f"{USERS.prefix}/"):
        day = day_in_key(key)
        name = key.rsplit("/", 1)[-1]
        if day is None or day in days or not name.endswith(".parquet") \
                or name.startswith((".", "_")):
            continue
        if users_in_parquet(rewriter.read(bucket, key), user_ids, "user_id"):
            days.add(day)
    return sorted(days)


def _error_objects(rewriter: ObjectRewriter, settings: ErasureSettings
                   ) -> list[tuple[str, str]]:
    return ([(settings.errors_bucket, k) for k in _keys(rewriter, settings.errors_bucket, "")]
            + [(settings.lake_bucket, k)
               for k in _keys(rewriter, settings.lake_bucket, ERRORS_PREFIX)])


def _raw_keys(rewriter: ObjectRewriter, bucket: str, day: str) -> list[str]:
    return [k for k in _keys(rewriter, bucket, f"{RAW.prefix}/p_date={day}/")
            if not k.rsplit("/", 1)[-1].startswith((".", "_"))]


def _capture(rewriter: ObjectRewriter, settings: ErasureSettings, days: Sequence[str],
             user_ids: Sequence[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}

    def merge(found: Mapping[str, list[str]]) -> None:
        for uid, vals in found.items():
            values.setdefault(uid, []).extend(vals)

    for day in days:
        for key in _raw_keys(rewriter, settings.lake_bucket, day):
            merge(parquet_values(rewriter.read(settings.lake_bucket, key), user_ids))
    for bucket, key in _error_objects(rewriter, settings):
        merge(json_lines_values(rewriter.read(bucket, key), user_ids))
    return values


def unpublished_raw_days(rewriter: ObjectRewriter, bucket: str,
                         user_ids: Sequence[str]) -> list[str]:
    """The raw days with no transform version at all (never transformed, or every run
    of them stopped at the data-quality gate) whose raw objects hold one of
    ``user_ids``. The transform layer cannot say who arrived on such a day, so the S3
    listing finds them (raw ``p_date`` folders without a ``users`` folder of the same
    day) and only their raw objects are read, the ``login`` column of each."""
    published = {day_in_key(k) for k in _keys(rewriter, bucket, f"{USERS.prefix}/")}
    prefix = f"{RAW.prefix}/"
    by_day: dict[str, list[str]] = {}
    for key in _keys(rewriter, bucket, prefix):
        day = partition_day(key, prefix)
        if day is None or day in published or key.rsplit("/", 1)[-1].startswith((".", "_")):
            continue
        by_day.setdefault(day, []).append(key)
    return [day for day, keys in sorted(by_day.items())
            if any(users_in_raw(rewriter.read(bucket, k), user_ids) for k in keys)]


@dataclass(frozen=True)
class ErasurePlan:
    """The days one request rewrites: ``days`` are republished after their raw objects
    are, ``raw_only_days`` (no published version) only have their raw objects rewritten.
    Days and counts, never ids."""

    request_id: str
    days: tuple[str, ...]
    raw_only_days: tuple[str, ...] = ()

    def items(self, done: Sequence[str] = ()) -> list[dict[str, Any]]:
        """One ``{"p_date", "republish"}`` per day still to do, in date order (what the
        erasure state machine's Map runs)."""
        return [{"p_date": d, "republish": d in self.days}
                for d in sorted({*self.days, *self.raw_only_days}) if d not in done]


def plan_erasure(ids: Sequence[str], s3: Any, settings: ErasureSettings, now: datetime
                 ) -> tuple[ErasureRegister, ErasurePlan, LayerCount]:
    """Steps 1 to 3: register the ids, find the affected days (the transform layer's
    ``user_id``, and the raw days that never published), keep the values' hashes for
    the verify (once per request), filter the quarantine. Idempotent: a rerun finds
    what is still left and keeps what a first, killed attempt found."""
    writer = S3RegisterWriter(s3, settings.lake_bucket)
    register = writer.update(lambda r: r.requested(ids, now))
    rid = request_id(register, ids)
    progress = _Progress(s3, settings.lake_bucket, rid)
    rewriter = ObjectRewriter(s3)
    days = sorted(set(progress.doc["days"]) | set(affected_days(rewriter, settings.lake_bucket,
                                                                ids)))
    raw_only = sorted((set(progress.doc.get("raw_only_days", []))
                       | set(unpublished_raw_days(rewriter, settings.lake_bucket, ids)))
                      - set(days))
    progress.doc["days"], progress.doc["raw_only_days"] = days, raw_only
    if not progress.step_done("capture"):
        values = _capture(rewriter, settings, [*days, *raw_only], ids)
        register = writer.update(lambda r: _with_values(r, values))
        progress.mark("capture")
    else:
        progress.save()
    quarantine = LayerCount()
    for bucket, key in _error_objects(rewriter, settings):
        quarantine.add(rewriter.rewrite(bucket, key, lambda b: lines_without(b, ids)))
    return register, ErasurePlan(rid, tuple(days), tuple(raw_only)), quarantine


def erase_raw_day(rewriter: ObjectRewriter, settings: ErasureSettings,
                  register: ErasureRegister, day: str) -> LayerCount:
    """Rewrite one day's raw objects without any registered user (under its lease)."""
    count = LayerCount()
    for key in _raw_keys(rewriter, settings.lake_bucket, day):
        count.add(rewriter.rewrite(settings.lake_bucket, key,
                                   lambda b: parquet_without(b, register)))
    return count


def erase_users(user_ids: Sequence[str], ports: ErasurePorts, settings: ErasureSettings,
                *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ErasureReport:
    """Run (or finish) the erasure of ``user_ids``; see the module docstring."""
    ids = list(dict.fromkeys(user_ids))
    register, plan, quarantine = plan_erasure(ids, ports.s3, settings, now())
    rid = plan.request_id
    report = ErasureReport(rid, len(ids))
    progress = _Progress(ports.s3, settings.lake_bucket, rid)
    rewriter = ObjectRewriter(ports.s3)
    layers = {"raw": LayerCount(), "quarantine": quarantine, "transform": LayerCount()}
    report.days_affected = sorted({*plan.days, *plan.raw_only_days})

    # 4) each affected day under its lease: raw, then the transform's republish
    done = set(progress.doc["done_days"])
    pending = [item["p_date"] for item in plan.items(sorted(done))]
    holder = f"erasure:{rid}"
    leased: list[str] = []
    started = now()
    now_ms = int(started.timestamp() * 1000)
    try:
        for day in pending:
            if ports.leases.acquire(day, holder, now_ms,
                                    now_ms + settings.lease_seconds * 1000):
                leased.append(day)
            else:
                report.days_held.append(day)
        for day in leased:
            layers["raw"].add(erase_raw_day(rewriter, settings, register, day))
        done.update(d for d in leased if d in plan.raw_only_days)
        republish = [d for d in leased if d in plan.days]
        if republish:
            outcome = ports.republish(republish, f"erase-{started:%Y%m%dT%H%M%S}")
            for day in republish:
                if outcome.get(day):
                    done.add(day)
                    layers["transform"].objects_rewritten += 1
                else:
                    report.days_failed.append(day)
        progress.doc["done_days"] = sorted(done)
        progress.save()
    finally:
        for day in leased:
            ports.leases.release(day, holder)
    report.days_done = sorted(done)

    # 5) the warehouse and the push path's user table (idempotent: a rerun deletes 0)
    rows = ports.warehouse.erase(ids, rid)
    items = ports.users.delete(ids)
    report.layers = {name: asdict(c) for name, c in layers.items()}
    report.layers["warehouse"] = {"rows_removed": rows}
    report.layers["dynamodb"] = {"rows_removed": items}

    # 6) complete once every day is
    report.complete = not report.days_held and not report.days_failed
    if report.complete:
        S3RegisterWriter(ports.s3, settings.lake_bucket).update(
            lambda r: r.completed(ids, now()))
        progress.mark("complete")
    log.info("erasure %s: %s", rid, json.dumps(report.as_dict()))
    return report


def _with_values(register: ErasureRegister, values: Mapping[str, list[str]]
                 ) -> ErasureRegister:
    for uid, vals in values.items():
        register = register.with_values(uid, vals)
    return register
