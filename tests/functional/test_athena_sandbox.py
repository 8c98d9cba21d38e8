"""`udp query` is as strict as Athena: it reads the catalog's tables and nothing else, and
changes nothing on disk.

Each hostile query runs against the small lake of ``test_athena_queries``; it must be
refused with a :class:`QueryRefused` of one line, and the state folder must hash the same
before and after (a write into the lake, or anywhere under the state folder, fails it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from local_aws.athena.engine import LocalAthena, QueryError, QueryRefused
from tests.functional.test_athena_queries import DAY1, DAY2, DB, Lake, user


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path)
    lake.add_day(DAY1, [user(0, "Germany", 30, "gmail.com", DAY1)], f"p_date={DAY1}/")
    lake.add_day(DAY2, [user(1, "France", 40, "web.de", DAY2)],
                 f"_versions/{DAY2}/run-7/p_date={DAY2}/")
    return lake


def tree_digest(root: Path) -> str:
    """One hash over every path, mode and content under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(str(path.stat().st_mode).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def published_file(lake: Lake) -> Path:
    return next((lake.store.root / "udp-lake" / "transform" / "users" / "_versions")
                .rglob("*.parquet"))


def hostile_queries(tmp_path: Path, lake: Lake) -> dict[str, str]:
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(published_file(lake).read_bytes())  # a real Parquet, off the lake
    target = published_file(lake)
    return {
        "read_csv_auto of /etc/passwd": "select * from read_csv_auto('/etc/passwd')",
        "read_text of /etc/passwd": "select * from read_text('/etc/passwd')",
        "read_parquet outside the lake": f"select * from read_parquet('{outside}')",
        "blob read of the file system": "select count(*) from read_blob('/etc/*')",
        "read of the catalog folder": f"select * from read_json_auto('{tmp_path}/catalog/**')",
        "COPY TO elsewhere": f"copy (select 1 as a) to '{tmp_path}/leak.csv'",
        "COPY over a published partition": f"copy (select * from users limit 0) to '{target}'",
        "COPY over it without a temp file":
            f"copy (select * from users limit 0) to '{target}' (format parquet, "
            "use_tmp_file false)",
        "ATTACH": f"attach '{tmp_path}/other.db' as other",
        "INSTALL": "install httpfs",
        "LOAD": "load httpfs",
        "SET external access": "set enable_external_access = true",
        "RESET the lock": "reset lock_configuration",
        "CREATE TABLE": "create table udp_transform.copy_of_users as select * from users",
        "INSERT into a lake table": "insert into udp_transform.users select * from users",
        "DELETE from a lake table": "delete from udp_transform.users",
        "UPDATE a lake table": "update udp_transform.users set age = 1",
        "DROP a lake table": "drop view udp_transform.users",
        "EXPORT DATABASE": f"export database '{tmp_path}/export'",
        "two statements": "select 1; copy (select 1) to '/tmp/x.csv'",
    }


def test_each_escape_is_refused_with_one_line_and_nothing_changes(tmp_path: Path,
                                                                   lake: Lake) -> None:
    # GIVEN a lake with two published days and a set of queries Athena would refuse
    queries = hostile_queries(tmp_path, lake)
    before = tree_digest(tmp_path)
    athena = LocalAthena(lake.catalog, lake.store, (DB,), scratch_dir=tmp_path / "scratch")
    for label, sql in queries.items():
        # WHEN each runs
        with pytest.raises(QueryError) as caught:
            athena.query(sql)
        # THEN it is refused with a single readable line
        message = str(caught.value)
        assert "\n" not in message, label
        assert message, label
        if label != "two statements":
            assert isinstance(caught.value, QueryRefused), (label, message)
            assert message.startswith("refused: "), (label, message)
    # AND nothing on disk changed: no file read out, written, attached or overwritten
    (tmp_path / "scratch").rmdir()  # the (empty) spill folder is the only new thing
    assert tree_digest(tmp_path) == before
    # AND the published data still answers
    assert athena.query("select count(*) from users").rows == [(2,)]


def test_refusal_names_what_was_refused(lake: Lake) -> None:
    athena = LocalAthena(lake.catalog, lake.store, (DB,))
    with pytest.raises(QueryRefused, match=r"refused: .*/etc/passwd"):
        athena.query("select * from read_csv_auto('/etc/passwd')")
    with pytest.raises(QueryRefused, match="refused: COPY statements are not allowed"):
        athena.query("copy (select 1) to '/tmp/x.csv'")


def test_catalog_tables_and_their_files_stay_readable(lake: Lake) -> None:
    # GIVEN the sandbox; WHEN a query joins both days and reads a lake file directly
    athena = LocalAthena(lake.catalog, lake.store, (DB,))
    rows = athena.query("select p_date, country from users order by p_date").rows
    direct = athena.query(f"select count(*) from read_parquet('{published_file(lake)}')")
    # THEN the catalog's tables answer, and files inside the lake stay readable (read only)
    assert rows == [(DAY1, "Germany"), (DAY2, "France")]
    assert direct.rows == [(1,)]

