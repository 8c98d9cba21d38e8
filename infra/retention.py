"""How long CloudWatch log groups are kept, for both stacks (``stack.py``, ``push_stack.py``)."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

__all__ = ["log_retention"]

_RETENTION = {1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS,
              7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS,
              30: logs.RetentionDays.ONE_MONTH, 60: logs.RetentionDays.TWO_MONTHS,
              90: logs.RetentionDays.THREE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS,
              365: logs.RetentionDays.ONE_YEAR}


def log_retention(days: int) -> logs.RetentionDays:
    """The environment's log retention in days, rounded up to a period CloudWatch offers
    (a year at most)."""
    return _RETENTION[min((d for d in _RETENTION if d >= days), default=365)]
