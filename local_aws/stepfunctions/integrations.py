"""Service integrations: a Task ``Resource`` backed by a boto3-shaped twin, and the error
name Step Functions gives what that service answers.

A twin answers as botocore does: a ``ClientError`` whose ``response["Error"]["Code"]`` is
the service's code. Step Functions hands the state machine that error under a name of its
own, built from the resource and the code, and the definition's Retry/Catch match on that
name. The executor asks :func:`error_name` for it, for every service alike:

- an AWS SDK integration, ``arn:aws:states:::aws-sdk:<service>:<action>``: the service
  name and the error name in PascalCase, joined by a period, the error name always ending
  in ``Exception`` (``Glue.CrawlerRunningException``; S3's ``NoSuchKey`` becomes
  ``S3.NoSuchKeyException``; the service name as the AWS SDKs spell it, ``DynamoDb``,
  ``Sns``, ``AcmPca``);
- an optimized integration, ``arn:aws:states:::<service>:<action>[.sync]``: the service's
  own id and the code as the service sends it (``DynamoDB.ConditionalCheckFailedException``,
  ``DynamoDB.RequestLimitExceeded``, ``Glue.ConcurrentRunsExceededException``).

Both names come from botocore's service model (its ``serviceId``), so a twin of any
service is named without a table here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.exceptions import ClientError, UnknownServiceError

from local_aws.stepfunctions.errors import TaskHandler

__all__ = ["error_name", "sdk_task", "service_prefix"]

_ARN = re.compile(r"^arn:aws[a-z-]*:states:::(?:(aws-sdk):)?([a-z0-9-]+):[A-Za-z0-9]+")


@functools.cache
def _service_id(arn_service: str) -> str:
    """botocore's ``serviceId`` of the service a Resource ARN names (``acmpca`` is
    botocore's ``acm-pca``, ``sfn`` its ``stepfunctions``)."""
    session = botocore.session.get_session()
    names = {"sfn": "stepfunctions"}
    candidates = [names.get(arn_service, arn_service)]
    candidates += [n for n in session.get_available_services()
                   if n.replace("-", "") == arn_service]
    for name in candidates:
        try:
            return str(session.get_service_model(name).service_id)
        except UnknownServiceError:
            continue
    raise LookupError(f"no AWS service {arn_service!r} in botocore's models")


def _sdk_pascal(service_id: str) -> str:
    """A ``serviceId`` as the AWS SDKs name the client: each word capitalised, the rest
    lower case (``DynamoDB`` -> ``DynamoDb``, ``SNS`` -> ``Sns``, ``ACM PCA`` -> ``AcmPca``)."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\b|[0-9 -])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+",
                       service_id)
    return "".join(w[:1].upper() + w[1:].lower() for w in words)


def service_prefix(resource: str) -> tuple[str, bool] | None:
    """The error-name prefix of a service-integration ``resource`` and whether it is an
    AWS SDK integration; None for a resource that names no AWS service (an activity)."""
    match = _ARN.match(resource)
    if match is None:
        return None
    service_id = _service_id(match[2])
    if match[1]:
        return _sdk_pascal(service_id), True
    return service_id.replace(" ", ""), False


def error_name(resource: str, exc: ClientError) -> tuple[str, str]:
    """The (Error, Cause) a Task on ``resource`` fails with when the service answers
    ``exc``."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    cause = str(error.get("Message") or exc)
    prefix = service_prefix(resource)
    if prefix is None:
        return "States.TaskFailed", f"{code}: {cause}"
    service, sdk = prefix
    if sdk and not code.endswith("Exception"):
        code += "Exception"
    return f"{service}.{code}", cause


def sdk_task(method: Callable[..., Any]) -> TaskHandler:
    """A Task handler that calls a boto3-shaped twin ``method`` with the state's
    Parameters as keyword arguments, as Step Functions calls the service API."""

    def call(params: dict[str, Any]) -> Any:
        return method(**params)

    return call
