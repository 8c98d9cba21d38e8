"""The data-quality gate on small Spark frames, and the DQDL files kept beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.tables import USERS
from glue_jobs.data_quality import (
    DQBreach,
    FitsBytes,
    InRange,
    NotNull,
    RowCountAtLeast,
    RowCountNearTrailing,
    Ruleset,
    Unique,
    default_rulesets,
    evaluate,
    evaluate_together,
    measure_by,
    published_row_counts,
    raise_on_breach,
    render_dqdl,
    results_frame_of,
)

DQDL_DIR = Path(__file__).resolve().parents[2] / "glue_jobs" / "dq"
RULES = Ruleset(USERS, (NotNull("user_id"), Unique(("user_id",)), InRange("age", 0, 130),
                        RowCountAtLeast(1), RowCountNearTrailing(0.5, 7, 3)))


def test_every_rule_measures_and_explains(spark: Any) -> None:
    # GIVEN a null key, one key three times and two ages out of range
    df = spark.createDataFrame([(None, 30), ("a", 131), ("a", -1), ("a", None), ("b", 40)],
                               "user_id string, age int")
    # WHEN evaluated with a trailing average of 20 rows
    results = {r.rule: r for r in evaluate(df, RULES, [20, 20, 20])}
    # THEN each failure is counted and worded
    assert results["user_id not null"].message == "1 null value (allowed 0)"
    assert results["user_id unique"].message == "2 duplicate keys (allowed 0)"
    assert results["age in [0, 130]"].message == "2 values outside [0, 130] (allowed 0)"
    assert results["row count >= 1"].passed
    trailing = results["row count within 50% of trailing 7-day average"]
    assert not trailing.passed
    assert trailing.message == ("5 rows is 75.0% below the trailing 3-day average of 20.0 "
                                "(allowed ±50%)")
    # AND raising names the rules, in order
    with pytest.raises(DQBreach) as err:
        raise_on_breach(results.values())
    assert str(err.value).startswith(
        "DQ breach: rule users.user_id not null: 1 null value (allowed 0); "
        "DQ breach: rule users.user_id unique: 2 duplicate keys (allowed 0)")


def test_unique_counts_null_keys_as_one_key(spark: Any) -> None:
    # GIVEN two null keys and one real key; THEN one duplicate (the second null), like a
    # struct key would count it, although the measure is on the bare column
    df = spark.createDataFrame([(None, 1), (None, 2), ("a", 3)], "user_id string, age int")
    results = {r.rule: r for r in evaluate(df, RULES)}
    assert results["user_id unique"].message == "1 duplicate key (allowed 0)"


def test_rulesets_evaluated_together_equal_one_by_one(spark: Any) -> None:
    # GIVEN two tables' rulesets that read the same rows (a duplicate key, a bad age)
    from contracts.tables import USER_LOCATIONS

    df = spark.createDataFrame([("a", 1, 10.0), ("a", 200, 95.0), ("b", None, None)],
                               "user_id string, age int, latitude double")
    other = Ruleset(USER_LOCATIONS, (NotNull("user_id"), Unique(("user_id",)),
                                     InRange("latitude", -90, 90), RowCountAtLeast(1)))
    # WHEN evaluated in one aggregation and one by one
    together = evaluate_together(df, [RULES, other], {"users": [3, 3, 3]})
    apart = evaluate(df, RULES, [3, 3, 3]) + evaluate(df, other)
    # THEN the results are the same, in the same order
    assert together == apart
    assert [r.table_name for r in together] == ["users"] * 5 + ["user_locations"] * 4
    assert sum(not r.passed for r in together) == 4


def test_clean_day_passes_and_short_history_is_skipped(spark: Any) -> None:
    df = spark.createDataFrame([("a", 30), ("b", None)], "user_id string, age int")
    results = evaluate(df, RULES, [100, 100])
    assert all(r.passed for r in results)
    assert "need 3 to judge (skipped)" in results[-1].message
    raise_on_breach(results)  # no exception


def test_empty_day_fails_row_count(spark: Any) -> None:
    df = spark.createDataFrame([], "user_id string, age int")
    failed = [r for r in evaluate(df, RULES) if not r.passed]
    assert [r.breach_message for r in failed] == [
        "DQ breach: rule users.row count >= 1: 0 rows (allowed >= 1)"]


def test_trailing_counts_use_the_latest_published_run_per_day(spark: Any) -> None:
    # GIVEN two published runs for day 1, a breach on day 2, one run on day 3
    ok = [r for r in evaluate(spark.createDataFrame([("a", 1)], "user_id string, age int"),
                              RULES) if r.rule_type == "RowCountAtLeast"]
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    seven = [ok[0].__class__(**{**ok[0].as_dict(), "observed": 7.0})]
    frames = [results_frame_of(spark, [("d1", "r1", "published", ok)], t[0]),
              results_frame_of(spark, [("d1", "r2", "published", seven)], t[1]),
              results_frame_of(spark, [("d2", "r3", "breach", ok)], t[1]),
              results_frame_of(spark, [("d3", "r4", "published", ok)], t[2])]
    history = frames[0].unionByName(frames[1]).unionByName(frames[2]).unionByName(frames[3])
    # WHEN reading the published counts
    # THEN day 1 counts its latest run, the breach is ignored
    assert published_row_counts(history, "users") == {"d1": 7, "d3": 1}
    assert published_row_counts(spark.createDataFrame([], "x int"), "users") == {}


@pytest.mark.parametrize("ruleset", default_rulesets(), ids=lambda r: r.table.name)
def test_dqdl_files_are_the_rendered_rulesets(ruleset: Ruleset) -> None:
    # the Glue Data Quality ruleset beside the Spark gate says the same thing
    text = (DQDL_DIR / f"{ruleset.table.name}.dqdl").read_text(encoding="utf-8")
    assert text == render_dqdl(ruleset)
    assert text.count("Rules = [") == 1 and text.rstrip().endswith("]")


def test_a_day_with_text_longer_than_its_redshift_bytes_fails(spark: Any) -> None:
    # GIVEN the users rules, whose text columns are sized in UTF-8 bytes as Redshift's
    # varchar(n) counts them: city is 128 characters, varchar(512); user_id ASCII, 36
    rules = next(r for r in default_rulesets() if r.table is USERS)
    fits = {r.column: r for r in rules.rules if isinstance(r, FitsBytes)}
    assert (fits["city"].max_bytes, fits["user_id"].max_bytes) == (512, 36)
    uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    df = spark.createDataFrame([
        # 128 CJK characters (384 bytes) and accented Latin: they fit
        (uuid, "東" * 128, "Île-de-France", "Zoë"),
        # 150 CJK characters: 450 bytes, still fits 512
        (uuid[:-1] + "1", "京" * 150, None, "Ōsaka"),
        # 200 CJK characters (600 bytes) and 129 four-byte emoji (516 bytes): too long
        (uuid[:-1] + "2", "都" * 200, "🚲" * 129, "x"),
        # a 36-character id with one accented letter is 37 bytes: too long for varchar(36)
        ("é" + uuid[1:], "Zürich", None, None),
    ], "user_id string, city string, state string, title string")
    # WHEN the byte rules are evaluated
    results = {r.rule: r for r in evaluate(df, Ruleset(USERS, (
        fits["user_id"], fits["city"], fits["state"], fits["title"])))}
    # THEN each column's overlong values are counted and named; the fitting ones pass
    assert results["city fits varchar(512) bytes"].message == (
        "1 value longer than 512 bytes of UTF-8 (allowed 0)")
    assert not results["state fits varchar(512) bytes"].passed
    assert not results["user_id fits varchar(36) bytes"].passed
    assert results["title fits varchar(128) bytes"].passed
    # AND the gate refuses the day, naming the rules
    with pytest.raises(DQBreach, match=r"rule users\.user_id fits varchar\(36\) bytes: 1 value"):
        raise_on_breach(results.values())


_KEYED = st.lists(st.tuples(st.sampled_from(["2026-10-01", "2026-10-02"]),
                            st.none() | st.sampled_from(["x", "y"]),
                            st.none() | st.integers(1, 2)), max_size=30)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_KEYED)
def test_unique_keys_are_counted_per_day_as_distinct_keys_are(
        spark: Any, rows: list[tuple[str, str | None, int | None]]) -> None:
    # GIVEN two days of rows with repeated, null and composite keys
    rules = Ruleset(USERS, (Unique(("user_id",)), Unique(("user_id", "age")),
                            Unique(("user_id",))))
    df = spark.createDataFrame(rows, "p_date string, user_id string, age int")
    # WHEN measured grouped by day, and each day alone as a one-day pass
    by_day = {d: {k: v for k, v in got.items() if k != "p_date"}
              for d, got in measure_by(df, [rules], "p_date").items()}
    alone = {d: measure_by(df.filter(f"p_date = '{d}'"), [rules], "p_date", only=d)
             for d in {r[0] for r in rows}}
    # THEN each measure is the day's number of distinct keys (None a key like any other)
    want = {d: {"rows": sum(r[0] == d for r in rows),
                "r0m0": len({r[1] for r in rows if r[0] == d}),
                "r0m1": len({r[1:] for r in rows if r[0] == d}),
                "r0m2": len({r[1] for r in rows if r[0] == d})} for d in {r[0] for r in rows}}
    assert by_day == want
    assert {d: m for got in alone.values() for d, m in got.items()} == want
