"""The raw contract pins the user API's version: a page of another version is refused
whole with one reason that names both versions."""

from __future__ import annotations

import copy
from typing import Any

from contracts.user_record import API_VERSION, api_url, check_api_version
from ingest_lambda.core import split_page
from local_aws.user_api.server import generate_page

META = {"batch_id": "b-1", "fetched_at": "2026-12-07T08:00:00Z", "page": 1, "seed": "v"}


def _as_version_1_2(page: dict[str, Any]) -> dict[str, Any]:
    """The page as API 1.2 shaped it: ``location.street`` a string, ``info.version`` 1.2."""
    old = copy.deepcopy(page)
    for user in old["results"]:
        street = user["location"]["street"]
        user["location"]["street"] = f"{street['number']} {street['name']}"
    old["info"]["version"] = "1.2"
    return old


def test_the_contract_expects_1_4_and_its_url_names_it() -> None:
    assert API_VERSION == "1.4"
    assert api_url() == "https://randomuser.me/api/1.4/"
    assert api_url("http://127.0.0.1:8080/api/") == "http://127.0.0.1:8080/api/1.4/"


def test_a_page_of_the_pinned_version_passes() -> None:
    page = generate_page("v", 1, 5)
    assert check_api_version(page) is None
    good, bad = split_page(page, META)
    assert len(good) == 5 and bad == []


def test_a_1_2_page_is_quarantined_with_one_reason_naming_the_version() -> None:
    page = _as_version_1_2(generate_page("v", 1, 25))
    good, bad = split_page(page, META)
    assert good == []
    assert len(bad) == 1  # not one `location.street: expected object` per record
    assert bad[0]["reason"] == {"code": "api_version", "path": "info.version",
                                "detail": "api version 1.2, expected 1.4"}
    assert len(bad[0]["record"]["results"]) == 25  # the page is kept for a replay


def test_the_same_records_without_a_version_fail_field_by_field() -> None:
    # what the version check spares the report: every record refused on its own
    page = _as_version_1_2(generate_page("v", 1, 3))
    del page["info"]["version"]
    good, bad = split_page(page, META)
    assert good == [] and len(bad) == 3
    assert {e["reason"]["path"] for e in bad} == {"location.street"}


def test_the_run_report_counts_the_refused_page_under_its_reason(tmp_path: Any) -> None:
    import json

    from udp_cli.report.local import LocalSources

    _, bad = split_page(_as_version_1_2(generate_page("v", 1, 7)), META)
    sources = LocalSources(tmp_path)
    folder = sources._s3() / sources._config().errors_bucket / "ingest" / "p_date=2026-12-07"
    folder.mkdir(parents=True)
    (folder / "b-1.jsonl").write_text("".join(json.dumps(e) + "\n" for e in bad))
    assert sources.quarantined("2026-12-07") == {"api_version": 7}
