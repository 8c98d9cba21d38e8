"""Bench: does an incremental crawl cost follow new data, not history?

Prints, in one run, the time of an incremental (CRAWL_NEW_FOLDERS_ONLY) crawl that
registers one new day when 365 days are already registered, against the same crawl
with 1 day registered, and their ratio (target <= 1.5). A full crawl
(CRAWL_EVERYTHING) is shown beside it for contrast: it grows with history.

Run: ``.venv/bin/python bench/crawl.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from contracts.pipeline import PipelineConfig
from contracts.tables import RAW
from crawlers.specs import CrawlerSpec, default_specs
from local_aws.facade import LocalCloud, crawl, ensure_databases

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._figures import add_record_flag, measured_now, record  # noqa: E402

__all__ = ["main"]

TARGET_RATIO = 1.5


@dataclasses.dataclass
class Lake:
    catalog: Any  # the Glue catalog twin
    store: Any  # the S3 twin's object store
    new_day: str


def _days(n: int) -> list[str]:
    start = date(2024, 1, 1)
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def _build(root: Path, cfg: PipelineConfig, spec: CrawlerSpec, history: int,
           sample: Path) -> Lake:
    """A lake with ``history`` crawled days plus one new, not yet crawled, day, in the
    twins of a local cloud over ``root`` (its catalog left as the bench lays it out)."""
    cloud = LocalCloud(root, cfg, deploy=False)
    catalog, store = cloud.catalog, cloud.store
    ensure_databases(catalog, [spec])
    days = _days(history + 1)
    for day in days[:-1]:
        folder = store.path(cfg.partition_uri(RAW, day))
        folder.mkdir(parents=True)
        shutil.copyfile(sample, folder / "part-0.parquet")
    crawl(spec, catalog, store)
    new = store.path(cfg.partition_uri(RAW, days[-1]))
    new.mkdir(parents=True)
    shutil.copyfile(sample, new / "part-0.parquet")
    return Lake(catalog, store, days[-1])


def _time_crawl(lake: Lake, spec: CrawlerSpec, cfg: PipelineConfig) -> float:
    t0 = time.perf_counter()
    result = crawl(spec, lake.catalog, lake.store)
    elapsed = time.perf_counter() - t0
    assert result.partitions_added == [(RAW.name, (lake.new_day,))], result.messages
    lake.catalog.batch_delete_partition(DatabaseName=cfg.raw_database, TableName=RAW.name,
                                        PartitionsToDelete=[{"Values": [lake.new_day]}])
    return elapsed


def _measure(lakes: dict[int, Lake], spec: CrawlerSpec, cfg: PipelineConfig,
             repeats: int) -> dict[int, float]:
    times: dict[int, list[float]] = {n: [] for n in lakes}
    for lake in lakes.values():  # warm-up (imports, page cache)
        _time_crawl(lake, spec, cfg)
    for _ in range(repeats):  # interleaved so drift hits both sides alike
        for n, lake in lakes.items():
            times[n].append(_time_crawl(lake, spec, cfg))
    return {n: statistics.median(t) for n, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit status 1 when the incremental ratio misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=25)
    add_record_flag(parser)
    args = parser.parse_args(argv)
    cfg = PipelineConfig()
    raw_spec = default_specs(cfg)[0]
    full_spec = dataclasses.replace(raw_spec, name="bench-full",
                                    recrawl_policy="CRAWL_EVERYTHING")
    with tempfile.TemporaryDirectory(prefix="udp-bench-crawl-") as tmp:
        root = Path(tmp)
        sample = root / "sample.parquet"
        pq.write_table(RAW.arrow_schema().empty_table(), sample)
        lakes = {n: _build(root / f"h{n}", cfg, raw_spec, n, sample) for n in (1, 365)}
        incremental = _measure(lakes, raw_spec, cfg, args.repeats)
        full = _measure(lakes, full_spec, cfg, max(3, args.repeats // 5))

    ratio = incremental[365] / incremental[1]
    print("crawl of 1 new day (median ms)   1 day registered   365 days registered   ratio")
    print(f"CRAWL_NEW_FOLDERS_ONLY           {incremental[1] * 1e3:16.2f}   "
          f"{incremental[365] * 1e3:19.2f}   {ratio:5.2f}")
    print(f"CRAWL_EVERYTHING (contrast)      {full[1] * 1e3:16.2f}   "
          f"{full[365] * 1e3:19.2f}   {full[365] / full[1]:5.2f}")
    ok = ratio <= TARGET_RATIO
    print(f"incremental ratio {ratio:.2f} (target <= {TARGET_RATIO}): {'OK' if ok else 'MISSED'}")
    if args.record:
        record([measured_now("bench/crawl.py",
                         "incremental crawl of 1 new day, 365 days registered ÷ 1 day",
                         f"{ratio:.2f}", f"≤ {TARGET_RATIO}", ok)])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
