"""Payload templates: Parameters, ResultSelector and ItemSelector (``.$`` keys)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from local_aws.stepfunctions.intrinsics import IntrinsicParser, eval_intrinsic
from local_aws.stepfunctions.paths import get_path


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
