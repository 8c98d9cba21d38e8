"""The erasure Glue job's steps, one per task of ``orchestration/erasure.asl.json``.

The state machine runs the job once per step; each run is idempotent, so a retried or
rerun step finishes what a killed one began. Every step reaches the outside through
:class:`ErasureClients` (boto3-shaped clients and ports), the same bodies as
``udp erase`` (``glue_jobs.erasure_job``):

* ``register``: register the ids, find the affected days, keep the values' hashes,
  filter the quarantine; writes the execution's plan (days only, never ids) to
  ``_erasure/executions/<execution>/plan.json``, which the state machine's Map reads;
* ``day`` (``--p_date``, ``--republish``), under the day's lease the state machine
  holds: rewrite the day's raw objects without any registered user, republish the day
  through the transform (which drops registered users), delete the superseded versions
  and, on a versioned bucket, every older object version they leave;
* ``warehouse``: one audited transaction (``erase_in_warehouse``) over the bulk
  import's Redshift login;
* ``dynamodb``: the push path's user table;
* ``verify``: scan what S3 holds (the plan's days in raw and every model table, their
  noncurrent versions, the whole quarantine) for the users' id and stored values by
  their salted hashes, search every other day for the ids, count the warehouse rows and
  DynamoDB items left; writes ``verify.json`` (counts per layer). The state machine
  fails the execution when anything was found; otherwise the register entries are
  marked complete and an ids file under ``_erasure/incoming/`` is deleted.

The ids come as ``--ids``: a JSON list, or the key of a file in the lake bucket under
``_erasure/incoming/`` with one id a line (which keeps them out of the execution's
history).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from contracts import dates
from contracts.erasure import InvalidUserId, parse_user_ids
from contracts.erasure_store import S3RegisterStore, read_body
from contracts.tables import DQ_RESULTS, MODEL_TABLES, RAW
from glue_jobs.erasure import ObjectRewriter, S3RegisterWriter
from glue_jobs.erasure_job import (
    ErasureSettings,
    UserTable,
    WarehouseEraser,
    _error_objects,
    _keys,
    _Progress,
    affected_days,
    day_in_key,
    erase_raw_day,
    plan_erasure,
    unpublished_raw_days,
)
from glue_jobs.erasure_verify import count_in, fingerprint

if TYPE_CHECKING:
    from glue_jobs.runtime_port import JobRuntime

__all__ = [
    "EXECUTIONS_PREFIX",
    "INCOMING_PREFIX",
    "STEPS",
    "ErasureClients",
    "ErasureOptions",
    "InvalidErasureArguments",
    "job_option_names",
    "main",
    "options_from_args",
    "plan_key",
    "read_ids",
    "republish_day",
    "verify_key",
    "verify_s3",
]

STEPS = ("register", "day", "warehouse", "dynamodb", "verify")
EXECUTIONS_PREFIX = "_erasure/executions/"
INCOMING_PREFIX = "_erasure/incoming/"
"""Where an ids file (one id a line) is put for ``--ids``; deleted once verified."""

_COMMON = ["step", "execution", "lake_uri", "errors_bucket"]
_PER_STEP: dict[str, list[str]] = {
    "register": ["ids"],
    "day": ["p_date", "republish", "salt_secret_id"],
    "warehouse": ["ids", "secret_id"],
    "dynamodb": ["ids", "user_table"],
    "verify": ["ids", "secret_id", "user_table"],
}
_EXECUTION = re.compile(r"[A-Za-z0-9_-]{1,80}")


class InvalidErasureArguments(ValueError):
    """Job arguments the erasure cannot run with (named in one line)."""


def job_option_names(argv: Sequence[str]) -> list[str]:
    """Names to pass ``getResolvedOptions`` for this ``argv``: the common ones and the
    step's (awsglue makes each name it is asked for required). An unknown step asks
    for the common names only; :func:`options_from_args` then refuses it."""
    argv = list(argv)
    step = argv[argv.index("--step") + 1] if "--step" in argv[:-1] else ""
    return ["JOB_NAME", *_COMMON, *_PER_STEP.get(step, [])]


def plan_key(execution: str) -> str:
    return f"{EXECUTIONS_PREFIX}{execution}/plan.json"


def verify_key(execution: str) -> str:
    return f"{EXECUTIONS_PREFIX}{execution}/verify.json"


@dataclass(frozen=True)
class ErasureOptions:
    step: str
    execution: str
    settings: ErasureSettings
    ids: str | None = None
    p_date: str | None = None
    republish: bool = False
    salt_secret_id: str | None = None
    secret_id: str | None = None
    user_table: str | None = None


def _bucket_of(lake_uri: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/?", lake_uri):
        raise InvalidErasureArguments(f"--lake_uri must be s3://<bucket>, got {lake_uri!r}")
    return lake_uri.removeprefix("s3://").rstrip("/")


def options_from_args(args: Mapping[str, str]) -> ErasureOptions:
    """Validated options from ``getResolvedOptions``-style ``args`` (names without --)."""
    step = args.get("step", "")
    if step not in STEPS:
        raise InvalidErasureArguments(f"--step must be one of {', '.join(STEPS)}, got {step!r}")
    execution = args.get("execution", "")
    if not _EXECUTION.fullmatch(execution):
        raise InvalidErasureArguments("--execution must be 1 to 80 letters, digits, - or _ "
                                      f"(the execution's name), got {execution!r}")
    settings = ErasureSettings(_bucket_of(args.get("lake_uri", "")),
                               args.get("errors_bucket", ""))
    missing = [f"--{n}" for n in ("errors_bucket", *_PER_STEP[step]) if not args.get(n)]
    if missing:
        raise InvalidErasureArguments(f"step {step} needs {', '.join(missing)}")
    p_date = dates.check_p_date(args["p_date"]) if step == "day" else None
    republish = args.get("republish", "false")
    if republish not in ("true", "false"):
        raise InvalidErasureArguments(f"--republish must be true or false, got {republish!r}")
    return ErasureOptions(step, execution, settings, ids=args.get("ids"), p_date=p_date,
                          republish=republish == "true",
                          salt_secret_id=args.get("salt_secret_id"),
                          secret_id=args.get("secret_id"), user_table=args.get("user_table"))


class ErasureClients(Protocol):
    """What the steps reach the outside through, each made only when a step asks."""

    def s3(self) -> Any:
        """A boto3-shaped S3 client."""

    def runtime(self) -> JobRuntime:
        """Spark and the Glue catalog, for a day's republish."""

    def salt(self, secret_id: str) -> str:
        """The e-mail hash salt the transform uses."""

    def warehouse(self, secret_id: str) -> WarehouseEraser:
        """The warehouse's erase and count (the bulk import's login)."""

    def users(self, table: str) -> UserTable:
        """The push path's user table."""


def read_ids(ids: str, s3: Any, bucket: str) -> list[str]:
    """``--ids``: a JSON list of ids, or the key of an ids file under
    :data:`INCOMING_PREFIX` in the lake bucket (one id a line, ``#`` comments)."""
    if ids.lstrip().startswith("["):
        try:
            values = json.loads(ids)
        except ValueError:
            raise InvalidErasureArguments("--ids is not a JSON list of user ids") from None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidErasureArguments("--ids must be a JSON list of strings")
    else:
        if not ids.startswith(INCOMING_PREFIX) or ".." in ids:
            raise InvalidErasureArguments(f"an ids file must be a key under {INCOMING_PREFIX} "
                                          f"in the lake bucket, got {ids!r}")
        try:
            body = read_body(s3.get_object(Bucket=bucket, Key=ids)["Body"])
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise InvalidErasureArguments(f"no ids file s3://{bucket}/{ids}") from None
            raise
        values = body.decode("utf-8").splitlines()
    try:
        parsed = parse_user_ids(values)
    except InvalidUserId as exc:
        raise InvalidErasureArguments(str(exc)) from None
    if not parsed:
        raise InvalidErasureArguments("--ids names no user id")
    return parsed


def _write_json(s3: Any, bucket: str, key: str, doc: Mapping[str, Any]) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(doc, indent=1).encode(),
                  ContentType="application/json")


def _read_plan(s3: Any, bucket: str, execution: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(read_body(
        s3.get_object(Bucket=bucket, Key=plan_key(execution))["Body"]))
    return doc


def _register_step(o: ErasureOptions, c: ErasureClients) -> dict[str, Any]:
    s3 = c.s3()
    ids = read_ids(o.ids or "", s3, o.settings.lake_bucket)
    _register, plan, quarantine = plan_erasure(ids, s3, o.settings, datetime.now(UTC))
    progress = _Progress(s3, o.settings.lake_bucket, plan.request_id)
    marked = _keys(ObjectRewriter(s3), o.settings.lake_bucket, _done_prefix(progress))
    done = [*progress.doc["done_days"],
            *(k.rsplit("/", 1)[-1].removesuffix(".json") for k in marked)]
    doc = {"request_id": plan.request_id, "users": len(ids), "days": plan.items(done),
           "quarantine": quarantine.__dict__}
    _write_json(s3, o.settings.lake_bucket, plan_key(o.execution), doc)
    return doc


def _done_prefix(progress: _Progress) -> str:
    """Where the day steps of a request mark their days done, one object each: days run
    at once must not overwrite each other's progress."""
    return f"{progress.key.removesuffix('.json')}/done/"


def republish_day(runtime: JobRuntime, lake_uri: str, salt: str, day: str,
                  run_key: str, register: Any) -> bool:
    """The transform of one day again (registered users dropped), superseded versions
    deleted; whether it published."""
    from glue_jobs.transform_job import TransformSettings, transform_chunk

    settings = TransformSettings(lake_uri, salt, keep_previous_version=False,
                                 erasures=register)
    [result] = transform_chunk(runtime, [date.fromisoformat(day)], settings, run_key=run_key)
    return bool(result["status"] == "SUCCEEDED")


def _day_step(o: ErasureOptions, c: ErasureClients) -> dict[str, Any]:
    s3 = c.s3()
    bucket, day = o.settings.lake_bucket, str(o.p_date)
    plan = _read_plan(s3, bucket, o.execution)
    register = S3RegisterStore(s3, bucket).load()
    rewriter = ObjectRewriter(s3)
    raw = erase_raw_day(rewriter, o.settings, register, day)
    published = True
    versions = 0
    if o.republish:
        run_key = f"erase-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        published = republish_day(c.runtime(), f"s3://{bucket}", c.salt(str(o.salt_secret_id)),
                                  day, run_key, register)
        if not published:
            raise RuntimeError(f"p_date {day}: the republish did not publish (see the "
                               "transform's data-quality results); the raw objects are "
                               "rewritten, a rerun of the erasure republishes the day")
        for table in MODEL_TABLES:
            versions += rewriter.purge_prefix(bucket, f"{table.prefix}/_versions/{day}/")
    progress = _Progress(s3, bucket, plan["request_id"])
    _write_json(s3, bucket, f"{_done_prefix(progress)}{day}.json",
                {"p_date": day, "raw": raw.__dict__, "versions_deleted": versions})
    return {"p_date": day, "republished": o.republish and published,
            "raw": raw.__dict__, "versions_deleted": versions}


def _verify_step(o: ErasureOptions, c: ErasureClients) -> dict[str, Any]:
    s3 = c.s3()
    bucket = o.settings.lake_bucket
    ids = read_ids(o.ids or "", s3, bucket)
    plan = _read_plan(s3, bucket, o.execution)
    layers = verify_s3(s3, o.settings, ids, [d["p_date"] for d in plan["days"]])
    layers["warehouse"] = c.warehouse(str(o.secret_id)).remaining(ids)
    layers["dynamodb"] = c.users(str(o.user_table)).present(ids)
    found = sum(layers.values())
    if not found:
        S3RegisterWriter(s3, bucket).update(lambda r: r.completed(ids, datetime.now(UTC)))
        _Progress(s3, bucket, plan["request_id"]).mark("complete")
        if not (o.ids or "").lstrip().startswith("["):
            s3.delete_object(Bucket=bucket, Key=o.ids)
    doc = {"request_id": plan["request_id"], "found": found, "layers": layers}
    _write_json(s3, bucket, verify_key(o.execution), doc)
    return doc


def verify_s3(s3: Any, settings: ErasureSettings, user_ids: Sequence[str],
              days: Sequence[str]) -> dict[str, int]:
    """Occurrences of the users' ids and stored values in S3, per layer: every object
    (and noncurrent version) of ``days`` in raw and in every model table, decoded and
    byte-searched by hash; the whole quarantine; and ``other days``: days whose
    transform ``user_id`` or (for a day never published) raw ``login`` still hold an
    id. Counts only."""
    register = S3RegisterStore(s3, settings.lake_bucket).load()
    prints = [p for p in (fingerprint(register, u) for u in user_ids) if p is not None]
    if len(prints) != len(user_ids):
        raise InvalidErasureArguments("an id to verify has no register entry: it was never "
                                      "registered by an erasure")
    rewriter = ObjectRewriter(s3)
    lake = settings.lake_bucket
    wanted = set(days)

    def scan(bucket: str, keys: Sequence[str], prefix: str) -> int:
        hits = sum(count_in(rewriter.read(bucket, k), prints) for k in keys)
        return hits + sum(count_in(rewriter.read_version(bucket, k, v), prints)
                          for k, v in rewriter.versions(bucket, prefix)
                          if k in set(keys) or day_in_key(k) in wanted)

    raw_keys = [k for k in _keys(rewriter, lake, f"{RAW.prefix}/") if day_in_key(k) in wanted]
    out = {"raw": scan(lake, raw_keys, f"{RAW.prefix}/")}
    transform = 0
    for table in (*MODEL_TABLES, DQ_RESULTS):
        keys = [k for k in _keys(rewriter, lake, f"{table.prefix}/") if day_in_key(k) in wanted]
        transform += scan(lake, keys, f"{table.prefix}/")
    out["transform"] = transform
    out["quarantine"] = sum(count_in(rewriter.read(b, k), prints)
                            for b, k in _error_objects(rewriter, settings))
    out["other days"] = (len(affected_days(rewriter, lake, user_ids))
                         + len(unpublished_raw_days(rewriter, lake, user_ids)))
    return out


def main(args: Mapping[str, str], clients: ErasureClients) -> dict[str, Any]:
    """One step of the erasure job (see the module docstring); its JSON-ready result."""
    o = options_from_args(args)
    if o.step == "register":
        return _register_step(o, clients)
    if o.step == "day":
        return _day_step(o, clients)
    ids = read_ids(o.ids or "", clients.s3(), o.settings.lake_bucket)
    if o.step == "warehouse":
        plan = _read_plan(clients.s3(), o.settings.lake_bucket, o.execution)
        rows = clients.warehouse(str(o.secret_id)).erase(ids, plan["request_id"])
        return {"rows_removed": rows}
    if o.step == "dynamodb":
        return {"items_removed": clients.users(str(o.user_table)).delete(ids)}
    return _verify_step(o, clients)


