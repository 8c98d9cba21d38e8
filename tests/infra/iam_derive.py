"""Derive the IAM actions a piece of AWS-side code or definition needs (no AWS account).

Three sources, each turned into ``service:Action`` names:

* **Code**: the boto3 clients an entrypoint creates (``boto3.client("glue")``) and every
  method called anywhere in the modules it imports (its import closure inside this
  repository). A method name that is an operation of one of those clients' services
  (botocore's own service model, ``xform_name`` of the operation) becomes that
  operation's IAM action. Over-approximates (a same-named method of another object
  counts) but never misses a call the code makes through a client it created.
* **State machines**: each ASL ``Task`` ``Resource``: ``aws-sdk:<service>:<api>``
  needs ``<service>:<Api>``; the optimized integrations need what AWS documents for
  them (``.sync`` polls, so it needs more than the start call).
* **Documented service needs** are declared in the tests that use this module.

Action names are checked against policy_sentry's bundled IAM database
(:func:`known_action`).
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "ASL_OPTIMIZED",
    "PROJECT_ROOT",
    "asl_task_resources",
    "boto3_clients",
    "called_methods",
    "code_actions",
    "iam_action",
    "import_closure",
    "known_action",
    "operation_names",
    "reachable_bodies",
    "task_actions",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The packages that run on AWS (ARCHITECTURE: they import only contracts and themselves).
AWS_SIDE = ("contracts", "ingest_lambda", "glue_jobs", "crawlers", "sql")

# Where an operation's IAM action is not named like the operation (AWS's "Actions,
# resources and condition keys" pages). Only entries the scanned code can reach matter.
_RENAMED: dict[tuple[str, str], str] = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
}

# Optimized Step Functions integrations: the actions each Resource needs, as AWS's
# "IAM policies for integrated services" pages list them:
#   glue:startJobRun.sync -> https://docs.aws.amazon.com/step-functions/latest/dg/connect-glue.html
#   states:startExecution.sync:2 -> https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html
#   sns:publish -> https://docs.aws.amazon.com/step-functions/latest/dg/connect-sns.html
# Each entry: action -> the kind of resource it is granted on ("target": the resource the
# Task names; "executions": the target state machine's executions; "events-rule": the
# managed rule Step Functions uses to learn that a child execution finished).
ASL_OPTIMIZED: dict[str, dict[str, str]] = {
    "arn:aws:states:::glue:startJobRun.sync": {
        "glue:StartJobRun": "target", "glue:GetJobRun": "target", "glue:GetJobRuns": "target",
        "glue:BatchStopJobRun": "target"},
    "arn:aws:states:::glue:startJobRun": {"glue:StartJobRun": "target"},
    "arn:aws:states:::states:startExecution.sync:2": {
        "states:StartExecution": "target", "states:DescribeExecution": "executions",
        "states:StopExecution": "executions", "events:PutTargets": "events-rule",
        "events:PutRule": "events-rule", "events:DescribeRule": "events-rule"},
    "arn:aws:states:::states:startExecution": {"states:StartExecution": "target"},
    "arn:aws:states:::sns:publish": {"sns:Publish": "target"},
    # DynamoDB optimized integrations: one API action each, on the table
    "arn:aws:states:::dynamodb:putItem": {"dynamodb:PutItem": "target"},
    "arn:aws:states:::dynamodb:getItem": {"dynamodb:GetItem": "target"},
    "arn:aws:states:::dynamodb:deleteItem": {"dynamodb:DeleteItem": "target"},
}
_SDK = re.compile(r"^arn:aws:states:::aws-sdk:(?P<service>[a-z0-9]+):(?P<api>[A-Za-z0-9]+)$")


# ------------------------------------------------------------------ botocore


@cache
def _service_model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


@cache
def operation_names(service: str) -> dict[str, str]:
    """boto3 method name → API operation name, from botocore's service model."""
    from botocore import xform_name

    model = _service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def iam_action(service: str, operation: str) -> str:
    """The IAM action of one API operation (``glue``, ``GetTable`` → ``glue:GetTable``)."""
    if (service, operation) in _RENAMED:
        return _RENAMED[(service, operation)]
    meta = _service_model(service).metadata
    prefix = meta.get("signingName") or meta["endpointPrefix"]
    return f"{prefix}:{operation}"


# ------------------------------------------------------------------ code scan


def _module_path(module: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_closure(entry: str, roots: Iterable[str] = AWS_SIDE) -> set[Path]:
    """Source files of ``entry`` and every module under ``roots`` (the AWS-side packages
    unless told) it imports, transitively (imports inside functions included: they run on
    AWS too)."""
    seen: set[Path] = set()
    todo = [entry]
    roots = tuple(roots)
    while todo:
        module = todo.pop()
        if module.split(".")[0] not in roots:
            continue
        path = _module_path(module)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(_imports(path))
        # a package's modules are imported through it: its __init__ is on the path too
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return seen


def boto3_clients(paths: Iterable[Path]) -> set[str]:
    """Service names of every ``boto3.client("<service>")`` call in ``paths``, and of
    ``<session>.client("<service>")`` (a boto3 Session held in a variable)."""
    out: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "client"
                    and isinstance(node.func.value, ast.Name)
                    and node.args and isinstance(node.args[0], ast.Constant)):
                out.add(str(node.args[0].value))
    return out


def _called_in(bodies: Iterable[ast.AST]) -> set[str]:
    out: set[str] = set()
    for body in bodies:
        for node in ast.walk(body):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                out.add(node.func.attr)
                if (node.func.attr == "get_paginator" and node.args
                        and isinstance(node.args[0], ast.Constant)):
                    out.add(str(node.args[0].value))
    return out


def called_methods(paths: Iterable[Path]) -> set[str]:
    """Every ``x.method(...)`` name in ``paths``, plus the operation of each
    ``get_paginator("op")`` (a paginator calls that operation)."""
    return _called_in(ast.parse(p.read_text(encoding="utf-8")) for p in paths)


def _class_shell(node: ast.ClassDef) -> ast.AST:
    """What reaching a class runs without naming a method: its bases, decorators,
    class-level statements and special methods (``__init__``, ``__call__``, ...); its
    other methods are reached by name like functions."""
    kept = [stmt for stmt in node.body
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
            or (stmt.name.startswith("__") and stmt.name.endswith("__"))]
    return ast.Module(body=[*kept, *(ast.Expr(b) for b in (*node.bases,
                                                         *node.decorator_list))],
                      type_ignores=[])


def _definitions(paths: Iterable[Path]) -> dict[str, list[ast.AST]]:
    """Name → bodies of every function and class defined in ``paths`` (any depth; a
    class by its :func:`_class_shell`, its methods under their own names)."""
    out: dict[str, list[ast.AST]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                out.setdefault(node.name, []).append(_class_shell(node))
    return out


def _names_used(node: ast.AST) -> set[str]:
    """Names a body calls or refers to (``f``, ``x.f``) – what it can reach."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
    return out


def reachable_bodies(entry: str, roots: Iterable[str] = AWS_SIDE) -> list[ast.AST]:
    """The code an entrypoint can run: its module's top level, then (to a fixed point)
    every function or class of its import closure whose name that code uses (a method by
    its name too, so a store reached for ``get`` does not bring in its ``put_latest``).
    Names are matched without scopes, so this over-approximates, but far less than whole
    modules (a module imported for one helper does not bring in its other functions'
    calls). ``roots``: the packages scanned (:func:`import_closure`)."""
    entry_path = _module_path(entry)
    assert entry_path is not None, entry
    defs = _definitions(import_closure(entry, roots))
    top = ast.parse(entry_path.read_text(encoding="utf-8"))
    bodies: list[ast.AST] = [top]
    seen: set[str] = set()
    todo = _names_used(top)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        for node in defs[name]:
            bodies.append(node)
            todo |= _names_used(node) - seen
    return bodies


def code_actions(paths: Iterable[Path], services: Iterable[str],
                 bodies: Iterable[ast.AST] | None = None) -> set[str]:
    """IAM actions of the calls in ``paths`` (or only in ``bodies``, when given) that are
    operations of ``services``."""
    paths = list(paths)
    methods = called_methods(paths) if bodies is None else _called_in(bodies)
    out = set()
    for service in services:
        ops = operation_names(service)
        out |= {iam_action(service, ops[m]) for m in methods if m in ops}
    return out


# ------------------------------------------------------------------ state machines


def asl_task_resources(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(Resource, Arguments/Parameters) of every Task, nested Parallel/Map states included."""
    for state in definition.get("States", {}).values():
        if state.get("Type") == "Task":
            yield state["Resource"], state.get("Arguments", state.get("Parameters", {}))
        for branch in state.get("Branches", []):
            yield from asl_task_resources(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from asl_task_resources(state[key])


def task_actions(resource: str) -> dict[str, str]:
    """Action → resource kind (see :data:`ASL_OPTIMIZED`) one Task ``Resource`` needs."""
    if resource in ASL_OPTIMIZED:
        return dict(ASL_OPTIMIZED[resource])
    sdk = _SDK.match(resource)
    if sdk is None:
        raise ValueError(f"no IAM derivation for Task Resource {resource!r}")
    api = sdk["api"]
    return {iam_action(sdk["service"], api[0].upper() + api[1:]): "target"}


def load_asl(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


# ------------------------------------------------------------------ action catalogue


@cache
def _catalogue(prefix: str) -> frozenset[str]:
    from policy_sentry.querying.actions import get_actions_for_service

    return frozenset(a.lower() for a in get_actions_for_service(prefix))


def known_action(action: str) -> bool:
    """``service:Action`` (``*`` and ``?`` wildcards allowed) names at least one action in
    policy_sentry's bundled IAM database (AWS's Service Authorization Reference)."""
    if action == "*":
        return True
    prefix, _, name = action.partition(":")
    actions = _catalogue(prefix.lower())
    pattern = f"{prefix}:{name}".lower()
    return any(fnmatch.fnmatchcase(a, pattern) for a in actions)
