"""Hold each twin to AWS's own API model: botocore's service definitions.

``@aws_shaped("glue")`` on a twin class wraps every method whose name is a boto3
operation of that service (``get_partitions`` -> ``GetPartitions``). Each call is then
checked the way a real boto3 client checks it before sending (botocore's
``ParamValidator`` on the operation's input shape: unknown or missing parameter names,
wrong types, lengths and ranges raise ``ParamValidationError``), and each answer is
checked against the operation's output shape the way botocore's ``Stubber`` checks a
canned response. So every call the AWS-side code makes to a twin in any test also proves
the call would be well-formed against the real API, and every answer it gets is one the
real API could give. Methods that are not operations (``flush``, fault injection) pass
through untouched.

What this cannot prove: the service's own server-side checks (existence, permissions,
cross-field rules), which only a real account exercises.
"""

from __future__ import annotations

import copy
import functools
import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import botocore.session
from botocore.errorfactory import BaseClientExceptions, ClientExceptionsFactory
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ListShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.parsers import create_parser
from botocore.utils import is_json_value_header
from botocore.validate import ParamValidator

__all__ = ["aws_shaped", "operation_model", "require_operation", "service_error",
           "validate_request", "validate_response"]

T = TypeVar("T")

_session = botocore.session.get_session()
_models: dict[str, ServiceModel] = {}
_validator = ParamValidator()
_exceptions: dict[str, BaseClientExceptions] = {}


def _service(name: str) -> ServiceModel:
    if name not in _models:
        _models[name] = _session.get_service_model(name)
    return _models[name]


def _python_names(service: ServiceModel) -> dict[str, str]:
    """boto3 method name -> API operation name, as boto3 derives it."""
    from botocore import xform_name

    return {xform_name(op): op for op in service.operation_names}


def operation_model(service: str, method: str) -> OperationModel | None:
    """The model of ``service``'s operation behind boto3 method ``method`` (or ``None``)."""
    model = _service(service)
    op = _python_names(model).get(method)
    return model.operation_model(op) if op else None


def require_operation(service: str, method: str) -> OperationModel:
    """Like :func:`operation_model`, but a name that is no operation is a bug here."""
    op = operation_model(service, method)
    if op is None:
        raise LookupError(f"{service} has no boto3 operation {method!r}")
    return op


# ------------------------------------------------------------------ validation

_FLAT = frozenset({"string", "blob", "integer", "long", "boolean", "float", "double"})
"""Member types whose botocore check looks only at the value's type and, through the
shape's ``min`` (or a host label's implicit 1), at its length or size."""


def _is_flat(shape: Shape) -> bool:
    """A structure of scalar members only: botocore's verdict on one is a function of
    its keys, each value's type and whether each value meets its member's minimum."""
    return (shape.type_name == "structure" and not shape.is_tagged_union
            and not shape.is_document_type
            and all(m.type_name in _FLAT and not is_json_value_header(m)
                    for m in shape.members.values()))


def _meets_min(shape: Shape | None, value: Any) -> bool | None:
    """What ``range_check`` compares for this member, as it compares it: ``not value <
    min`` (a NaN is not below the minimum, though not at or above it either). None: not
    comparable here, so the value's type decides, which the signature holds too."""
    if shape is None or shape.type_name in ("blob", "boolean"):
        return None
    minimum = shape.metadata.get("min")
    if minimum is None and getattr(shape, "serialization", {}).get("hostLabel"):
        minimum = 1
    if minimum is None:
        return None
    try:
        return not (len(value) if shape.type_name == "string" else value) < minimum
    except TypeError:
        return None


def _signature(item: Any, shape: StructureShape) -> tuple[Any, ...]:
    if not isinstance(item, dict):
        return (type(item),)
    members = shape.members
    return tuple((k, type(v), _meets_min(members.get(k), v)) for k, v in item.items())


def _compact(value: Any, shape: Shape) -> Any:
    """``value`` with every list of flat structures cut to its first item of each
    distinct :func:`_signature`, in order: botocore gives the cut value the same verdict,
    valid or not, since each item's check depends on nothing else. A Firehose batch of
    500 records becomes one record to check instead of 500 (the ingest's hot path)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        members = shape.members
        return {k: _compact(v, members[k]) if k in members else v for k, v in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        member = shape.member
        if isinstance(member, StructureShape) and _is_flat(member):
            seen: dict[tuple[Any, ...], Any] = {}
            for item in value:
                seen.setdefault(_signature(item, member), item)
            return list(seen.values())
        return [_compact(item, member) for item in value]
    return value


def _errors(params: Any, shape: Shape) -> str | None:
    """botocore's report on ``params`` (None when valid). The compact value is checked
    first; only an invalid one is checked again whole, so the report names the same
    items, indexes and all, as a boto3 client's would."""
    if not _validator.validate(_compact(params, shape), shape).has_errors():
        return None
    report = _validator.validate(params, shape)
    return report.generate_report() if report.has_errors() else None


def validate_request(op: OperationModel, params: dict[str, Any]) -> None:
    errors = _errors(params, op.input_shape) if op.input_shape else None
    if errors is not None:
        raise ParamValidationError(report=errors)
    if op.input_shape is None and params:
        raise ParamValidationError(report=f"{op.name} takes no parameters, got {sorted(params)}")


def validate_response(op: OperationModel, response: Any) -> None:
    body = response
    if isinstance(response, dict) and "ResponseMetadata" in response:
        body = copy.copy(response)
        del body["ResponseMetadata"]
    if op.output_shape is None:
        if body:
            raise ParamValidationError(report=f"{op.name} answers nothing, twin gave {body!r}")
        return
    errors = _errors(body, op.output_shape)
    if errors is not None:
        raise ParamValidationError(
            report=f"twin answer to {op.name} is not AWS-shaped: {errors}")


def _checked(op: OperationModel, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args:  # boto3 clients take keyword arguments only
            raise TypeError(f"{op.name}: boto3 operations take keyword arguments only")
        validate_request(op, kwargs)
        response = method(self, **kwargs)
        validate_response(op, response)
        return response

    call.__aws_operation__ = op.name  # type: ignore[attr-defined]
    return call


def aws_shaped(service: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: every boto3-named method of ``service`` validated both ways."""

    def decorate(cls: type[T]) -> type[T]:
        names = _python_names(_service(service))
        for attr, value in list(vars(cls).items()):
            if attr in names and callable(value):
                setattr(cls, attr, _checked(_service(service).operation_model(names[attr]),
                                            value))
        return cls

    return decorate


# ------------------------------------------------------------------ errors


def service_error(service: str, method: str, code: str, message: str, *,
                  status: int = 400) -> ClientError:
    """The exception a boto3 client of ``service`` raises when ``method`` gets the error
    reply ``code`` / ``message``: the reply is written as the service sends it on the wire
    and parsed by botocore's own parser, modeled error fields and all, into the client's
    modeled exception class (``client.exceptions.ConditionalCheckFailedException`` for
    DynamoDB), a :class:`ClientError` subclass, or a plain ``ClientError`` for a code the
    model does not list (``ValidationException``). Services on the JSON protocols only
    (DynamoDB, Glue, Firehose, Athena, Secrets Manager, Redshift Data)."""
    model = _service(service)
    if model.protocol != "json":
        raise NotImplementedError(f"{service}: error replies of the {model.protocol} "
                                  "protocol are not written here")
    op = require_operation(service, method)
    prefix = f"com.amazonaws.{model.endpoint_prefix}.v{model.api_version.replace('-', '')}"
    content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
    reply = {"status_code": status,
             "headers": {"x-amzn-requestid": str(uuid.uuid4()), "content-type": content_type},
             "body": json.dumps({"__type": f"{prefix}#{code}", "message": message}).encode()}
    parser = create_parser(model.protocol)
    parsed = parser.parse(reply, op.output_shape)
    shape = model.shape_for_error_code(parsed["Error"]["Code"])
    if shape is not None:  # what a client adds for a modeled error (botocore's client.py)
        parsed.update(parser.parse(reply, shape))
    if service not in _exceptions:
        _exceptions[service] = ClientExceptionsFactory().create_client_exceptions(model)
    error_class: type[ClientError] = _exceptions[service].from_code(code)
    return error_class(parsed, op.name)
