"""Checkov suppressions written on the resource they concern, each with its reason.

Checkov reads ``Metadata.checkov.skip`` (``[{"id": …, "comment": …}]``) on a
CloudFormation resource. :func:`skip` puts it there from the code that creates the
resource, so the reason sits next to the resource in both the code and the template.
"""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import CfnResource, IAspect
from constructs import IConstruct

__all__ = ["SkipInScope", "skip"]


def _cfn(target: IConstruct) -> CfnResource:
    if isinstance(target, CfnResource):
        return target
    child = target.node.default_child
    if not isinstance(child, CfnResource):
        raise TypeError(f"{target.node.path} has no CloudFormation resource to annotate")
    return child


def skip(target: IConstruct, **reasons: str) -> None:
    """Add checkov skips (``CKV_AWS_117="why"``) to ``target``'s CloudFormation resource."""
    resource = _cfn(target)
    existing: Any = resource.get_metadata("checkov") or {}
    entries = list(existing.get("skip", []))
    known = {e["id"] for e in entries}
    for check_id, reason in reasons.items():
        if not reason.strip():
            raise ValueError(f"checkov skip {check_id} needs a reason")
        if check_id not in known:
            entries.append({"id": check_id, "comment": reason})
    resource.add_metadata("checkov", {"skip": entries})


@jsii.implements(IAspect)
class SkipInScope:
    """Aspect: the same skips on every ``cfn_type`` resource whose path contains ``marker``.

    For resources a library construct creates on our behalf (e.g. the Lambda function
    behind ``BucketDeployment``) that we cannot reach one by one.
    """

    def __init__(self, cfn_type: str, marker: str, **reasons: str) -> None:
        self.cfn_type = cfn_type
        self.marker = marker
        self.reasons = reasons

    def visit(self, node: IConstruct) -> None:
        if (isinstance(node, CfnResource) and node.cfn_resource_type == self.cfn_type
                and self.marker in node.node.path):
            skip(node, **self.reasons)
