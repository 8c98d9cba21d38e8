"""The verify's matching: salted hashes of candidate strings cut from bytes."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from contracts.erasure import ErasureRegister, normalised_value
from glue_jobs.erasure_verify import Fingerprint, candidates, count_in, fingerprint

T0 = datetime(2026, 12, 1, tzinfo=UTC)
UID = "5c2a9f0e-1d2b-4c3d-8e9f-0a1b2c3d4e5f"


def _print() -> Fingerprint:
    reg = ErasureRegister.new().requested([UID], T0).with_values(
        UID, ["Ann.Lee@Example.org", "(0151) 555-0199", "Ann Lee"])
    fp = fingerprint(reg, UID)
    assert fp is not None and len(fp.value_hashes) == 3
    return fp


def test_phones_compare_by_their_digits_and_text_by_lower_case() -> None:
    assert normalised_value("(0151) 555-0199") == normalised_value("01515550199")
    assert normalised_value(" Ann  LEE ") == "ann lee"


def test_id_email_and_phone_are_found_in_text_whatever_the_punctuation() -> None:
    fp = _print()
    line = b'{"id": "%s", "mail": "ann.lee@example.org", "tel": "0151-555-0199"}' % \
        UID.encode()
    assert count_in(line, [fp]) == 3
    assert UID in candidates(line)


def test_a_name_alone_is_not_the_user_but_beside_their_email_it_counts() -> None:
    fp = _print()
    assert count_in(b"Dear Ann Lee, welcome", [fp]) == 0
    assert count_in(b"Ann Lee <ann.lee@example.org>", [fp]) == 2


def test_compressed_parquet_is_decoded_row_by_row() -> None:
    fp = _print()
    table = pa.table({"first": ["Bob", "Ann"], "last": ["Ray", "Lee"],
                      "email": ["bob@x.org", "ann.lee@example.org"]})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    assert count_in(out.getvalue(), [fp]) == 2
    other = pa.table({"first": ["Ann"], "last": ["Lee"], "email": ["someone@else.org"]})
    out = io.BytesIO()
    pq.write_table(other, out)
    assert count_in(out.getvalue(), [fp]) == 0
