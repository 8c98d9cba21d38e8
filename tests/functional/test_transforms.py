"""chispa tests for every pure transform (real local Spark, one session)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from chispa import assert_column_equality, assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from contracts.tables import RAW, USERS
from contracts.user_record import to_json_ready, validate_record
from glue_jobs.transforms import (
    WHITESPACE,
    dedupe_latest_by_user,
    email_domain,
    email_hash,
    mask_phone,
    to_latest_model,
    to_users,
    tz_offset_minutes,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def raw_rows(sample_page: dict[str, Any], fetched: list[tuple[int, datetime, str]]) -> list[Any]:
    """(sample index, fetched_at, batch id) -> raw-layer rows in contract order."""
    rows = []
    for idx, ts, batch in fetched:
        clean = validate_record(sample_page["results"][idx])
        assert isinstance(clean, dict)
        rows.append({**clean, "batch_id": batch, "fetched_at": ts, "source_page": 1,
                     "source_seed": "s"})
    return rows


@pytest.fixture()
def raw_schema() -> StructType:
    return RAW.spark_schema()


def test_dedupe_keeps_latest_arrival(spark: Any, sample_page: dict[str, Any],
                                     raw_schema: StructType) -> None:
    # GIVEN user 0 twice (older and newer) and user 1 once
    rows = raw_rows(sample_page, [(0, T0, "b1"), (0, T1, "b2"), (1, T0, "b1")])
    df = spark.createDataFrame(rows, raw_schema)
    # WHEN deduplicated
    out = df.transform(dedupe_latest_by_user).select("login.uuid", "batch_id")
    # THEN one row per uuid and the newer batch wins
    expected = spark.createDataFrame(
        [(sample_page["results"][0]["login"]["uuid"], "b2"),
         (sample_page["results"][1]["login"]["uuid"], "b1")], "uuid string, batch_id string")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_dedupe_key_is_the_published_user_id(spark: Any, sample_page: dict[str, Any],
                                             raw_schema: StructType) -> None:
    # GIVEN the same uuid twice, once wrapped in spaces (user_id is the trimmed uuid)
    rows = raw_rows(sample_page, [(0, T0, "b1"), (0, T1, "b2")])
    rows[1]["login"] = {**rows[1]["login"], "uuid": f"  {rows[1]['login']['uuid']} "}
    df = spark.createDataFrame(rows, raw_schema)
    # WHEN deduplicated, either way THEN one user, the newer arrival
    assert [r.batch_id for r in df.transform(dedupe_latest_by_user).collect()] == ["b2"]
    model = df.transform(to_latest_model("s")).collect()
    assert [(r.user_id, r.batch_id) for r in model] == [
        (sample_page["results"][0]["login"]["uuid"], "b2")]


def test_dedupe_breaks_equal_timestamps_deterministically(spark: Any, sample_page: dict[str, Any],
                                                          raw_schema: StructType) -> None:
    rows = raw_rows(sample_page, [(0, T0, "b1"), (0, T0, "b9"), (0, T0, "b5")])
    out = spark.createDataFrame(rows, raw_schema).transform(dedupe_latest_by_user)
    assert [r.batch_id for r in out.collect()] == ["b9"]


def test_identifier_helpers(spark: Any) -> None:
    df = spark.createDataFrame(
        [(" Ines.Ferreira@Example.COM ", "(21) 5550-1234", "+5:30", "example.com", "(**) ****-**34",
          330),
         ("no-at-sign", " 12 ", "-3:00", None, "12", -180),
         (None, None, "bogus", None, None, None),
         ("", "", "+12:00", None, None, 720)],
        "email string, phone string, off string, want_domain string, want_phone string, "
        "want_off int",
    )
    out = df.select(
        email_domain(F.col("email")).alias("domain"), F.col("want_domain"),
        mask_phone(F.col("phone")).alias("masked"), F.col("want_phone"),
        tz_offset_minutes(F.col("off")).alias("minutes"), F.col("want_off"),
        email_hash(F.col("email"), "pepper").alias("h"),
    )
    assert_column_equality(out, "domain", "want_domain")
    assert_column_equality(out, "masked", "want_phone")
    assert_column_equality(out, "minutes", "want_off")
    want = hashlib.sha256(b"pepperines.ferreira@example.com").hexdigest()
    assert [r.h for r in out.collect()] == [want, hashlib.sha256(b"pepperno-at-sign").hexdigest(),
                                            None, None]


def test_to_users_models_and_minimises(spark: Any, sample_page: dict[str, Any],
                                       raw_schema: StructType) -> None:
    # GIVEN the German sample user (int postcode, non-ASCII text, "+1:00")
    rows = raw_rows(sample_page, [(1, T0, "b1")])
    df = spark.createDataFrame(rows, raw_schema)
    # WHEN modelled
    out = df.transform(to_users("salt"))
    # THEN the row matches the contract exactly, identifiers minimised
    expected_schema = USERS.spark_schema()
    email = "jonas.schafer@example.com"
    expected = spark.createDataFrame([(
        "c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f", "male", "Mr", "DE", 1974, 52,
        datetime(2006, 5, 19, 9, 3, 12, 771000, tzinfo=UTC), "example.com",
        hashlib.sha256(("salt" + email).encode()).hexdigest(), "****-*****21",
        "Göttingen", "Niedersachsen", "Germany", "37073", 51.5413, 9.9158, 60, T0, "b1",
    )], expected_schema)
    assert_df_equality(out, expected, ignore_nullable=True)
    assert out.columns == USERS.column_names
    text = str(out.collect())
    assert "jonas.schafer@" not in text and "Lindenstraße" not in text


def test_to_users_keeps_leading_zero_postcodes_and_trims(spark: Any, sample_page: dict[str, Any],
                                                         raw_schema: StructType) -> None:
    rows = raw_rows(sample_page, [(0, T0, "b1")])
    rows[0]["location"]["postcode"] = "01234"
    rows[0]["location"]["city"] = "  Évora \t"
    out = spark.createDataFrame(rows, raw_schema).transform(to_users("s")).collect()[0]
    assert (out.postcode, out.city) == ("01234", "Évora")


def test_json_ready_records_survive_spark_roundtrip(spark: Any, sample_page: dict[str, Any],
                                                    raw_schema: StructType) -> None:
    # timestamps keep microseconds through Spark (UTC session)
    rows = raw_rows(sample_page, [(3, datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=UTC), "b")])
    got = spark.createDataFrame(rows, raw_schema).select("fetched_at").collect()[0][0]
    assert got.replace(tzinfo=None) == datetime(2026, 11, 22, 1, 2, 3, 456789)
    assert to_json_ready(rows[0])["fetched_at"] == "2026-11-22T01:02:03.456789Z"


def test_clean_text_trims_every_unicode_space_but_keeps_inner_text(spark: Any) -> None:
    # GIVEN text wrapped in tabs, NBSP, ideographic space and a line separator
    from glue_jobs.transforms import clean_text

    df = spark.createDataFrame(
        [("\t\u00a0Zürich\u3000\u2028",), ("  São  Paulo ",), ("\u00a0\t",), (None,)], "t string")
    # WHEN cleaned THEN only the edges go; inner spaces and non-ASCII stay exactly
    got = [r[0] for r in df.select(clean_text(F.col("t"))).collect()]
    assert got == ["Zürich", "São  Paulo", None, None]


def test_mask_phone_matches_the_lookahead_definition(spark: Any) -> None:
    # GIVEN phones of many shapes WHEN masked THEN exactly "every digit but the last two"
    import re

    from glue_jobs.transforms import mask_phone

    phones = ["(21) 5550-1234", "0171-5550321", "079 555 12 34", "+41 (0)76 555 43 21",
              "7", "12", "a1b", "x9y8z", "no digits", "٣٤٥ 12", "1 2 3"]
    got = [r[0] for r in spark.createDataFrame([(p,) for p in phones], "p string")
           .select(mask_phone(F.col("p"))).collect()]
    want = [re.sub(r"[0-9](?=(?:[^0-9]*[0-9]){2})", "*", p) for p in phones]
    assert got == want


# The fast paths of clean_text and mask_phone against their regex definitions, evaluated
# by Spark itself on the same strings (Java regex semantics, as the definitions were).
_ALPHABET = [*WHITESPACE, "a", "Z", "~", "!", "0", "5", "9", "-", "(", ")", "+", "é", "ß",
             "٣", "😀", "\ue000", "\u200b", "\x00", "\x7f", "\x1f"]
_TEXT = st.text(alphabet=st.sampled_from(_ALPHABET), max_size=12)
# every string of up to two characters: all the edges, deterministically
_SHORT = ["", *_ALPHABET, *(a + b for a in _ALPHABET for b in _ALPHABET)]


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.none() | _TEXT, min_size=1, max_size=400))
def test_clean_text_and_mask_phone_equal_their_regex_definitions(
        spark: Any, values: list[str | None]) -> None:
    from glue_jobs.transforms import PHONE_MASK_REGEX, clean_text

    # GIVEN strings made of whitespace, digits, punctuation, non-ASCII and the mask marker
    df = spark.createDataFrame([(v,) for v in [*_SHORT, *values]], "t string")
    by_regex = F.regexp_replace(F.col("t"), r"^[\s\p{Z}]+|[\s\p{Z}]+$", "")
    defined_clean = F.when(by_regex != "", by_regex)
    # WHEN cleaned and masked both ways
    out = df.select(clean_text(F.col("t")).alias("fast"), defined_clean.alias("defined"),
                    mask_phone(F.col("t")).alias("fast_mask"),
                    F.regexp_replace(defined_clean, PHONE_MASK_REGEX, "*").alias("def_mask"))
    # THEN every row agrees (nulls included)
    assert_column_equality(out, "fast", "defined")
    assert_column_equality(out, "fast_mask", "def_mask")


def test_conform_to_several_contracts_selects_their_union_once(spark: Any) -> None:
    # GIVEN a frame with every model column (and one extra)
    from contracts.tables import USER_LOCATIONS
    from glue_jobs.transforms import conform_to

    names = list(dict.fromkeys([*USERS.column_names, *USER_LOCATIONS.column_names]))
    df = spark.createDataFrame([], ", ".join(f"{n} string" for n in [*names, "extra"]))
    # WHEN conformed to users and user_locations together
    out = df.transform(conform_to(USERS, USER_LOCATIONS))
    # THEN users' columns in order, then the locations-only ones, each typed once
    assert out.columns == names
    assert dict(out.dtypes)["latitude"] == "double"
