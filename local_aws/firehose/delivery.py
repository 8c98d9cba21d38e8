"""Kinesis Data Firehose twin: Direct PUT -> buffer -> Parquet -> ``Prefix`` on S3.

The destination config has the shape of Firehose's ``ExtendedS3DestinationConfiguration``
(``BucketARN``, ``Prefix``, ``ErrorOutputPrefix``, ``BufferingHints``). The buffer flushes
when it reaches ``SizeInMBs`` or its oldest record is ``IntervalInSeconds`` old, and on
``close()``. Records are JSON; conversion writes Parquet (Snappy) with the raw table's
schema; fields not in the schema are dropped, as Firehose's conversion does. Records that
fail conversion go under ``ErrorOutputPrefix`` with ``!{firehose:error-output-type}``
set to ``format-conversion-failed``.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from contracts.locations import FIREHOSE_ERROR_PREFIX, FIREHOSE_PREFIX
from contracts.user_record import raw_arrow_schema, records_to_arrow
from local_aws.aws_model import aws_shaped
from local_aws.s3.client import LocalS3

__all__ = ["DeliveryStreamConfig", "LocalFirehose", "render_prefix"]

_NS = re.compile(r"!\{(timestamp|firehose):([^}]*)\}")
_JAVA_TO_PY = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
               ("ss", "%S")]


def _java_format(dt: datetime, pattern: str) -> str:
    out = pattern
    for java, py in _JAVA_TO_PY:
        out = out.replace(java, py)
    return dt.strftime(out)


def render_prefix(prefix: str, arrival: datetime, error_type: str | None = None) -> str:
    """Evaluate Firehose's ``!{timestamp:...}`` and ``!{firehose:error-output-type}``."""
    def sub(m: re.Match[str]) -> str:
        ns, arg = m.group(1), m.group(2)
        if ns == "timestamp":
            return _java_format(arrival.astimezone(UTC), arg)
        if arg == "error-output-type":
            if error_type is None:
                raise ValueError("!{firehose:error-output-type} is only valid in ErrorOutputPrefix")
            return error_type
        if arg == "random-string":
            return uuid.uuid4().hex[:11]
        raise ValueError(f"unknown firehose namespace argument {arg!r}")
    return _NS.sub(sub, prefix)


@dataclass(frozen=True)
class DeliveryStreamConfig:
    name: str
    bucket: str
    prefix: str = FIREHOSE_PREFIX
    error_prefix: str = FIREHOSE_ERROR_PREFIX
    size_mb: int = 64
    interval_s: int = 300
    schema: pa.Schema = field(default_factory=raw_arrow_schema)

    @classmethod
    def from_extended_s3(cls, name: str, dest: dict[str, Any],
                         schema: pa.Schema | None = None) -> DeliveryStreamConfig:
        hints = dest.get("BufferingHints", {})
        return cls(
            name=name,
            bucket=dest["BucketARN"].split(":::")[-1],
            prefix=dest.get("Prefix", ""),
            error_prefix=dest.get("ErrorOutputPrefix", ""),
            size_mb=int(hints.get("SizeInMBs", 64)),
            interval_s=int(hints.get("IntervalInSeconds", 300)),
            schema=schema or raw_arrow_schema(),
        )


@aws_shaped("firehose")
class LocalFirehose:
    """Firehose API subset: ``put_record_batch`` plus ``flush``/``close`` for the buffer."""

    def __init__(self, s3: LocalS3, streams: list[DeliveryStreamConfig],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), *,
                 failure_rate: float = 0.0, fault_seed: int = 11) -> None:
        """``failure_rate`` injects per-record ``ServiceUnavailableException`` answers."""
        self.s3 = s3
        self.failure_rate = failure_rate
        self._faults = random.Random(fault_seed)
        self.streams = {s.name: s for s in streams}
        self.clock = clock
        # per stream: one (arrival, records) chunk per accepted call, and the buffered bytes
        self._buffers: dict[str, list[tuple[datetime, list[bytes]]]] = {
            s: [] for s in self.streams}
        self._sizes: dict[str, int] = dict.fromkeys(self.streams, 0)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._id_prefix = uuid.uuid4().hex[:16]
        self.objects_written: list[str] = []

    def put_record_batch(self, *, DeliveryStreamName: str,
                         Records: list[dict[str, bytes]]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        cfg = self.streams.get(DeliveryStreamName)
        if cfg is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException",
                                         "Message": f"stream {DeliveryStreamName} not found"}},
                              "PutRecordBatch")
        if len(Records) > 500:
            raise ClientError({"Error": {"Code": "InvalidArgumentException",
                                         "Message": "at most 500 records per call"}},
                              "PutRecordBatch")
        now = self.clock()
        with self._lock:
            accepted: list[bytes] = []
            answers: list[dict[str, str]] = []
            for rec in Records:
                if self.failure_rate and self._faults.random() < self.failure_rate:
                    answers.append({"ErrorCode": "ServiceUnavailableException",
                                    "ErrorMessage": "Slow down."})
                    continue
                accepted.append(rec["Data"])
                answers.append({"RecordId": f"{self._id_prefix}{next(self._ids):016x}"})
            if accepted:
                self._buffers[DeliveryStreamName].append((now, accepted))
                self._sizes[DeliveryStreamName] += sum(map(len, accepted))
            self._maybe_flush(cfg, now)
        failed = len(Records) - len(accepted)
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": answers}

    def _maybe_flush(self, cfg: DeliveryStreamConfig, now: datetime) -> None:
        buf = self._buffers[cfg.name]
        if not buf:
            return
        age = (now - buf[0][0]).total_seconds()
        if self._sizes[cfg.name] >= cfg.size_mb * 1024 * 1024 or age >= cfg.interval_s:
            self._flush(cfg)

    def flush(self, object_id: str | None = None) -> None:
        """Write every buffer now. ``object_id`` replaces the random part of the object
        names written (a caller that must find them again, e.g. to undo a torn write)."""
        with self._lock:
            for cfg in self.streams.values():
                self._flush(cfg, object_id)

    def close(self) -> None:
        self.flush()

    def _flush(self, cfg: DeliveryStreamConfig, object_id: str | None = None) -> None:
        buf, self._buffers[cfg.name] = self._buffers[cfg.name], []
        self._sizes[cfg.name] = 0
        # records of one call share an arrival time, so a prefix is rendered once a call
        groups: dict[str, list[tuple[datetime, list[bytes]]]] = {}
        for arrival, datas in buf:
            groups.setdefault(render_prefix(cfg.prefix, arrival), []).append((arrival, datas))
        failed: list[tuple[datetime, bytes, str]] = []
        for prefix, chunks in groups.items():
            table = _convert_bulk([d for _, datas in chunks for d in datas], cfg.schema)
            if table is None:  # some record does not convert: find which, one by one
                records = []
                for arrival, datas in chunks:
                    for data in datas:
                        record, reason = _convert_one(data, cfg.schema)
                        if record is None:
                            failed.append((arrival, data, reason))
                        else:
                            records.append(record)
                table = records_to_arrow(records, cfg.schema) if records else None
            if table is not None:
                self._write_parquet(cfg, prefix, chunks[0][0], table, object_id)
        for arrival, data, reason in failed:
            prefix = render_prefix(cfg.error_prefix, arrival, "format-conversion-failed")
            body = json.dumps({"rawData": data.decode("utf-8", "replace"),
                               "errorCode": "DataFormatConversion.InvalidSchema",
                               "errorMessage": reason}) + "\n"
            key = f"{prefix}{self._object_name(cfg, arrival, object_id)}"
            self.s3.put_object(Bucket=cfg.bucket, Key=key, Body=body.encode())

    @staticmethod
    def _object_name(cfg: DeliveryStreamConfig, arrival: datetime,
                     object_id: str | None = None) -> str:
        stamp = arrival.astimezone(UTC).strftime("%Y-%m-%d-%H-%M-%S")
        random_part = f"{object_id}-{uuid.uuid4().hex[:8]}" if object_id else uuid.uuid4()
        return f"{cfg.name}-1-{stamp}-{random_part}"

    def _write_parquet(self, cfg: DeliveryStreamConfig, prefix: str, arrival: datetime,
                       table: pa.Table, object_id: str | None = None) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="snappy", coerce_timestamps="us",
                       use_deprecated_int96_timestamps=False)
        key = f"{prefix}{self._object_name(cfg, arrival, object_id)}.parquet"
        self.s3.put_object(Bucket=cfg.bucket, Key=key, Body=sink.getvalue().to_pybytes())
        self.objects_written.append(key)


def _convert_one(data: bytes, schema: pa.Schema) -> tuple[dict[str, Any] | None, str]:
    """One record as the conversion reads it: (the JSON object, "") or (None, why not)."""
    try:
        record = json.loads(data)
        if not isinstance(record, dict):
            raise ValueError("record is not a JSON object")
        records_to_arrow([record], schema)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        return None, str(exc)
    return record, ""


def _timestamp_paths(schema: pa.Schema | pa.StructType, path: tuple[str, ...] = ()
                     ) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for f in schema:
        if pa.types.is_struct(f.type):
            out.extend(_timestamp_paths(f.type, (*path, f.name)))
        elif pa.types.is_timestamp(f.type):
            out.append((*path, f.name))
    return out


_TS_LOW = pa.scalar(datetime(1900, 1, 1, tzinfo=UTC), pa.timestamp("us", tz="UTC"))
_TS_HIGH = pa.scalar(datetime(2100, 1, 1, tzinfo=UTC), pa.timestamp("us", tz="UTC"))


def _convert_bulk(datas: list[bytes], schema: pa.Schema) -> pa.Table | None:
    """All records in one pass of Arrow's JSON reader, or None when any of them might not
    convert exactly as ``_convert_one`` would take it (then the caller goes one by one).

    The reader is stricter than the record-at-a-time conversion (nulls in required
    fields, ``3.0`` for an int), never laxer on what the ingest Lambda sends, except
    for timestamps outside 1900..2100 (the contract's range), which are checked here.
    A record must be exactly one line, so one row maps to one record.
    """
    for data in datas:
        end = data.find(b"\n")
        if end != -1 and end != len(data) - 1:
            return None
    blob = b"".join(d if d.endswith(b"\n") else d + b"\n" for d in datas)
    try:
        table = pj.read_json(pa.BufferReader(blob), read_options=pj.ReadOptions(
            use_threads=True, block_size=1 << 20),  # 1 MiB blocks parse in parallel
            parse_options=pj.ParseOptions(explicit_schema=schema,
                                          unexpected_field_behavior="ignore"))
        if table.num_rows != len(datas):
            return None
        table = table.cast(schema)
        for path in _timestamp_paths(schema):
            column = pc.struct_field(table.column(path[0]), list(path[1:])) \
                if len(path) > 1 else table.column(path[0])
            low, high = pc.min_max(column).values()
            if low.is_valid and (pc.less(low, _TS_LOW).as_py()
                                 or pc.greater_equal(high, _TS_HIGH).as_py()):
                return None
    except (pa.ArrowException, ValueError):
        return None
    return table
