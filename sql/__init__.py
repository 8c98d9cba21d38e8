"""SQL as files: Redshift/PostgreSQL DDL, staging + MERGE, audit, analyst views; Athena queries."""

from importlib import resources

__all__ = ["read_sql"]


def read_sql(relpath: str) -> str:
    """Text of a shipped SQL file, e.g. ``read_sql("redshift/merge_users.sql")``."""
    return resources.files(__package__).joinpath(relpath).read_text(encoding="utf-8")
