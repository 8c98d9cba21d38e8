"""Column lists of the warehouse SQL, rendered from the table contracts.

The files under ``sql/redshift/`` are templates: where a statement lists the columns of
``users`` it says ``{{ name }}`` on a line of its own, and :func:`render` puts one
column (or one ``col = latest.col`` pair, or one DDL line) per line there, at the
placeholder's indent, comma-separated. ``contracts.tables.USERS`` is the one list; the
two load columns the warehouse adds after it (``p_date``, ``loaded_at``) come from
:data:`sql.ddl.LOAD_COLUMNS`. Table DDL fragments take the dialect from the file name
(``*.postgres.sql`` / ``*.redshift.sql``).

=========================  ========================================================
placeholder                renders, one per line
=========================  ========================================================
``staged_columns``         the contract's columns (Parquet order, the staging table)
``target_columns``         staged columns, then ``p_date``, ``loaded_at``
``latest_target_columns``  ``latest.<col>`` for every target column
``merge_update_set``       ``<col> = latest.<col>`` for every target column but the key
``staging_table``          ``<col> <type> [not null]`` of ``staging.users``
``target_table``           ``<col> <type> [not null]`` of ``analytics.users``
=========================  ========================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable

from contracts.tables import USERS, TableContract
from sql.ddl import LOAD_COLUMNS, staging_columns, target_columns

__all__ = ["PLACEHOLDER", "PLACEHOLDERS", "UnknownPlaceholder", "dialect_of", "placeholders",
           "render"]

PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{\{\s*(?P<name>\w+)\s*\}\}(?P<tail>.*)$",
                         re.M)
"""A placeholder: alone on its line (an optional trailing ``,`` or ``)`` may follow)."""


class UnknownPlaceholder(KeyError):
    """A template names a placeholder this module does not render (or needs a dialect
    its file name does not give)."""


def _target_names(contract: TableContract) -> list[str]:
    return [*contract.column_names, *(name for name, _ in LOAD_COLUMNS)]


def _needs_dialect(dialect: str | None, name: str) -> str:
    if dialect is None:
        raise UnknownPlaceholder(f"{{{{ {name} }}}} needs a dialect: name the file "
                                 "*.postgres.sql or *.redshift.sql")
    return dialect


Fragment = Callable[[TableContract, str | None], list[str]]

PLACEHOLDERS: dict[str, Fragment] = {
    "staged_columns": lambda c, _: list(c.column_names),
    "target_columns": lambda c, _: _target_names(c),
    "latest_target_columns": lambda c, _: [f"latest.{n}" for n in _target_names(c)],
    "merge_update_set": lambda c, _: [f"{n} = latest.{n}" for n in _target_names(c)
                                      if n not in c.key],
    "staging_table": lambda c, d: [col.render() for col in staging_columns(
        c, _needs_dialect(d, "staging_table"))],
    "target_table": lambda c, d: [col.render() for col in target_columns(
        c, _needs_dialect(d, "target_table"))],
}
"""Every placeholder a template may use, and what it renders (see the module's table)."""


def dialect_of(relpath: str) -> str | None:
    """``postgres`` or ``redshift`` for a ``*.postgres.sql`` / ``*.redshift.sql`` file."""
    for dialect in ("postgres", "redshift"):
        if relpath.endswith(f".{dialect}.sql"):
            return dialect
    return None


def placeholders(text: str) -> list[str]:
    """Names of the placeholders in a template, in order."""
    return [m["name"] for m in PLACEHOLDER.finditer(text)]


def render(text: str, *, dialect: str | None = None,
           contract: TableContract = USERS) -> str:
    """``text`` with every placeholder replaced by its lines for ``contract``.

    Raises :class:`UnknownPlaceholder` for a name not in :data:`PLACEHOLDERS`.
    """
    def one(match: re.Match[str]) -> str:
        name, indent = match["name"], match["indent"]
        if name not in PLACEHOLDERS:
            raise UnknownPlaceholder(f"unknown SQL placeholder {{{{ {name} }}}}; known: "
                                     f"{', '.join(sorted(PLACEHOLDERS))}")
        items = PLACEHOLDERS[name](contract, dialect)
        return ",\n".join(indent + item for item in items) + match["tail"]

    return PLACEHOLDER.sub(one, text)
