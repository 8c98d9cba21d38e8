"""Property test of the ingest core: arbitrary JSON mutations never crash it, never lose
a record, and never let a secret out."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_lambda.core import IngestPorts, IngestRequest, run_ingest
from ingest_lambda.delivery import FirehoseSender
from ingest_lambda.replay import ReplaySource

SAMPLE = json.loads((Path(__file__).resolve().parents[1] / "events/randomuser_page.json")
                    .read_text(encoding="utf-8"))
SECRET_KEYS = ("password", "salt", "md5", "sha1", "sha256")


class CapturingFirehose:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def put_record_batch(self, *, DeliveryStreamName: str,
                         Records: list[dict[str, bytes]]) -> dict[str, Any]:
        self.records.extend(r["Data"] for r in Records)
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"} for _ in Records]}


class CapturingErrors:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.raw: list[bytes] = []

    def write(self, p_date: str, batch_id: str, entries: list[dict[str, Any]]) -> None:
        self.entries.extend(entries)
        self.raw.append(json.dumps(entries, default=str).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=10,
)
PATHS = ["gender", "name", "name.first", "location", "location.postcode",
         "location.coordinates", "location.street.number", "email", "login", "login.uuid",
         "login.username", "dob", "dob.date", "dob.age", "registered.date", "id", "id.value",
         "nat", "extra_field", "location.timezone.offset"]


@st.composite
def mutated_pages(draw: st.DrawFn) -> tuple[list[Any], list[str]]:
    """Pages of sample records with random fields replaced; secrets are unique tokens."""
    pages: list[Any] = []
    secrets: list[str] = []
    for p in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 9)) == 0:
            pages.append(draw(st.sampled_from([{"results": "nope"}, {"info": {}}, [], 42])))
            continue
        results: list[Any] = []
        for i in range(draw(st.integers(0, 5))):
            rec = copy.deepcopy(SAMPLE["results"][draw(st.integers(0, 3))])
            if isinstance(rec.get("login"), dict):
                for k in SECRET_KEYS:
                    token = f"SECRET{p}x{i}x{k}"
                    rec["login"][k] = token
                    secrets.append(token)
            for _ in range(draw(st.integers(0, 3))):
                path = draw(st.sampled_from(PATHS)).split(".")
                parent: Any = rec
                for key in path[:-1]:
                    parent = parent.get(key) if isinstance(parent, dict) else None
                if isinstance(parent, dict):
                    parent[path[-1]] = draw(json_values)
            if draw(st.integers(0, 19)) == 0:
                rec = draw(json_values)  # not even an object
            results.append(rec)
        pages.append({"results": results, "info": {"seed": "s", "page": p + 1}})
    return pages, secrets


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_pages())
def test_every_record_is_delivered_or_explained_and_no_secret_leaks(
        case: tuple[list[Any], list[str]]) -> None:
    pages, secrets = case
    hose, errors = CapturingFirehose(), CapturingErrors()
    ports = IngestPorts(api=ReplaySource(pages), sender=FirehoseSender(hose, "s"),
                        errors=errors, clock=lambda: datetime(2026, 11, 22, tzinfo=UTC))
    # WHEN the pages go through the ingest core (it must not raise)
    summary = run_ingest(IngestRequest(seed="s", pages=len(pages), page_size=1), ports, "b1")
    # THEN each record is delivered or in the error output with a machine-readable reason
    n_records = sum(len(p["results"]) for p in pages
                    if isinstance(p, dict) and isinstance(p.get("results"), list))
    bad_pages = sum(1 for p in pages
                    if not (isinstance(p, dict) and isinstance(p.get("results"), list)))
    record_errors = [e for e in errors.entries if e["reason"]["code"] != "page_malformed"]
    assert len(hose.records) + len(record_errors) == n_records
    assert len(errors.entries) - len(record_errors) == bad_pages
    assert summary.records_valid == len(hose.records)
    assert all(e["reason"]["code"] and e["reason"]["path"] for e in errors.entries)
    # AND no secret value appears in any output byte
    blob = b"".join(hose.records) + b"".join(errors.raw)
    assert not [s for s in secrets if s.encode() in blob]
