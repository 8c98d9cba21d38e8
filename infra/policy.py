"""IAM pieces shared by ``UdpStack`` (``stack.py``) and the push path (``push_stack.py``).

Every service role of both stacks is trusted through :func:`service_principal`, so the
confused-deputy condition is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_iam as iam

__all__ = ["service_principal", "statement"]


def service_principal(service: str, account: str) -> iam.ServicePrincipal:
    """A service principal that may assume a role only on behalf of this account.

    ``aws:SourceAccount`` in the trust policy (confused-deputy prevention, IAM User
    Guide "The confused deputy problem"), for Firehose, Glue, Step Functions, EventBridge
    Scheduler, Redshift and Lambda. docs/operate/deploy-checks.md (j) says which services'
    guides confirm the key and what a first deploy must check for the others.
    """
    return iam.ServicePrincipal(
        service, conditions={"StringEquals": {"aws:SourceAccount": account}})


def statement(actions: Sequence[str], resources: Sequence[str],
              conditions: dict[str, Any] | None = None, sid: str | None = None
              ) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(actions), resources=list(resources),
                               conditions=conditions, sid=sid)
