"""Pure DataFrame -> DataFrame transforms from the raw layer to the analyst model.

No I/O here: every function takes and returns DataFrames, so each is tested with chispa
against an explicit expected frame.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from contracts.tables import USERS, TableContract

__all__ = ["conform_to", "dedupe_latest_by_user", "email_domain", "email_hash", "mask_phone",
           "to_users", "tz_offset_minutes"]


def dedupe_latest_by_user(raw_df: DataFrame) -> DataFrame:
    """One row per ``login.uuid``: the latest ``fetched_at`` wins (batch id breaks ties)."""
    w = Window.partitionBy(F.col("login.uuid")).orderBy(
        F.col("fetched_at").desc(), F.col("batch_id").desc())
    return (raw_df.withColumn("_rn", F.row_number().over(w))
            .filter(F.col("_rn") == 1).drop("_rn"))


def clean_text(col: Column) -> Column:
    """Trim surrounding whitespace (incl. tabs, NBSP); empty becomes null. Non-ASCII kept."""
    trimmed = F.regexp_replace(col, r"^[\s\p{Z}]+|[\s\p{Z}]+$", "")
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def email_domain(email: Column) -> Column:
    e = F.lower(F.trim(email))
    return F.when(e.contains("@"), F.substring_index(e, "@", -1))


def email_hash(email: Column, salt: str) -> Column:
    """Salted SHA-256 of the normalised address: joinable, not reversible without the salt."""
    e = F.lower(F.trim(email))
    return F.when(e.isNotNull() & (e != ""), F.sha2(F.concat(F.lit(salt), e), 256))


def mask_phone(phone: Column) -> Column:
    """Every digit but the last two replaced by ``*``; punctuation kept for readability."""
    return F.regexp_replace(clean_text(phone), r"\d(?=(?:\D*\d){2})", "*")


def tz_offset_minutes(offset: Column) -> Column:
    """``'+5:30'`` -> 330, ``'-3:00'`` -> -180; malformed -> null."""
    pattern = r"^([+-])?(\d{1,2}):(\d{2})$"
    text = F.trim(offset)
    hours = F.regexp_extract(text, pattern, 2).cast("int")
    minutes = F.regexp_extract(text, pattern, 3).cast("int")
    sign = F.when(F.regexp_extract(text, pattern, 1) == "-", -1).otherwise(1)
    return F.when(text.rlike(pattern), sign * (hours * 60 + minutes))


def conform_to(contract: TableContract) -> Callable[[DataFrame], DataFrame]:
    """Select the contract's columns in contract order, cast to contract types."""
    schema = contract.spark_schema()

    def _conform(df: DataFrame) -> DataFrame:
        return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
    return _conform


def to_users(salt: str) -> Callable[[DataFrame], DataFrame]:
    """Raw records (already deduplicated) -> the ``users`` model with identifiers minimised."""
    def _to_users(raw_df: DataFrame) -> DataFrame:
        loc = F.col("location")
        users_df = raw_df.select(
            F.trim(F.col("login.uuid")).alias("user_id"),
            F.lower(clean_text(F.col("gender"))).alias("gender"),
            clean_text(F.col("name.title")).alias("title"),
            F.upper(clean_text(F.col("nat"))).alias("nationality"),
            F.year(F.col("dob.date")).alias("birth_year"),
            F.col("dob.age").alias("age"),
            F.col("registered.date").alias("registered_at"),
            email_domain(F.col("email")).alias("email_domain"),
            email_hash(F.col("email"), salt).alias("email_hash"),
            mask_phone(F.col("phone")).alias("phone_masked"),
            clean_text(loc["city"]).alias("city"),
            clean_text(loc["state"]).alias("state"),
            clean_text(loc["country"]).alias("country"),
            clean_text(loc["postcode"]).alias("postcode"),
            clean_text(loc["coordinates"]["latitude"]).cast("double").alias("latitude"),
            clean_text(loc["coordinates"]["longitude"]).cast("double").alias("longitude"),
            tz_offset_minutes(loc["timezone"]["offset"]).alias("tz_offset_minutes"),
            F.col("fetched_at"),
            F.col("batch_id"),
        )
        return users_df.transform(conform_to(USERS))
    return _to_users
