"""The shipped Athena DDL (sql/athena/tables/*.sql) against the table contracts."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from contracts.tables import MODEL_TABLES, PARTITION_KEY, RAW, TableContract
from sql import read_sql
from sql.athena_ddl import SHIPPED, render_create_external_table

ALL = [t for t, _ in SHIPPED]
PROJECTED = {t.name: p for t, p in SHIPPED}


def _parsed(contract: TableContract) -> exp.Create:
    statement = sqlglot.parse_one(read_sql(f"athena/tables/{contract.name}.sql"), read="athena")
    assert isinstance(statement, exp.Create)
    return statement


@pytest.mark.parametrize("contract", ALL, ids=lambda c: c.name)
def test_shipped_ddl_is_the_rendering_of_the_contract(contract: TableContract) -> None:
    # GIVEN the checked-in file; THEN it is exactly what `python -m sql.athena_ddl` writes
    assert read_sql(f"athena/tables/{contract.name}.sql") == render_create_external_table(
        contract, projection=PROJECTED[contract.name])


def test_only_the_raw_table_is_projected() -> None:
    # raw days appear all day long in fixed folders; transform days are published by
    # moving the catalog partition to a versioned folder, which projection would ignore
    assert {RAW.name: True, **{t.name: False for t in MODEL_TABLES}} == PROJECTED


@pytest.mark.parametrize("contract", ALL, ids=lambda c: c.name)
def test_columns_types_and_order_match_the_contract(contract: TableContract) -> None:
    # GIVEN the DDL parsed as Athena SQL; WHEN its column definitions are read
    create = _parsed(contract)
    columns = [(c.name, c.args["kind"].sql("hive").lower().replace(" ", ""))
               for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    # THEN they are the contract's Glue columns, in order, and p_date is the partition
    assert columns == [(c["Name"], c["Type"]) for c in contract.glue_columns()]
    partitioned = create.find(exp.PartitionedByProperty)
    assert partitioned is not None
    assert [c.name for c in partitioned.find_all(exp.ColumnDef)] == [PARTITION_KEY]


@pytest.mark.parametrize("contract", [RAW], ids=lambda c: c.name)
def test_partition_projection_on_p_date_points_at_the_table_prefix(
        contract: TableContract) -> None:
    text = read_sql(f"athena/tables/{contract.name}.sql")
    for prop in ("'projection.enabled' = 'true'", "'projection.p_date.type' = 'date'",
                 "'projection.p_date.format' = 'yyyy-MM-dd'",
                 "'projection.p_date.interval.unit' = 'DAYS'"):
        assert prop in text
    assert (f"'storage.location.template' = 's3://${{lake_bucket}}/{contract.prefix}/"
            "p_date=${p_date}/'") in text
    assert "projection" not in render_create_external_table(contract, projection=False)
