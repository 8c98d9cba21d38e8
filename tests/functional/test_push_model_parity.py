"""The lookup's row (push_api.model, Python) equals the ``users`` row the Spark transform
makes (glue_jobs.transforms.to_users) for the same raw records, edge cases included."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import functions as F

from contracts.schema import Kind
from contracts.tables import RAW, USERS
from contracts.user_record import validate_record
from glue_jobs.transforms import to_users
from local_aws.user_api.server import generate_user
from push_api.model import to_user_row

SALT = "parity-salt"


def edge_cases() -> list[dict[str, Any]]:
    base = generate_user("parity", 1, 0)
    out = []
    changes: list[dict[str, Any]] = [
        {"gender": " Female\u00a0", "nat": " ch ", "email": "  Ines.F@Example.COM "},
        {"phone": "(272) 790-0888", "email": "no-at-sign", "name": {"title": "\tDr "}},
        {"phone": "٣٤٥-12", "email": "", "location": {
            "city": "\u3000", "state": None, "country": "Portugal", "postcode": 1234,
            "coordinates": {"latitude": "91.0", "longitude": " -180 "},
            "timezone": {"offset": "+5:30", "description": "x"}}},
        {"phone": "7", "location": {
            "city": "Zürich", "postcode": "AB1 2CD",
            "coordinates": {"latitude": "abc", "longitude": "1e1"},
            "timezone": {"offset": "-10:00 ", "description": None}}},
        {"phone": None, "email": None, "location": None, "dob": None, "registered": None},
    ]
    for i, change in enumerate(changes):
        user = copy.deepcopy(base)
        user.update(change)
        user["login"]["uuid"] = f" user-{i} "
        out.append(user)
    return out + [generate_user("parity", 2, i) for i in range(20)]


def _stamp(clean: dict[str, Any], n: int) -> dict[str, Any]:
    return {**clean, "batch_id": f"b{n}", "fetched_at": datetime(2026, 11, 30, 10, n, tzinfo=UTC),
            "source_page": None, "source_seed": "push"}


def test_python_row_equals_the_spark_users_row(spark: Any) -> None:
    # GIVEN raw records as the pull and push paths store them
    raw = []
    for n, user in enumerate(edge_cases()):
        clean = validate_record(user)
        assert isinstance(clean, dict), clean
        raw.append(_stamp(clean, n % 60))
    # WHEN Spark builds the users model and Python builds the lookup rows
    spark_df = spark.createDataFrame(raw, RAW.spark_schema()).transform(to_users(SALT))
    as_text = [F.date_format(c, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").alias(c)
               if f.type is Kind.TIMESTAMP else F.col(c)
               for f in USERS.fields for c in [f.name]]
    from_spark = {r["user_id"]: r.asDict() for r in spark_df.select(as_text).collect()}
    from_python = {row["user_id"]: row for row in (to_user_row(r, SALT) for r in raw)}
    # THEN they are the same rows
    assert set(from_python) == set(from_spark)
    for user_id, row in from_python.items():
        assert row == from_spark[user_id], user_id
