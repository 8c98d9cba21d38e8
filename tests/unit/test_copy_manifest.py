"""The COPY manifest names exactly the published Parquet files, as Redshift reads them."""

from __future__ import annotations

import json

import pytest

from glue_jobs.publish import (
    ManifestMismatch,
    copy_manifest,
    data_files,
    manifest_entries,
    manifest_uri,
)
from glue_jobs.warehouse_port import render_copy_from_s3

LOC = "s3://udp-lake/transform/users/_versions/2026-11-21/r1/p_date=2026-11-21/"
ROLE = "arn:aws:iam::123456789012:role/udp-redshift-copy"
LISTING = {"part-00001.snappy.parquet": 200, "_SUCCESS": 0, "part-00000.snappy.parquet": 100,
           ".part-00000.snappy.parquet.crc": 12, "_temporary.parquet": 5}


def test_manifest_lives_in_the_run_folder_beside_the_partition() -> None:
    assert manifest_uri(LOC) == ("s3://udp-lake/transform/users/_versions/2026-11-21/r1/"
                                 "copy.manifest")
    with pytest.raises(ManifestMismatch, match="ends in '/'"):
        manifest_uri(LOC.rstrip("/"))


def test_the_manifest_names_each_parquet_file_mandatory_with_its_length() -> None:
    # GIVEN a version folder listing with Spark's marker, a checksum and a hidden file
    manifest = json.loads(copy_manifest(LOC, LISTING))
    # THEN only the data files are named, in order, each mandatory with its content_length
    assert manifest == {"entries": [
        {"url": f"{LOC}part-00000.snappy.parquet", "mandatory": True,
         "meta": {"content_length": 100}},
        {"url": f"{LOC}part-00001.snappy.parquet", "mandatory": True,
         "meta": {"content_length": 200}}]}
    assert list(data_files(LISTING)) == ["part-00000.snappy.parquet",
                                         "part-00001.snappy.parquet"]
    # AND reading it back gives the same entries
    assert manifest_entries(copy_manifest(LOC, LISTING), LOC) == {
        f"{LOC}part-00000.snappy.parquet": 100, f"{LOC}part-00001.snappy.parquet": 200}


def test_an_empty_version_has_no_manifest() -> None:
    with pytest.raises(ManifestMismatch, match="no Parquet file"):
        copy_manifest(LOC, {"_SUCCESS": 0})


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "is not a COPY manifest"),
    ('{"entries": []}', "names no file"),
    ('{"entries": [{"url": "' + LOC + 'a.parquet", "mandatory": true}]}',
     "is not a COPY manifest"),
    ('{"entries": [{"url": "' + LOC + 'a.parquet", "meta": {"content_length": 1}}]}',
     "not mandatory"),
    ('{"entries": [{"url": "' + LOC + '_SUCCESS", "mandatory": true, '
     '"meta": {"content_length": 0}}]}', "not a Parquet file of the published version"),
    ('{"entries": [{"url": "' + LOC + 'sub/a.parquet", "mandatory": true, '
     '"meta": {"content_length": 1}}]}', "not a Parquet file of the published version"),
])
def test_a_manifest_that_is_not_the_published_versions_is_refused(text: str,
                                                                  message: str) -> None:
    with pytest.raises(ManifestMismatch, match=message):
        manifest_entries(text, LOC)


def test_the_redshift_copy_reads_the_versions_manifest() -> None:
    sql = " ".join(render_copy_from_s3(LOC, ROLE, "2026-11-21").split())
    assert sql == (f"copy stage_users from '{manifest_uri(LOC)}' iam_role '{ROLE}' "
                   "format as parquet manifest")
