"""Pure DataFrame -> DataFrame transforms from the raw layer to the analyst model.

No I/O here: every function takes and returns DataFrames, so each is tested with chispa
against an explicit expected frame.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from contracts.tables import (
    AGE_BAND_UNKNOWN,
    AGE_BANDS,
    DAILY_USER_COUNTS,
    USER_LOCATIONS,
    USERS,
    TableContract,
)

__all__ = [
    "AGE_BANDS",
    "PHONE_MASK_REGEX",
    "WHITESPACE",
    "age_band",
    "clean_text",
    "conform_to",
    "coordinate",
    "dedupe_latest_by_user",
    "email_domain",
    "email_hash",
    "filter_erased",
    "mask_phone",
    "model_columns",
    "normalised_email",
    "to_daily_user_counts",
    "to_latest_model",
    "to_model",
    "to_user_locations",
    "to_users",
    "tz_offset_minutes",
]


def filter_erased(hashes: frozenset[str], prefix: str) -> Callable[[DataFrame], DataFrame]:
    """Raw records without those of erased users: the Spark form of
    ``contracts.erasure.drop_erased``. A record's hash is
    ``sha2(prefix || trim(login.uuid))`` (``prefix`` is ``contracts.erasure.hash_prefix``
    of the register's salt); a record without an id is kept, as validation decides it."""
    def _filter_erased(raw_df: DataFrame) -> DataFrame:
        if not hashes:
            return raw_df
        h = F.sha2(F.concat(F.lit(prefix), F.trim(F.col("login.uuid"))), 256)
        return raw_df.filter(~F.coalesce(h.isin(sorted(hashes)), F.lit(False)))
    return _filter_erased


def dedupe_latest_by_user(raw_df: DataFrame) -> DataFrame:
    """One row per user (``login.uuid`` trimmed, i.e. ``user_id``): the latest
    ``fetched_at`` wins (batch id breaks ties)."""
    w = Window.partitionBy(F.trim(F.col("login.uuid"))).orderBy(
        F.col("fetched_at").desc(), F.col("batch_id").desc())
    return (raw_df.withColumn("_rn", F.row_number().over(w))
            .filter(F.col("_rn") == 1).drop("_rn"))


WHITESPACE = ("\t\n\x0b\x0c\r\x20\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
              "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""The characters of Java's regex class ``[\\s\\p{Z}]``: ASCII ``\\s`` plus every Unicode
separator (Zs, Zl, Zp)."""


def clean_text(col: Column) -> Column:
    """Trim surrounding whitespace (incl. tabs, NBSP); empty becomes null. Non-ASCII kept.

    Same result as ``regexp_replace(col, '^[\\s\\p{Z}]+|[\\s\\p{Z}]+$', '')`` then
    empty -> null, without a regex (this is the model's hottest expression: ten columns
    per record). A value whose first and last characters are printable ASCII (``!``..``~``,
    none of them whitespace) is already clean and passes through untouched; only the
    others pay for the character-set trim (Spark's ``btrim`` with a trim set copies the
    value twice and allocates two position arrays per call). On the 1M-user bench day the
    model built in 10-11 s instead of 14-16 s (with huge-method JIT on, a setting of the
    local Spark session).
    """
    first, last = F.substring(col, 1, 1), F.substring(col, -1, 1)
    tidy = first.between("!", "~") & last.between("!", "~")
    trimmed = F.btrim(col, F.lit(WHITESPACE))
    return (F.when(tidy, col)
            .when(trimmed == "", F.lit(None))
            .otherwise(trimmed))


def normalised_email(email: Column) -> Column:
    """The address as the model keys it: trimmed, lower case."""
    return F.lower(F.trim(email))


def email_domain(email: Column) -> Column:
    e = normalised_email(email)
    return F.when(e.contains("@"), F.substring_index(e, "@", -1))


def email_hash(email: Column, salt: str) -> Column:
    """Salted SHA-256 of the normalised address: joinable, not reversible without the salt."""
    e = normalised_email(email)
    return F.when(e.isNotNull() & (e != ""), F.sha2(F.concat(F.lit(salt), e), 256))


PHONE_MASK_REGEX = r"\d(?=(?:\D*\d){2})"
"""The phone mask: a digit with at least two more digits after it."""


def mask_phone(phone: Column) -> Column:
    """Every digit but the last two replaced by ``*``; punctuation kept for readability.

    The same strings as ``regexp_replace(phone, PHONE_MASK_REGEX, "*")``, without a
    look-ahead tried at every character: reversed, the phone's head up to its second
    digit is kept (the whole phone when it has fewer than two), and the digits of the
    rest become ``*`` by ``translate``. Every step is unconditional, so Spark computes
    each once per row (no CASE branch recomputes a shared input). On the 1M-user bench
    day: 1.0 s less JVM CPU than the look-ahead.
    """
    reversed_ = F.reverse(clean_text(phone))
    head = F.regexp_extract(reversed_, r"(?s)^(\D*\d\D*\d|.*)", 1)
    tail = F.substring(reversed_, F.length(head) + 1, 1 << 30)
    return F.reverse(F.concat(head, F.translate(tail, "0123456789", "*" * 10)))


def tz_offset_minutes(offset: Column) -> Column:
    """``'+5:30'`` -> 330, ``'-3:00'`` -> -180; malformed -> null.

    ANSI-safe: the parts are ``try_cast`` so no input raises, whether or not Spark
    evaluates a CASE branch whose condition is false."""
    pattern = r"^[+-]?[0-9]{1,2}:[0-9]{2}$"
    text = F.trim(offset)
    # one regex decides; a matching value is then split without regex
    hours = F.abs(F.substring_index(text, ":", 1).try_cast("int"))
    minutes = F.substring_index(text, ":", -1).try_cast("int")
    sign = F.when(F.substring(text, 1, 1) == "-", -1).otherwise(1)
    return F.when(text.rlike(pattern), sign * (hours * 60 + minutes))


def coordinate(text: Column, limit: float) -> Column:
    """Coordinate text -> double; null when blank, not a number (``'n/a'``, ``'NaN'``),
    infinite (``'1e999'``) or outside ``[-limit, limit]``.

    ``try_cast``: under ANSI SQL (Spark 4's and Glue 6.0's default) a plain cast of
    ``'n/a'`` raises CAST_INVALID_INPUT and fails the job."""
    value = clean_text(text).try_cast("double")
    return F.when(F.abs(value) <= F.lit(limit), value)


def age_band(age: Column) -> Column:
    """Age in years -> its :data:`AGE_BANDS` label, ``'unknown'`` when null or out of range."""
    band = F.lit(AGE_BAND_UNKNOWN)
    for label, low, high in reversed(AGE_BANDS):
        band = F.when(age.between(low, high), F.lit(label)).otherwise(band)
    return band


def conform_to(*contracts: TableContract,
               keep: tuple[str, ...] = ()) -> Callable[[DataFrame], DataFrame]:
    """Select the contract's columns in contract order, cast to contract types.

    Given several contracts (tables projected from the same rows), the union of their
    columns, each once, in first-seen order. ``keep`` names columns carried after them
    as they are (``p_date`` when a frame holds several days).
    """
    fields = {f.name: f for c in reversed(contracts) for f in c.spark_schema().fields}
    names = dict.fromkeys(f.name for c in contracts for f in c.spark_schema().fields)

    def _conform(df: DataFrame) -> DataFrame:
        return df.select([F.col(n).cast(fields[n].dataType).alias(n) for n in names]
                         + [F.col(k) for k in keep if k not in names])
    return _conform


def model_columns(salt: str) -> dict[str, Column]:
    """Every model column as an expression over a raw (deduplicated) record.

    ``users`` and ``user_locations`` select from this one mapping, so a column shared by
    both (city, coordinates, ...) is computed by the same expression in both.
    """
    loc = F.col("location")
    return {
        "user_id": F.trim(F.col("login.uuid")),
        "gender": F.lower(clean_text(F.col("gender"))),
        "title": clean_text(F.col("name.title")),
        "nationality": F.upper(clean_text(F.col("nat"))),
        "birth_year": F.year(F.col("dob.date")),
        "age": F.col("dob.age"),
        "registered_at": F.col("registered.date"),
        "email_domain": email_domain(F.col("email")),
        "email_hash": email_hash(F.col("email"), salt),
        "phone_masked": mask_phone(F.col("phone")),
        "city": clean_text(loc["city"]),
        "state": clean_text(loc["state"]),
        "country": clean_text(loc["country"]),
        "postcode": clean_text(loc["postcode"]),
        "latitude": coordinate(loc["coordinates"]["latitude"], 90.0),
        "longitude": coordinate(loc["coordinates"]["longitude"], 180.0),
        "tz_offset_minutes": tz_offset_minutes(loc["timezone"]["offset"]),
        "tz_description": clean_text(loc["timezone"]["description"]),
        "fetched_at": F.col("fetched_at"),
        "batch_id": F.col("batch_id"),
    }


def to_model(salt: str,
             contracts: tuple[TableContract, ...] = (USERS, USER_LOCATIONS)
             ) -> Callable[[DataFrame], DataFrame]:
    """Raw records -> one wide frame holding the columns of every contract given (each
    table is then a :func:`conform_to` projection of it; the job caches this frame)."""
    names = list(dict.fromkeys(n for c in contracts for n in c.column_names))

    def _to_model(raw_df: DataFrame) -> DataFrame:
        cols = model_columns(salt)
        return raw_df.select([cols[n].alias(n) for n in names])
    return _to_model


def to_latest_model(salt: str,
                    contracts: tuple[TableContract, ...] = (USERS, USER_LOCATIONS),
                    *, by: tuple[str, ...] = ()) -> Callable[[DataFrame], DataFrame]:
    """The rows of ``dedupe_latest_by_user`` then :func:`to_model`, computed cheaper: the
    flat model columns are built first, so the dedupe shuffles them instead of the whole
    nested raw record.

    ``by`` names raw columns that split the dedupe and are kept in the output: with
    ``by=("p_date",)`` a frame of several days gives each day's latest row per user,
    exactly what the model of each day alone would hold."""
    names = list(dict.fromkeys(n for c in contracts for n in c.column_names))
    order = [c for c in ("user_id", "fetched_at", "batch_id") if c not in names]
    # the email's columns come from the address after the dedupe: the shuffle carries
    # the short normalised address, not its 64-character hash and its domain (1M
    # users: 0.3 s less). Both functions normalise first, so the values are the same.
    address = F.col("_email")
    after = {"email_hash": email_hash(address, salt), "email_domain": email_domain(address)}

    def _to_latest_model(raw_df: DataFrame) -> DataFrame:
        cols = model_columns(salt)
        model_df = raw_df.select(*[cols[n].alias(n) for n in (*names, *order) if n not in after],
                                 normalised_email(F.col("email")).alias("_email"),
                                 *[F.col(k) for k in by])
        # partitioned by the output's own (day,) user_id: the result stays hash-
        # partitioned by it, so the DQ gate's uniqueness count on the cached model
        # needs no new shuffle
        w = Window.partitionBy(*by, "user_id").orderBy(F.col("fetched_at").desc(),
                                                       F.col("batch_id").desc())
        latest = model_df.withColumn("_rn", F.row_number().over(w)).filter(F.col("_rn") == 1)
        return latest.select(*[(after[n] if n in after else F.col(n)).alias(n) for n in names],
                             *[F.col(k) for k in by])
    return _to_latest_model


def to_users(salt: str) -> Callable[[DataFrame], DataFrame]:
    """Raw records (already deduplicated) -> the ``users`` model with identifiers minimised."""
    def _to_users(raw_df: DataFrame) -> DataFrame:
        return raw_df.transform(to_model(salt, (USERS,))).transform(conform_to(USERS))
    return _to_users


def to_user_locations(raw_df: DataFrame) -> DataFrame:
    """Raw records (already deduplicated) -> ``user_locations``: one map-ready row per user.

    No street line: a map needs coordinates and a city, not a door (see the README, "Data model").
    """
    return (raw_df.transform(to_model("", (USER_LOCATIONS,)))
            .transform(conform_to(USER_LOCATIONS)))


def to_daily_user_counts(users_df: DataFrame, *, by: tuple[str, ...] = ()) -> DataFrame:
    """The day's ``users`` -> users per (country, gender, age band), for dashboards.

    ``by`` adds grouping columns kept in the output (``p_date`` for several days)."""
    counts_df = (users_df
                 .withColumn("age_band", age_band(F.col("age")))
                 .groupBy(*by, "country", "gender", "age_band")
                 .agg(F.count(F.lit(1)).alias("users")))
    return counts_df.transform(conform_to(DAILY_USER_COUNTS, keep=by))
