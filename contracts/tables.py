"""Names and column contracts of every table the pipeline owns.

Transform-layer tables are flat (analyst- and COPY-friendly). Their column order
here is the Parquet column order the Glue job writes and the column order of the
warehouse DDL (Redshift COPY from Parquet maps columns by position).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the ingest Lambda image ships without pyarrow
    import pyarrow as pa

from contracts.schema import Field, Kind, arrow_schema, glue_columns, spark_ddl, spark_schema
from contracts.user_record import RAW_FIELDS

__all__ = ["DAILY_USER_COUNTS", "DQ_RESULTS", "MODEL_TABLES", "PARTITION_KEY", "RAW",
           "RUN_OUTCOMES", "TABLES", "USERS", "USER_LOCATIONS", "TableContract"]

S, INT, BIG, D, T = Kind.STRING, Kind.INT, Kind.BIGINT, Kind.DOUBLE, Kind.TIMESTAMP
B = Kind.BOOLEAN

PARTITION_KEY = "p_date"  # ingestion date, yyyy-MM-dd, a string partition as Glue crawlers make it


@dataclass(frozen=True)
class TableContract:
    database: str
    name: str
    prefix: str  # location under the lake root / bucket
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()
    doc: str = ""

    @property
    def partition_keys(self) -> list[dict[str, str]]:
        return [{"Name": PARTITION_KEY, "Type": "string"}]

    def arrow_schema(self) -> pa.Schema:
        return arrow_schema(self.fields)

    def glue_columns(self) -> list[dict[str, str]]:
        return glue_columns(self.fields)

    def spark_ddl(self) -> str:
        return spark_ddl(self.fields)

    def spark_schema(self) -> Any:
        """pyspark StructType of the stored columns (partition key excluded)."""
        return spark_schema(self.fields)

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.fields]


RAW_DATABASE = "udp_raw"
TRANSFORM_DATABASE = "udp_transform"

RAW = TableContract(
    database=RAW_DATABASE,
    name="user_data",
    prefix="raw/user_data",
    fields=RAW_FIELDS,
    key=("login.uuid",),
    doc="Users as fetched from the API, secrets removed, partitioned by arrival date.",
)

USERS = TableContract(
    database=TRANSFORM_DATABASE,
    name="users",
    prefix="transform/users",
    key=("user_id",),
    doc="One row per user (login.uuid) per p_date, latest arrival wins; direct identifiers "
        "minimised.",
    fields=(
        Field("user_id", S, nullable=False, max_len=36, ascii_only=True, doc="login.uuid"),
        Field("gender", S, max_len=16),
        Field("title", S, max_len=32),
        Field("nationality", S, max_len=2, ascii_only=True),
        Field("birth_year", INT),
        Field("age", INT),
        Field("registered_at", T),
        Field("email_domain", S, max_len=255, doc="part after @, lower case"),
        Field("email_hash", S, max_len=64, ascii_only=True,
              doc="sha256(salt || lower(email)), hex"),
        Field("phone_masked", S, max_len=64, doc="digits but the last two replaced by *"),
        Field("city", S, max_len=128),
        Field("state", S, max_len=128),
        Field("country", S, max_len=64),
        Field("postcode", S, max_len=32),
        Field("latitude", D),
        Field("longitude", D),
        Field("tz_offset_minutes", INT),
        Field("fetched_at", T, nullable=False),
        Field("batch_id", S, nullable=False, max_len=64, ascii_only=True),
    ),
)

USER_LOCATIONS = TableContract(
    database=TRANSFORM_DATABASE,
    name="user_locations",
    prefix="transform/user_locations",
    key=("user_id",),
    doc="Where each user of the day lives, ready for maps: coordinates as doubles (null when "
        "outside [-90, 90] / [-180, 180]), timezone offset in minutes.",
    fields=(
        Field("user_id", S, nullable=False, max_len=36, doc="login.uuid"),
        Field("city", S, max_len=128),
        Field("state", S, max_len=128),
        Field("country", S, max_len=64),
        Field("postcode", S, max_len=32, doc="text: leading zeros and letters kept"),
        Field("latitude", D, doc="WGS84 degrees, null unless in [-90, 90]"),
        Field("longitude", D, doc="WGS84 degrees, null unless in [-180, 180]"),
        Field("tz_offset_minutes", INT, doc="UTC offset, e.g. +5:30 -> 330"),
        Field("tz_description", S, max_len=128),
    ),
)

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0-17", 0, 17), ("18-24", 18, 24), ("25-34", 25, 34), ("35-44", 35, 44),
    ("45-54", 45, 54), ("55-64", 55, 64), ("65+", 65, 130),
)
"""Dashboard age bands (inclusive bounds); anything else, or null, is ``'unknown'``.
One definition for the Spark transform (``glue_jobs.transforms.age_band``) and the SQL
that re-derives a band (``sql.ddl.age_band_case``: the Redshift view, the Athena query)."""
AGE_BAND_UNKNOWN = "unknown"

DAILY_USER_COUNTS = TableContract(
    database=TRANSFORM_DATABASE,
    name="daily_user_counts",
    prefix="transform/daily_user_counts",
    key=("country", "gender", "age_band"),
    doc="Users seen per day by country, gender and age band (dashboards). Unknown values "
        "are grouped under null country/gender and age band 'unknown'.",
    fields=(
        Field("country", S, max_len=64),
        Field("gender", S, max_len=16),
        Field("age_band", S, nullable=False, max_len=16, doc="0-17, 18-24, ..., 65+, unknown"),
        Field("users", BIG, nullable=False, doc="distinct users (one row each in users)"),
    ),
)

DQ_RESULTS = TableContract(
    database=TRANSFORM_DATABASE,
    name="dq_results",
    prefix="transform/dq_results",
    key=("run_id", "table_name", "rule"),
    doc="One row per data-quality rule per job run and day; the history the row-count "
        "tolerance rule reads.",
    fields=(
        Field("run_id", S, nullable=False, max_len=64),
        Field("table_name", S, nullable=False, max_len=64),
        Field("rule", S, nullable=False, max_len=128, doc="e.g. 'user_id unique'"),
        Field("rule_type", S, nullable=False, max_len=32,
              doc="NotNull, Unique, Range, RowCount, RowCountTrailing"),
        Field("passed", B, nullable=False),
        Field("observed", D, doc="the measured value (violations, or the row count)"),
        Field("allowed", S, max_len=128, doc="the bound, as text"),
        Field("message", S, max_len=512),
        Field("run_status", S, nullable=False, max_len=16, doc="published or breach"),
        Field("evaluated_at", T, nullable=False),
    ),
)

RUN_OUTCOMES = TableContract(
    database=TRANSFORM_DATABASE,
    name="run_outcomes",
    prefix="transform/run_outcomes",
    key=("run_key", "stage"),
    doc="What each job run did with each day: one row per run key, stage and day, "
        "written by the job itself; `udp status`, the run report and the AWS report read "
        "their per-date rows from it.",
    fields=(
        Field("run_key", S, nullable=False, max_len=128, ascii_only=True,
              doc="the run the day belongs to (a backfill chunk's run key)"),
        Field("stage", S, nullable=False, max_len=16, ascii_only=True,
              doc="transform or load"),
        Field("status", S, nullable=False, max_len=16, ascii_only=True,
              doc="SUCCEEDED or FAILED"),
        Field("stage_run_id", S, max_len=128, ascii_only=True,
              doc="the transform's per-day run id (its dq_results rows), the load's load id"),
        Field("job_run_id", S, max_len=128, ascii_only=True, doc="the Glue job run's id"),
        Field("error", S, max_len=128, doc="the error's name, e.g. DQBreach"),
        Field("cause", S, max_len=1024, doc="why, cut to 1024 characters"),
        Field("rows_read", BIG, doc="transform: raw rows read; load: rows staged"),
        Field("rows_written", BIG,
              doc="transform: users published; load: rows merged (inserted + updated)"),
        Field("dq_passed", B, doc="transform: every data-quality rule passed"),
        Field("started_at", T, doc="when the stage began the day (a pass: all its days)"),
        Field("finished_at", T, nullable=False, doc="when the stage was done with the day"),
        Field("seconds", D, doc="finished_at - started_at"),
    ),
)

MODEL_TABLES: tuple[TableContract, ...] = (USERS, USER_LOCATIONS, DAILY_USER_COUNTS)
"""The analyst model the transform job publishes, one partition per p_date each."""

TABLES: dict[str, TableContract] = {t.name: t for t in (RAW, *MODEL_TABLES, DQ_RESULTS,
                                                         RUN_OUTCOMES)}
