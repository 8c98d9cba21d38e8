"""The run report in a real browser: Debian's headless Chromium loads the file offline,
logs no error, draws every chart, follows every calendar link, and leaves a screenshot.

Chromium is installed by the Makefile (``$(VENV)/.installed-browser``, a prerequisite of
``make test``). Outside CI the test skips, with the reason, only when Chromium is
missing and cannot be installed; in CI (``CI`` set) a missing browser fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.functional.headless import Chromium, find_chromium
from udp_cli.report import build_report, write_report
from udp_cli.report.synthetic import SyntheticDay, write_synthetic_state

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".udp" / "test-artifacts"

# Ten days: retried loads, a day whose transform failed a DQ rule and was rerun, a day
# that failed and stayed failed, and one day (the 6th) with no run at all.
OUTCOMES = ["ok", "retry", "ok", "fail_then_rerun", "ok", None, "retry", "fail", "ok", "ok"]
FIRST = date(2026, 11, 1)

# Every chart's SVG: its drawn size and how many marks inside Vega's mark groups have a
# non-empty bounding box (bars, lines, points, labels).
CHARTS_JS = """
[...document.querySelectorAll('figure.chart')].map(fig => {
  const svg = fig.querySelector('svg');
  if (!svg) return {name: fig.dataset.chart, width: 0, height: 0, marks: 0};
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('g.role-mark > *')].filter(el => {
    const b = el.getBBox(); return b.width > 0 || b.height > 0; });
  return {name: fig.dataset.chart, width: box.width, height: box.height, marks: drawn.length};
})
"""
LINKS_JS = """
[...document.querySelectorAll('.calendar a')].map(a => ({
  href: a.getAttribute('href'), target: !!document.getElementById(a.hash.slice(1))}))
"""


def _chromium() -> str | None:
    found = find_chromium()
    if found or not (shutil.which("apt-get") and os.geteuid() == 0):
        return found
    # the same command as the Makefile's browser stamp (root on Debian, e.g. a fresh CI box)
    subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                   "apt-get install -y -qq chromium", shell=True, check=False,
                   capture_output=True, timeout=900)
    return find_chromium()


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed and could not be installed; CI must run "
                        "the browser test (see the Makefile's .installed-browser target)")
        pytest.skip("chromium is not installed and apt-get could not install it "
                    "(run `make test` as root on Debian, or install chromium)")
    return path


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("report-state")
    days = [SyntheticDay((FIRST + timedelta(days=i)).isoformat(), outcome)
            for i, outcome in enumerate(OUTCOMES) if outcome is not None]
    write_synthetic_state(state, days)
    last = (FIRST + timedelta(days=len(OUTCOMES) - 1)).isoformat()
    report = build_report(state, date_from=FIRST.isoformat(), date_to=last,
                          now=datetime(2026, 11, 12, 8, 0, tzinfo=UTC))
    return write_report(report, state / "report.html")


@pytest.fixture(scope="module")
def page(chromium_path: str, report_file: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    shots = tmp_path_factory.mktemp("screenshots")
    with Chromium(chromium_path, tmp_path_factory.mktemp("chromium-profile")) as browser:
        browser.open(report_file.as_uri())
        charts = browser.evaluate(CHARTS_JS)
        links = browser.evaluate(LINKS_JS)
        text = browser.evaluate("document.body.innerText")
        shot = browser.screenshot(shots / "report.png")
        events = list(browser.events)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / "report-browser.png"
    shutil.copyfile(shot, kept)
    shutil.copyfile(report_file, ARTIFACTS / "report-browser.html")
    print(f"\nreport screenshot: {shot}\n                   {kept}")
    yield {"charts": charts, "links": links, "text": text, "shot": shot, "events": events}


def test_page_loads_offline_with_no_console_error(page: dict[str, Any]) -> None:
    # GIVEN the report of a ten-day backfill loaded from a file in headless Chromium
    events = page["events"]
    # WHEN we look at what the page logged and fetched
    errors = [e["params"] for e in events if e["method"] == "Runtime.exceptionThrown"]
    errors += [e["params"] for e in events if e["method"] == "Runtime.consoleAPICalled"
               and e["params"].get("type") in ("error", "assert")]
    errors += [e["params"]["entry"] for e in events if e["method"] == "Log.entryAdded"
               and e["params"]["entry"].get("level") == "error"]
    requests = [e["params"]["request"]["url"] for e in events
                if e["method"] == "Network.requestWillBeSent"]
    # THEN nothing went wrong and nothing but the file itself was requested
    assert errors == []
    assert requests and all(u.startswith("file://") for u in requests), requests


def test_every_chart_renders_with_drawn_marks(page: dict[str, Any]) -> None:
    # GIVEN nine days with runs (one day twice), so one trend chart + a timeline and a
    # funnel per run
    charts = page["charts"]
    # THEN every chart is a visible SVG with marks drawn in it
    names = [c["name"] for c in charts]
    assert names.count("trends") == 1
    assert names.count("gantt") == names.count("funnel") == 10
    empty = [c for c in charts if c["width"] < 100 or c["height"] < 30 or c["marks"] < 3]
    assert empty == []


def test_calendar_links_every_run_date_to_its_section(page: dict[str, Any]) -> None:
    # GIVEN the calendar of the range (nine dates with a run, one without)
    links = page["links"]
    # THEN each date with a run links to an existing section of the page
    assert len(links) == 9
    assert all(link["href"].startswith("#run-") and link["target"] for link in links)
    text = page["text"]
    assert "MISSING" in text.upper() and "FAILED" in text
    assert "Glue.ConcurrentRunsExceededException" in text  # the retried load's error


def test_screenshot_is_kept(page: dict[str, Any]) -> None:
    # THEN a PNG of the whole page exists under the test's tmp dir and .udp/test-artifacts
    shot: Path = page["shot"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000
    assert (ARTIFACTS / "report-browser.png").stat().st_size == shot.stat().st_size
