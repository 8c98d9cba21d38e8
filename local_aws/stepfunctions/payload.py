"""Payload templates: Parameters, ResultSelector and ItemSelector (``.$`` keys)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from local_aws.stepfunctions.errors import StatesError
from local_aws.stepfunctions.intrinsics import IntrinsicParser, eval_intrinsic
from local_aws.stepfunctions.jsonpath import get_path


def render_payload(template: Any, data: Any, ctx: Mapping[str, Any]) -> Any:
    """Resolve every ``key.$`` of ``template`` against ``data`` (paths or intrinsics)."""
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if value.startswith("States."):
                    out[key[:-2]] = eval_intrinsic(IntrinsicParser(value).parse(), data, ctx)
                else:
                    out[key[:-2]] = copy.deepcopy(get_path(data, value, ctx))
            else:
                out[key] = render_payload(value, data, ctx)
        return out
    if isinstance(template, list):
        return [render_payload(v, data, ctx) for v in template]
    return copy.deepcopy(template)


MAX_PAYLOAD_BYTES = 256 * 1024
"""AWS, "Step Functions service quotas": the maximum input or output size for a task, state
or execution is 256 KiB of data as a UTF-8 encoded string."""


def payload_bytes(value: Any) -> int:
    """Size of ``value`` as compact UTF-8 JSON (how AWS serializes is not documented byte
    for byte; compact JSON is the smallest faithful encoding, so a local run never fails
    where AWS would not for whitespace reasons)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def check_payload_size(value: Any, what: str) -> None:
    """``States.DataLimitExceeded`` if ``value`` is over :data:`MAX_PAYLOAD_BYTES`."""
    size = payload_bytes(value)
    if size > MAX_PAYLOAD_BYTES:
        raise StatesError("States.DataLimitExceeded",
                          f"{what} is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} (256 KiB)")
