"""Twin of the Redshift Data API (``redshift-data``) over the local PostgreSQL warehouse.

The statements the deploy's warehouse bootstrap sends through the Data API with the admin
secret run here on the admin connection: ``execute_statement`` (``:name`` parameters, as
the Data API binds them), ``batch_execute_statement`` (one transaction, as on AWS),
``describe_statement`` and ``get_statement_result``. Statements run when submitted; a
failed one is ``FAILED`` with the engine's message in ``Error``, as the Data API reports
it. The secret must be the one the twin was given (the admin's); any other is refused.
Requests and answers are held to botocore's model (``aws_shaped``).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from botocore.exceptions import ClientError

from local_aws.aws_model import aws_shaped

__all__ = ["LocalRedshiftData"]

_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def _validation(message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}},
                       operation)


def _field(value: Any) -> dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


@aws_shaped("redshift-data")
class LocalRedshiftData:
    """``redshift-data`` on the admin connection ``admin_uri`` (a libpq URI)."""

    def __init__(self, admin_uri: str, *, workgroup: str, admin_secret_arn: str) -> None:
        self._uri = admin_uri
        self._workgroup = workgroup
        self._secret = admin_secret_arn
        self._statements: dict[str, dict[str, Any]] = {}

    def _check(self, operation: str, kwargs: dict[str, Any]) -> str:
        if kwargs.get("WorkgroupName") != self._workgroup:
            raise _validation(f"workgroup {kwargs.get('WorkgroupName')!r} not found",
                              operation)
        if kwargs.get("SecretArn") != self._secret:
            raise _validation("the secret is not this workgroup's admin secret", operation)
        database = kwargs.get("Database")
        if not database:
            raise _validation("Database is required with a secret", operation)
        return str(database)

    def _uri_for(self, database: str) -> str:
        parts = urlsplit(self._uri)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def _run(self, database: str, sqls: list[str], params: dict[str, Any]) -> str:
        statement_id = str(uuid.uuid4())
        record: dict[str, Any] = {"Id": statement_id, "Status": "FINISHED",
                                  "CreatedAt": dt.datetime.now(dt.UTC), "rows": None,
                                  "QueryString": ";\n".join(sqls)}
        try:
            with psycopg.connect(self._uri_for(database)) as conn, conn.cursor() as cur:
                for text in sqls:
                    if params:  # the Data API's :name placeholders as psycopg's
                        cur.execute(_PARAM.sub(r"%(\1)s", text.replace("%", "%%")), params)
                    else:
                        cur.execute(text)
                    if cur.description is not None:
                        record["rows"] = cur.fetchall()
                        record["columns"] = [c.name for c in cur.description]
        except psycopg.Error as exc:  # the transaction rolled back, as the Data API's does
            record.update(Status="FAILED", Error=str(exc).strip().splitlines()[0])
        self._statements[statement_id] = record
        return statement_id

    def execute_statement(self, **kwargs: Any) -> dict[str, Any]:
        database = self._check("ExecuteStatement", kwargs)
        params = {p["name"]: p["value"] for p in kwargs.get("Parameters", [])}
        statement_id = self._run(database, [kwargs["Sql"]], params)
        return {"Id": statement_id, "Database": database, "WorkgroupName": self._workgroup,
                "SecretArn": self._secret,
                "CreatedAt": self._statements[statement_id]["CreatedAt"]}

    def batch_execute_statement(self, **kwargs: Any) -> dict[str, Any]:
        database = self._check("BatchExecuteStatement", kwargs)
        params = {p["name"]: p["value"] for p in kwargs.get("Parameters", [])}
        statement_id = self._run(database, list(kwargs["Sqls"]), params)
        return {"Id": statement_id, "Database": database, "WorkgroupName": self._workgroup,
                "SecretArn": self._secret,
                "CreatedAt": self._statements[statement_id]["CreatedAt"]}

    def _get(self, statement_id: str, operation: str) -> dict[str, Any]:
        if statement_id not in self._statements:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException",
                                         "Message": f"Query {statement_id} not found"}},
                              operation)
        return self._statements[statement_id]

    def describe_statement(self, *, Id: str, **_: Any) -> dict[str, Any]:
        record = self._get(Id, "DescribeStatement")
        out = {"Id": Id, "Status": record["Status"], "CreatedAt": record["CreatedAt"],
               "QueryString": record["QueryString"],
               "HasResultSet": record["rows"] is not None}
        if "Error" in record:
            out["Error"] = record["Error"]
        return out

    def get_statement_result(self, *, Id: str, **_: Any) -> dict[str, Any]:
        record = self._get(Id, "GetStatementResult")
        if record["Status"] != "FINISHED" or record["rows"] is None:
            raise _validation("Query does not have result", "GetStatementResult")
        return {"Records": [[_field(v) for v in row] for row in record["rows"]],
                "TotalNumRows": len(record["rows"]),
                "ColumnMetadata": [{"name": c} for c in record["columns"]]}
