"""Shared pieces of the Step Functions conformance suite (test_stepfunctions_conformance_*).

Each test encodes one documented behaviour of Step Functions and cites where it is written:
the Amazon States Language specification or an AWS Step Functions Developer Guide page.
"""

from __future__ import annotations

from typing import Any

import pytest

from local_aws.stepfunctions import AslDefinitionError, AslExecutor, RunResult, TaskRegistry

SPEC = "https://states-language.net/spec.html"
DG = "https://docs.aws.amazon.com/step-functions/latest/dg/"
CONTEXT = DG + "input-output-contextobject.html"
INTRINSICS = DG + "intrinsic-functions.html"
ERRORS = DG + "concepts-error-handling.html"
QUOTAS = DG + "service-quotas.html"
FAIL = DG + "state-fail.html"
WAIT = DG + "state-wait.html"
PASS = DG + "state-pass.html"
MAP = DG + "state-map-inline.html"
RESULTPATH = DG + "input-output-resultpath.html"
INPUTPATH = DG + "input-output-inputpath-params.html"
OUTPUTPATH = DG + "input-output-example.html"
JSONATA = DG + "transforming-data.html"

ECHO = "arn:aws:states:::lambda:invoke"
RUN_ID = "run-1"
ARN_PREFIX = "arn:aws:states:us-east-1:000000000000"


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def pass_params(params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A one-state machine whose Pass state builds ``params``."""
    return machine({"P": {"Type": "Pass", "Parameters": params, "End": True, **extra}})


def run(definition: dict[str, Any], data: Any = None, handlers: dict[str, Any] | None = None,
        **kwargs: Any) -> RunResult:
    registry = TaskRegistry(handlers or {ECHO: lambda p: p})
    executor = AslExecutor(definition, registry, name=kwargs.pop("name", "sm"), **kwargs)
    return executor.run({} if data is None else data, run_id=RUN_ID)


def value_of(expr: str, data: Any = None) -> Any:
    """The value a ``"v.$": expr`` Parameters entry produces (asserting success)."""
    result = run(pass_params({"v.$": expr}), data)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output["v"]


def failure_of(expr: str, data: Any = None) -> tuple[str | None, str]:
    """(error, cause) of a run whose only Parameters entry is ``"v.$": expr``."""
    result = run(pass_params({"v.$": expr}), data)
    assert result.status == "FAILED", result.output
    return result.error, result.cause or ""


def refused(definition: dict[str, Any], *needles: str,
            handlers: dict[str, Any] | None = None) -> str:
    """Assert the executor refuses ``definition`` at load; the message names every needle."""
    with pytest.raises(AslDefinitionError) as info:
        AslExecutor(definition, TaskRegistry(handlers or {ECHO: lambda p: p}))
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    return message
