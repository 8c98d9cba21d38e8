"""The local Kinesis twin's durable side: a record is acknowledged once it is on disk.

Kinesis acknowledges a ``PutRecords`` entry only once the record is durably stored in
the stream; moto keeps its streams in memory, so the local push stack adds what makes
"accepted" mean "will arrive":

- ``StreamLog``: an append-only spool (``<state>/push/stream.log``, one JSON line per
  accepted record, fsync'd before the API answers) and a checkpoint log
  (``checkpoints.log``): ``begin`` names the records a checkpoint covers and the token
  in the names of the raw objects it writes, ``done`` says its raw objects and the
  DynamoDB snapshot are on disk.
- ``DurableKinesis``: the API's Kinesis client; records the stream accepted go to the
  spool before ``put_records`` returns, and it remembers which spool record each stream
  sequence number carries, so the stream readers can say what they consumed.

At start the stack deletes the raw objects of a checkpoint that began and never ended
(a ``kill -9`` mid-write), then puts every spool record no finished checkpoint covers
back on the stream. DynamoDB writes are idempotent (latest wins, a replay is a no-op)
and raw objects of unfinished checkpoints are removed before their records are read
again, so a replay never doubles a record.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT_LOG", "STREAM_LOG", "DurableKinesis", "SpoolRecord", "StreamClosed",
           "StreamLog"]

STREAM_LOG = "stream.log"
CHECKPOINT_LOG = "checkpoints.log"


class StreamClosed(RuntimeError):
    """The push stack is stopping: the stream takes no more records."""


@dataclass(frozen=True)
class SpoolRecord:
    record_id: str
    partition_key: str
    data: bytes


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """The whole JSON lines of ``path``; a torn last line (a crash mid-append, never
    acknowledged) is cut off so the next append starts on a fresh line."""
    if not path.is_file():
        return []
    raw = path.read_bytes()
    end = raw.rfind(b"\n") + 1
    if end < len(raw):
        with path.open("r+b") as fh:
            fh.truncate(end)
            os.fsync(fh.fileno())
    out = []
    for line in raw[:end].splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


class StreamLog:
    """Spool of accepted records and the checkpoints that consumed them."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.spool_path = self.folder / STREAM_LOG
        self.checkpoint_path = self.folder / CHECKPOINT_LOG
        self._records: dict[str, SpoolRecord] = {}
        for doc in _read_lines(self.spool_path):
            rec = SpoolRecord(doc["id"], doc["key"], base64.b64decode(doc["data"]))
            self._records[rec.record_id] = rec
        self._consumed: set[str] = set()
        self._open: dict[str, list[str]] = {}
        for doc in _read_lines(self.checkpoint_path):
            if doc["state"] == "begin":
                self._open[doc["token"]] = list(doc["ids"])
            elif doc["state"] == "done":
                self._consumed.update(self._open.pop(doc["token"], []))
        self._lock = threading.Lock()

    @staticmethod
    def _append(path: Path, docs: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs)
        with path.open("ab") as fh:
            fh.write(text.encode())
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, entries: list[tuple[str, bytes]]) -> list[str]:
        """Spool ``(partition key, data)`` entries durably; their record ids."""
        recs = [SpoolRecord(uuid.uuid4().hex, key, data) for key, data in entries]
        if recs:
            with self._lock:
                self._append(self.spool_path, (
                    {"id": r.record_id, "key": r.partition_key,
                     "data": base64.b64encode(r.data).decode("ascii")} for r in recs))
                self._records.update((r.record_id, r) for r in recs)
        return [r.record_id for r in recs]

    def unfinished_tokens(self) -> list[str]:
        """Tokens of checkpoints that began and never ended (their objects are suspect)."""
        return list(self._open)

    def abandon(self, token: str) -> None:
        """Forget an unfinished checkpoint once its objects are gone (its records replay)."""
        self._open.pop(token, None)

    def pending(self) -> list[SpoolRecord]:
        """Spooled records no finished checkpoint covers, in spool order."""
        return [r for r in self._records.values() if r.record_id not in self._consumed]

    def begin(self, token: str, ids: list[str]) -> None:
        with self._lock:
            self._append(self.checkpoint_path, [{"state": "begin", "token": token,
                                                 "ids": ids}])
            self._open[token] = list(ids)

    def done(self, token: str) -> None:
        with self._lock:
            self._append(self.checkpoint_path, [{"state": "done", "token": token}])
            self._consumed.update(self._open.pop(token, []))

    def compact(self) -> bool:
        """Remove both logs when every spooled record is consumed; True if removed.

        The spool goes first: a checkpoint log left alone names only ids no new record
        will ever get (ids are random), so it cannot hide a later record."""
        with self._lock:
            if self._open or any(r not in self._consumed for r in self._records):
                return False
            self.spool_path.unlink(missing_ok=True)
            self.checkpoint_path.unlink(missing_ok=True)
            self._records.clear()
            self._consumed.clear()
            return True


class DurableKinesis:
    """A Kinesis client whose accepted ``PutRecords`` entries are spooled before it returns.

    ``record_ids(shard_id, records)`` gives, for records read back from the stream, the
    spool ids they carry (None for a record some other writer put)."""

    def __init__(self, client: Any, log: StreamLog) -> None:
        self.client, self.log = client, log
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], str] = {}
        self._closed = False

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            if self._closed:
                raise StreamClosed("the local stream is shutting down")
            answer = self.client.put_records(StreamName=StreamName, Records=Records)
            ok = [(rec, out) for rec, out in zip(Records, answer["Records"], strict=True)
                  if not out.get("ErrorCode")]
            ids = self.log.append([(rec["PartitionKey"], bytes(rec["Data"])) for rec, _ in ok])
            for (_, out), rid in zip(ok, ids, strict=True):
                self._ids[(out["ShardId"], out["SequenceNumber"])] = rid
            return dict(answer)

    def replay(self, stream_name: str, records: list[SpoolRecord]) -> int:
        """Put spooled records back on a fresh stream under their existing ids."""
        pending = list(records)
        with self._lock:
            while pending:
                batch, pending = pending[:500], pending[500:]
                answer = self.client.put_records(StreamName=stream_name, Records=[
                    {"PartitionKey": r.partition_key, "Data": r.data} for r in batch])
                for rec, out in zip(batch, answer["Records"], strict=True):
                    if out.get("ErrorCode"):
                        pending.append(rec)
                    else:
                        self._ids[(out["ShardId"], out["SequenceNumber"])] = rec.record_id
        return len(records)

    def record_ids(self, shard_id: str, records: list[dict[str, Any]]) -> list[str]:
        with self._lock:
            found = (self._ids.pop((shard_id, r["SequenceNumber"]), None) for r in records)
            return [rid for rid in found if rid is not None]

    def close(self) -> None:
        """Refuse further records (waits for a put in progress to be spooled)."""
        with self._lock:
            self._closed = True
