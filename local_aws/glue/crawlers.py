"""Glue crawler twin: ``start_crawler`` / ``get_crawler`` / ``stop_crawler`` over local specs.

A crawl runs in a background thread (``State`` is ``RUNNING`` until it ends, then
``READY``), like Glue's. Crawler state lives in ``<catalog root>/crawlers/<name>.json``,
so another process (``udp status``, a second CLI call) sees the same state; a crawl
whose process died is reported ``FAILED`` once its owner is gone. A crawl never raises
into the caller: a failure ends as ``LastCrawl.Status = FAILED`` with the reason.

Fault injection for tests: ``fail_next={"name": "message"}`` at construction,
:meth:`LocalCrawlers.inject_failure` (optionally ``persistent`` — written to the catalog
folder so whichever process runs the next crawl fails it), ``before_crawl`` (a hook run
in the crawl thread, e.g. to hold a crawl in ``RUNNING``) and ``stopping_seconds`` (how
long ``STOPPING`` lasts before ``READY``, to exercise polling loops).
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawlers.specs import CrawlerSpec
from local_aws.aws_model import aws_shaped
from local_aws.glue.catalog import LocalGlueCatalog, atomic_write_json, glue_error, read_json
from local_aws.glue.crawl import CrawlCancelled, CrawlResult, crawl, ensure_databases
from local_aws.processes import pid_alive
from local_aws.s3.objectstore import LocalObjectStore

__all__ = ["LocalCrawlers"]

log = logging.getLogger(__name__)
_HOST = socket.gethostname()
_LOG_GROUP = "/aws-glue/crawlers"


def _now() -> datetime:
    return datetime.now(UTC)


@aws_shaped("glue")
class LocalCrawlers:
    """Local Glue crawlers (Glue-API-shaped) for a list of :class:`CrawlerSpec`.

    Parameters
    ----------
    catalog, store:
        The catalog the crawls write to and the object store they read.
    specs:
        The crawlers this service knows (by ``spec.name``).
    background:
        Run crawls in a thread (default, like Glue). ``False`` runs them inside
        ``start_crawler``, which then returns when the crawl has ended.
    create_databases:
        Create the specs' missing databases up front (what infra does on AWS).
    fail_next:
        ``{crawler name: message}``: the next crawl of each fails with that message.
    before_crawl:
        Called with the crawler name in the crawl thread before crawling.
    stopping_seconds:
        Time spent in ``STOPPING`` after a crawl, before ``READY``.
    """

    def __init__(self, catalog: LocalGlueCatalog, store: LocalObjectStore,
                 specs: Sequence[CrawlerSpec], *, background: bool = True,
                 create_databases: bool = True, fail_next: Mapping[str, str] | None = None,
                 before_crawl: Callable[[str], object] | None = None,
                 stopping_seconds: float = 0.0) -> None:
        self.catalog = catalog
        self.store = store
        self.specs = {s.name: s.validate() for s in specs}
        self.background = background
        self.before_crawl = before_crawl
        self.stopping_seconds = stopping_seconds
        self._faults: dict[str, str] = dict(fail_next or {})
        self._threads: dict[str, threading.Thread] = {}
        self._stops: dict[str, threading.Event] = {}
        self._results: dict[str, CrawlResult] = {}
        self._dir = Path(catalog.root) / "crawlers"
        self._dir.mkdir(parents=True, exist_ok=True)
        if create_databases:
            ensure_databases(catalog, self.specs.values())

    # --------------------------------------------------------------- state io

    def _state_path(self, name: str) -> Path:
        return self._dir / f"{name}.json"

    def _spec(self, name: str, op: str) -> CrawlerSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise glue_error(op, "EntityNotFoundException", f"Crawler {name} not found.")
        return spec

    def _read_state(self, name: str) -> dict[str, Any]:
        try:
            state: dict[str, Any] = read_json(self._state_path(name))
        except FileNotFoundError:
            now = _now()
            state = {"State": "READY", "CreationTime": now, "LastUpdated": now}
        return self._reap(name, state)

    def _reap(self, name: str, state: dict[str, Any]) -> dict[str, Any]:
        """A RUNNING/STOPPING crawl whose owning process is gone ends as FAILED."""
        owner = state.get("Owner") or {}
        if state.get("State") == "READY" or owner.get("host") != _HOST:
            return state
        pid = int(owner.get("pid", 0))
        if pid == os.getpid():
            thread = self._threads.get(name)
            # a registered thread not started yet is a crawl being launched, not a dead one
            if thread is not None and (thread.is_alive() or thread.ident is None):
                return state
            if thread is None and owner.get("instance") != id(self):
                return state  # another instance of this process owns it
        elif pid_alive(pid):
            return state
        state = {**state, "State": "READY", "Owner": None}
        state["LastCrawl"] = {**state.get("LastCrawl", {}), "Status": "FAILED",
                              "ErrorMessage": f"the process running this crawl (pid {pid}) "
                                              "ended before the crawl finished"}
        return state

    def _write_state(self, name: str, state: dict[str, Any]) -> None:
        atomic_write_json(self._state_path(name), state)

    # ------------------------------------------------------------------ API

    def start_crawler(self, *, Name: str, **_: Any) -> dict[str, Any]:
        """Glue ``StartCrawler``: raises ``CrawlerRunningException`` when not READY."""
        op = "StartCrawler"
        self._spec(Name, op)
        start = _now()
        run_id = uuid.uuid4().hex
        stop = threading.Event()
        thread = (threading.Thread(target=self._run, args=(Name, start, run_id, stop),
                                   name=f"crawler-{Name}")
                  if self.background else threading.current_thread())
        with self.catalog.lock():
            state = self._read_state(Name)
            if state["State"] != "READY":
                raise glue_error(op, "CrawlerRunningException",
                                 f"Crawler with name {Name} has already started")
            # register the crawl's thread before the RUNNING state is visible: a reader in
            # another thread must never see RUNNING owned by this process with no live crawl
            self._stops[Name] = stop
            self._threads[Name] = thread
            state.update({"State": "RUNNING", "StartTime": start, "RunId": run_id,
                          "Owner": {"host": _HOST, "pid": os.getpid(), "instance": id(self)}})
            self._write_state(Name, state)
        if self.background:
            thread.start()
        else:
            try:
                self._run(Name, start, run_id, stop)
            finally:
                self._threads.pop(Name, None)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def stop_crawler(self, *, Name: str, **_: Any) -> dict[str, Any]:
        """Glue ``StopCrawler``: the running crawl ends as ``CANCELLED``."""
        op = "StopCrawler"
        self._spec(Name, op)
        with self.catalog.lock():
            state = self._read_state(Name)
            if state["State"] != "RUNNING":
                code = ("CrawlerStoppingException" if state["State"] == "STOPPING"
                        else "CrawlerNotRunningException")
                raise glue_error(op, code, f"Crawler with name {Name} is not running")
            stop = self._stops.get(Name)
            if stop is None:
                raise glue_error(op, "CrawlerNotRunningException",
                                 f"Crawler with name {Name} is running in another process")
            state["State"] = "STOPPING"
            self._write_state(Name, state)
        stop.set()
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_crawler(self, *, Name: str, **_: Any) -> dict[str, Any]:
        """Glue ``GetCrawler``."""
        spec = self._spec(Name, "GetCrawler")
        return {"Crawler": self._crawler_dict(spec, self._read_state(Name)),
                "ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_crawlers(self, **_: Any) -> dict[str, Any]:
        """Glue ``GetCrawlers``."""
        return {"Crawlers": [self._crawler_dict(s, self._read_state(n))
                             for n, s in sorted(self.specs.items())]}

    def list_crawlers(self, **_: Any) -> dict[str, Any]:
        """Glue ``ListCrawlers``."""
        return {"CrawlerNames": sorted(self.specs)}

    def get_crawler_metrics(self, *, CrawlerNameList: Sequence[str] | None = None,
                            **_: Any) -> dict[str, Any]:
        """Glue ``GetCrawlerMetrics``."""
        names = list(CrawlerNameList) if CrawlerNameList else sorted(self.specs)
        out = []
        for n in names:
            self._spec(n, "GetCrawlerMetrics")
            state = self._read_state(n)
            m = state.get("Metrics") or {}
            runtimes = m.get("Runtimes", [])
            elapsed = (_now() - state["StartTime"]).total_seconds() \
                if state["State"] != "READY" and state.get("StartTime") else 0.0
            out.append({"CrawlerName": n,
                        "TimeLeftSeconds": 0.0,
                        "StillEstimating": state["State"] != "READY" and not runtimes,
                        "LastRuntimeSeconds": runtimes[-1] if runtimes else 0.0,
                        "MedianRuntimeSeconds": statistics.median(runtimes) if runtimes
                        else elapsed,
                        "TablesCreated": m.get("TablesCreated", 0),
                        "TablesUpdated": m.get("TablesUpdated", 0),
                        "TablesDeleted": m.get("TablesDeleted", 0)})
        return {"CrawlerMetricsList": out}

    # ------------------------------------------------------------- local extras

    def wait(self, name: str, timeout: float = 60.0, poll: float = 0.05) -> dict[str, Any]:
        """Block until ``name`` is READY; return its ``Crawler`` dict (TimeoutError if not)."""
        self._spec(name, "GetCrawler")
        deadline = time.monotonic() + timeout
        thread = self._threads.get(name)
        if thread is not None:
            thread.join(timeout)
        while True:
            crawler: dict[str, Any] = self.get_crawler(Name=name)["Crawler"]
            if crawler["State"] == "READY":
                return crawler
            if time.monotonic() >= deadline:
                raise TimeoutError(f"crawler {name} still {crawler['State']} after {timeout}s")
            time.sleep(poll)

    def inject_failure(self, name: str, message: str = "injected crawler failure", *,
                       persistent: bool = False) -> None:
        """Make the next crawl of ``name`` fail with ``message``.

        ``persistent`` writes the fault to the catalog folder, so it applies to the next
        crawl run by any process; otherwise it applies to this object only.
        """
        self._spec(name, "StartCrawler")
        if persistent:
            atomic_write_json(self._dir / f"{name}.fault", {"message": message})
        else:
            self._faults[name] = message

    def last_result(self, name: str) -> CrawlResult | None:
        """The :class:`CrawlResult` of the last crawl of ``name`` run by this object."""
        return self._results.get(name)

    def log_path(self, name: str) -> Path:
        """The crawl log file of ``name`` (one block per crawl)."""
        return self._dir / f"{name}.log"

    # ---------------------------------------------------------------- the run

    def _take_fault(self, name: str) -> str | None:
        if name in self._faults:
            return self._faults.pop(name)
        path = self._dir / f"{name}.fault"
        with self.catalog.lock():
            try:
                message = str(read_json(path)["message"])
            except (FileNotFoundError, KeyError, ValueError):
                return None
            path.unlink(missing_ok=True)
        return message

    def _run(self, name: str, start: datetime, run_id: str, stop: threading.Event) -> None:
        status, error, result = "FAILED", "", None
        try:
            if self.before_crawl is not None:
                self.before_crawl(name)
            fault = self._take_fault(name)
            if fault is not None:
                raise RuntimeError(fault)
            result = crawl(self.specs[name], self.catalog, self.store,
                           should_stop=stop.is_set)
            status = "SUCCEEDED"
        except CrawlCancelled:
            status = "CANCELLED"
        except Exception as e:  # a crawl never raises into the caller
            error = str(e) or type(e).__name__
            log.warning("crawler %s failed: %s", name, error)
        finally:
            self._finish(name, start, run_id, status, error, result)

    def _finish(self, name: str, start: datetime, run_id: str, status: str, error: str,
                result: CrawlResult | None) -> None:
        try:
            if result is not None:
                self._results[name] = result
            self._append_log(name, start, status, error, result)
            end = _now()
            if self.stopping_seconds > 0:
                with self.catalog.lock():
                    state = self._read_state(name)
                    state["State"] = "STOPPING"
                    self._write_state(name, state)
                time.sleep(self.stopping_seconds)
            with self.catalog.lock():
                state = self._read_state(name)
                last: dict[str, Any] = {"Status": status, "StartTime": start,
                                        "LogGroup": _LOG_GROUP, "LogStream": name,
                                        "MessagePrefix": run_id}
                if error:
                    last["ErrorMessage"] = error
                metrics = dict(state.get("Metrics") or {})
                metrics["Runtimes"] = [*metrics.get("Runtimes", [])[-19:],
                                       (end - start).total_seconds()]
                if result is not None:
                    metrics["TablesCreated"] = len(result.tables_created)
                    metrics["TablesUpdated"] = len(result.tables_updated)
                    metrics["TablesDeleted"] = len(result.tables_deleted)
                    last["Summary"] = result.summary()
                state.update({"State": "READY", "LastCrawl": last, "Owner": None,
                              "Metrics": metrics, "LastUpdated": end})
                self._write_state(name, state)
        except Exception:  # never let bookkeeping errors escape the thread
            log.exception("crawler %s: could not record the end of the crawl", name)

    def _append_log(self, name: str, start: datetime, status: str, error: str,
                    result: CrawlResult | None) -> None:
        lines = [f"{start.isoformat()} crawl {status}" + (f": {error}" if error else "")]
        if result is not None:
            lines += [f"  {m}" for m in result.messages]
        with open(self.log_path(name), "a", encoding="utf-8",  # owner-only
                  opener=lambda f, fl: os.open(f, fl, 0o600)) as fh:
            fh.write("\n".join(lines) + "\n")

    def _crawler_dict(self, spec: CrawlerSpec, state: dict[str, Any]) -> dict[str, Any]:
        kwargs = spec.to_create_crawler_kwargs(role_arn="arn:aws:iam::000000000000:role/local")
        out: dict[str, Any] = {k: v for k, v in kwargs.items() if k != "Schedule"}
        out.update({"State": state["State"], "CreationTime": state["CreationTime"],
                    "LastUpdated": state.get("LastUpdated", state["CreationTime"]),
                    "Version": 1, "Classifiers": [],
                    "LineageConfiguration": {"CrawlerLineageSettings": "DISABLE"}})
        if state["State"] != "READY" and state.get("StartTime"):
            out["CrawlElapsedTime"] = int((_now() - state["StartTime"]).total_seconds() * 1000)
        if "LastCrawl" in state:
            out["LastCrawl"] = {k: v for k, v in state["LastCrawl"].items() if k != "Summary"}
        return out
