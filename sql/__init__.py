"""SQL as files: Redshift/PostgreSQL DDL, staging + MERGE, audit, analyst views; Athena queries.

Warehouse statements that list the columns of a contract table are templates whose
column lists come from ``contracts/`` (:mod:`sql.render`); :func:`read_sql` returns them
rendered, :func:`read_template` as written."""

from importlib import resources

__all__ = ["read_sql", "read_template"]


def read_template(relpath: str) -> str:
    """Text of a shipped SQL file as written, placeholders and all."""
    return resources.files(__package__).joinpath(relpath).read_text(encoding="utf-8")


def read_sql(relpath: str) -> str:
    """The SQL of a shipped file, e.g. ``read_sql("redshift/merge_users.sql")``, with its
    column-list placeholders rendered from the contracts (:func:`sql.render.render`)."""
    from sql.render import dialect_of, render

    return render(read_template(relpath), dialect=dialect_of(relpath))
