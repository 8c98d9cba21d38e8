"""The DynamoDB twin behind the date lease: the ConditionExpression subset, atomic
conditional puts across processes, a killed writer's item counting as absent, and its
refusals raised as a boto3 DynamoDB client raises them."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_aws.dynamodb.table import LocalDynamoDb, condition_holds

TABLE = "date-leases"
ACQUIRE = "attribute_not_exists(p_date) OR expires_at < :now"


def lease(holder: str, expires_at: int = 2_000) -> dict[str, Any]:
    return {"TableName": TABLE,
            "Item": {"p_date": {"S": "2024-05-01"}, "holder": {"S": holder},
                     "expires_at": {"N": str(expires_at)}},
            "ConditionExpression": ACQUIRE,
            "ExpressionAttributeValues": {":now": {"N": "1000"}}}


def table(folder: Path) -> LocalDynamoDb:
    return LocalDynamoDb(folder, {TABLE: "p_date"})


ITEM = {"p_date": {"S": "2024-05-01"}, "expires_at": {"N": "500"}, "holder": {"S": "a"}}


@pytest.mark.parametrize(("expression", "item", "expected"), [
    ("attribute_not_exists(p_date)", None, True),
    ("attribute_not_exists(p_date)", ITEM, False),
    ("attribute_exists(holder)", ITEM, True),
    ("expires_at < :now", ITEM, True),           # 500 < 1000, compared as numbers
    ("expires_at > :now", ITEM, False),
    ("expires_at < :now", None, False),          # a missing attribute never compares true
    ("holder = :me", ITEM, True),
    ("holder <> :me", ITEM, False),
    ("holder = :now", ITEM, False),              # a string never equals a number
    (ACQUIRE, ITEM, True),
    ("attribute_exists(p_date) AND holder = :me", ITEM, True),
    ("attribute_not_exists(p_date) OR holder = :me AND expires_at > :now", ITEM, False),
])
def test_condition_subset(expression: str, item: dict[str, Any] | None, expected: bool) -> None:
    # GIVEN an item (or none) and the values :now = 1000 and :me = "a"
    values = {":now": {"N": "1000"}, ":me": {"S": "a"}}
    # THEN the expression evaluates as DynamoDB would
    assert condition_holds(expression, item, values) is expected


@pytest.mark.parametrize("expression", [
    "(attribute_not_exists(p_date))", "begins_with(holder, :me)", "holder = :missing",
    "#name = :me", "size(holder) > :now"])
def test_expressions_outside_the_subset_are_refused_not_guessed(expression: str) -> None:
    with pytest.raises(ClientError) as info:
        condition_holds(expression, ITEM, {":me": {"S": "a"}, ":now": {"N": "1"}})
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_a_live_lease_refuses_a_second_put_and_an_expired_one_is_taken(tmp_path: Path) -> None:
    # GIVEN a lease held by run a, expiring at 2000 (now is 1000)
    db = table(tmp_path)
    db.put_item(**lease("a"))
    # WHEN run b asks for the date
    with pytest.raises(ClientError) as info:
        db.put_item(**lease("b"))
    # THEN it is refused and a still holds the date
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    key = {"TableName": TABLE, "Key": {"p_date": {"S": "2024-05-01"}}}
    assert db.get_item(**key)["Item"]["holder"] == {"S": "a"}
    # WHEN a's lease has expired (expires_at 500 < now 1000)
    db.put_item(**{**lease("a", 500), "ConditionExpression": "holder = :me",
                   "ExpressionAttributeValues": {":me": {"S": "a"}}})
    db.put_item(**lease("c"))
    # THEN c holds it, and a's conditional release cannot delete c's lease
    assert db.get_item(**key)["Item"]["holder"] == {"S": "c"}
    release = {**key, "ConditionExpression": "holder = :me",
               "ExpressionAttributeValues": {":me": {"S": "a"}}}
    with pytest.raises(ClientError):
        db.delete_item(**release)
    db.delete_item(**{**release, "ExpressionAttributeValues": {":me": {"S": "c"}}})
    assert db.get_item(**key) == {}


def test_unknown_table_and_bad_values_are_named_errors(tmp_path: Path) -> None:
    db = table(tmp_path)
    with pytest.raises(ClientError) as info:
        db.put_item(**{**lease("a"), "TableName": "other-table"})
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        db.put_item(**{**lease("a"), "Item": {"p_date": {"N": "5"}}})
    assert info.value.response["Error"]["Code"] == "ValidationException"


def _race(folder: str, holder: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        table(Path(folder)).put_item(**lease(holder))
        results.put(holder)
    except ClientError:
        results.put("refused")


def test_two_processes_putting_at_once_get_one_lease(tmp_path: Path) -> None:
    # GIVEN two processes released at the same moment against one state folder
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), h, barrier, results))
             for h in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    # THEN exactly one holds the date and the other was refused
    assert outcomes in (["a", "refused"], ["b", "refused"])


def test_a_killed_holder_frees_the_date(tmp_path: Path) -> None:
    # GIVEN a lease written by a process that has since died (never released it)
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]);"
            "from tests.unit.test_local_dynamodb import lease, table;"
            "table(Path(sys.argv[1])).put_item(**lease('killed'))")
    root = str(Path(__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", code, str(tmp_path), root], check=True)
    db = table(tmp_path)
    # THEN the date reads as free and a new run takes it, though the lease has not expired
    assert db.get_item(TableName=TABLE, Key={"p_date": {"S": "2024-05-01"}}) == {}
    db.put_item(**lease("next"))
    assert [i["holder"]["S"] for i in db.live_items(TABLE)] == ["next"]
