"""Helpers to read a synthesized CloudFormation template in tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["logical_id", "managed_policies", "policy_statements", "render", "resources",
           "role_of_policy", "service_principals", "statements_of_role"]

PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def resources(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource of one type."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == cfn_type}


def logical_id(template: dict[str, Any], prefix: str, cfn_type: str | None = None) -> str:
    """The logical id CDK made from construct id ``prefix`` (it appends 8 hex digits)."""
    pattern = re.compile(re.escape(prefix) + "[0-9A-F]{8}")
    found = [k for k, v in template["Resources"].items()
             if pattern.fullmatch(k) and (cfn_type is None or v["Type"] == cfn_type)]
    assert len(found) == 1, f"{prefix!r}: {found}"
    return found[0]


def render(value: Any) -> Any:
    """Intrinsics as readable strings: ``Ref`` → ``<Id>``, ``GetAtt`` → ``<Id.Attr>``."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return PSEUDO.get(arg, f"<{arg}>")
        if key == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if key == "Fn::Join":
            return arg[0].join(str(render(v)) for v in arg[1])
        if key == "Fn::Select":
            return f"<select {arg[0]} {render(arg[1])}>"
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every policy document in the template, with its resource id."""
    for rid, res in template["Resources"].items():
        props = res.get("Properties", {})
        docs = []
        for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
            if key in props:
                docs.append(props[key])
        for inline in props.get("Policies", []) if res["Type"] == "AWS::IAM::Role" else []:
            docs.append(inline["PolicyDocument"])
        for doc in docs:
            for statement in _as_list(doc.get("Statement", [])):
                yield rid, render(statement)


def role_of_policy(policy: dict[str, Any]) -> list[str]:
    return [r["Ref"] for r in policy["Properties"].get("Roles", [])]


def statements_of_role(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Allow statements of the identity policies attached to ``role_id`` (rendered;
    managed policies are not in the template: see :func:`managed_policies`)."""
    out: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role_id in role_of_policy(policy):
            out += [render(s) for s in _as_list(policy["Properties"]["PolicyDocument"]
                                                ["Statement"])]
    role = template["Resources"][role_id]
    for inline in role["Properties"].get("Policies", []):
        out += [render(s) for s in _as_list(inline["PolicyDocument"]["Statement"])]
    return [s for s in out if s.get("Effect") == "Allow"]


def service_principals(template: dict[str, Any], role_id: str) -> set[str]:
    doc = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]
    out: set[str] = set()
    for statement in _as_list(doc["Statement"]):
        out.update(_as_list(statement.get("Principal", {}).get("Service", [])))
    return out


def managed_policies(template: dict[str, Any]) -> dict[str, list[str]]:
    """Role logical id → the managed policy ARNs it attaches (rendered)."""
    return {rid: [str(render(a)) for a in role["Properties"]["ManagedPolicyArns"]]
            for rid, role in resources(template, "AWS::IAM::Role").items()
            if role["Properties"].get("ManagedPolicyArns")}
