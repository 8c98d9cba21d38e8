"""The local Step Functions: an Amazon States Language (ASL) executor and its run history.

It runs the very ``.asl.json`` file that Step Functions runs in production, with every
Task ``Resource`` mapped to a Python callable through a :class:`TaskRegistry`. It
implements the subset of ASL this project uses and **refuses anything else up front**
(an unknown state type, field, Choice operator, intrinsic or JSONata function), so a
definition is never half-understood.

Supported: Task, Pass, Choice, Wait (Seconds / SecondsPath, scaled by ``wait_scale``),
Map (inline; ItemsPath, ItemSelector / Parameters, ItemProcessor / Iterator,
MaxConcurrency with real threads), Succeed, Fail (Error / Cause / ErrorPath / CausePath);
InputPath, Parameters with ``.$`` keys, ResultSelector, ResultPath (incl. ``null``),
OutputPath; the JSONPath subset ``$``, ``$.a.b``, ``$.a[0]``, ``$['a b']`` and the
``$$`` context object; the intrinsics in :data:`INTRINSICS`; Retry (ErrorEquals,
IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds, JitterStrategy) and Catch
(ErrorEquals, Next, ResultPath); a Pass state in ``QueryLanguage: JSONata`` whose
``Output`` uses the small JSONata subset in :data:`JSONATA_FUNCTIONS`.

Error semantics follow the Step Functions documentation: ``States.ALL`` matches every
error except ``States.Runtime`` / ``States.DataLimitExceeded``; in a Task state
``States.TaskFailed`` matches every error except ``States.Timeout``; a matching retrier
whose attempts are used up does not fall through to a later retrier.

Modules (imports go one way, top to bottom): ``errors``; ``integrations`` (a boto3-shaped
twin as a Task, and the error name Step Functions gives a service's ``ClientError``);
``jsonpath`` (JSONPath, reference paths, InputPath/OutputPath/ResultPath); ``intrinsics``
(``States.*``); ``payload`` (Parameters / ResultSelector / ItemSelector); ``jsonata``;
``choice``; ``validation`` (what a definition must satisfy at load); ``results``
(``RunResult``); ``history`` (the run store); ``executor`` (the interpreter). Reading the
file and its placeholders is
``orchestration.definition``. What is supported and refused: docs/develop/stepfunctions-twin.md.
"""

from local_aws.stepfunctions.errors import TaskError, TaskHandler
from local_aws.stepfunctions.executor import AslExecutor, TaskRegistry
from local_aws.stepfunctions.history import HistoryStore, RunNotFoundError, RunRecord
from local_aws.stepfunctions.integrations import error_name, sdk_task
from local_aws.stepfunctions.intrinsics import INTRINSICS
from local_aws.stepfunctions.jsonata import JSONATA_FUNCTIONS
from local_aws.stepfunctions.results import RunResult
from local_aws.stepfunctions.validation import validate_definition
from orchestration.definition import (
    AslDefinitionError,
    DefinitionSource,
    LoadedDefinition,
    PlaceholderError,
    definition_digest,
    load_definition,
    load_definition_file,
    placeholders,
    render_definition,
    substitute_placeholders,
)

__all__ = [
    "INTRINSICS",
    "JSONATA_FUNCTIONS",
    "AslDefinitionError",
    "AslExecutor",
    "DefinitionSource",
    "HistoryStore",
    "LoadedDefinition",
    "PlaceholderError",
    "RunNotFoundError",
    "RunRecord",
    "RunResult",
    "TaskError",
    "TaskHandler",
    "TaskRegistry",
    "definition_digest",
    "error_name",
    "load_definition",
    "load_definition_file",
    "placeholders",
    "render_definition",
    "sdk_task",
    "substitute_placeholders",
    "validate_definition",
]
