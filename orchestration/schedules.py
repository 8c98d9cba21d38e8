"""EventBridge Scheduler definitions (not legacy EventBridge rules), as data.

Two schedules:

* **nightly pipeline** — a cron in an explicit IANA time zone that starts the Step
  Functions state machine. EventBridge Scheduler has no date arithmetic; it can only
  pass the ``<aws.scheduler.scheduled-time>`` context attribute (UTC, ISO 8601). So the
  input is ``{"scheduled_time": "<aws.scheduler.scheduled-time>"}`` and the state
  machine's first states turn it into ``p_date`` = the UTC day before (see
  :func:`p_date_for`, which states the same rule in Python and is tested against the
  definition). A fire time must fall on the same UTC date as the local date, after
  the delivery buffer has flushed — checked by :func:`check_nightly_fire_time`.
* **ingest** — a ``rate()`` schedule invoking the ingest Lambda.

Both set a retry policy and a dead-letter queue. :meth:`Schedule.create_schedule_kwargs`
gives the boto3 ``scheduler.create_schedule`` arguments; :meth:`Schedule.cfn_properties`
the ``AWS::Scheduler::Schedule`` properties for the infrastructure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.dates import previous_day

__all__ = [
    "SCHEDULED_TIME",
    "RetryPolicy",
    "Schedule",
    "ScheduleError",
    "check_nightly_fire_time",
    "ingest_schedule",
    "nightly_pipeline_schedule",
    "p_date_for",
    "render_input",
]

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
"""Scheduler context attribute replaced by the invocation's scheduled time (UTC)."""

# Firehose buffers up to 15 minutes: a nightly run before 00:20 UTC could miss the tail.
_EARLIEST_UTC = timedelta(minutes=20)
_LATEST_UTC = timedelta(hours=12)


class ScheduleError(ValueError):
    """A schedule definition that EventBridge Scheduler would reject or that is unsafe."""


@dataclass(frozen=True)
class RetryPolicy:
    """Scheduler target retry policy (``MaximumEventAgeInSeconds`` 60–86400, attempts 0–185)."""

    maximum_event_age_seconds: int
    maximum_retry_attempts: int

    def __post_init__(self) -> None:
        if not 60 <= self.maximum_event_age_seconds <= 86_400:
            raise ScheduleError("maximum_event_age_seconds must be within 60..86400")
        if not 0 <= self.maximum_retry_attempts <= 185:
            raise ScheduleError("maximum_retry_attempts must be within 0..185")

    def to_api(self) -> dict[str, int]:
        return {
            "MaximumEventAgeInSeconds": self.maximum_event_age_seconds,
            "MaximumRetryAttempts": self.maximum_retry_attempts,
        }


@dataclass(frozen=True)
class Schedule:
    """One EventBridge Scheduler schedule with a templated target."""

    name: str
    description: str
    expression: str
    timezone: str
    target_arn: str
    role_arn: str
    dead_letter_arn: str
    retry: RetryPolicy
    input: dict[str, Any] | None = None
    group: str = "default"

    def __post_init__(self) -> None:
        expr = self.expression
        if not (expr.startswith(("cron(", "rate(", "at(")) and expr.endswith(")")):
            raise ScheduleError(f"{self.name}: not a Scheduler expression: {self.expression!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"{self.name}: unknown time zone {self.timezone!r}") from None
        if not self.dead_letter_arn.startswith("arn:aws:sqs:"):
            raise ScheduleError(f"{self.name}: the dead-letter target must be an SQS queue ARN")

    def _target(self) -> dict[str, Any]:
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "RetryPolicy": self.retry.to_api(),
            "DeadLetterConfig": {"Arn": self.dead_letter_arn},
        }
        if self.input is not None:
            target["Input"] = json.dumps(self.input)
        return target

    def create_schedule_kwargs(self) -> dict[str, Any]:
        """Arguments for boto3 ``scheduler.create_schedule(**kwargs)``."""
        return {
            "Name": self.name,
            "GroupName": self.group,
            "Description": self.description,
            "ScheduleExpression": self.expression,
            "ScheduleExpressionTimezone": self.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": self._target(),
        }

    def cfn_properties(self) -> dict[str, Any]:
        """Properties of an ``AWS::Scheduler::Schedule`` resource."""
        return self.create_schedule_kwargs()


def check_nightly_fire_time(hour: int, minute: int, timezone: str) -> None:
    """Refuse a nightly fire time whose UTC time is not between 00:20 and 12:00.

    Checked on a winter and a summer day so daylight saving cannot move the run onto
    the previous UTC date (where "yesterday" would be two days back).
    """
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ScheduleError(f"nightly time {hour:02d}:{minute:02d} is not a time of day")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {timezone!r}") from None
    for day in (date(2025, 1, 15), date(2025, 7, 15)):
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        utc = local.astimezone(UTC)
        since_midnight = utc - datetime(day.year, day.month, day.day, tzinfo=UTC)
        if not _EARLIEST_UTC <= since_midnight <= _LATEST_UTC:
            raise ScheduleError(
                f"nightly run at {hour:02d}:{minute:02d} {timezone} fires at {utc:%Y-%m-%d %H:%M} "
                f"UTC on {day:%b %d}: it must fire between 00:20 and 12:00 UTC of the same date"
            )


def nightly_pipeline_schedule(*, state_machine_arn: str, role_arn: str, dead_letter_arn: str,
                              hour: int = 2, minute: int = 0, timezone: str = "Etc/UTC",
                              name: str = "udp-nightly-pipeline") -> Schedule:
    """The nightly cron that starts the pipeline state machine for yesterday (UTC)."""
    check_nightly_fire_time(hour, minute, timezone)
    return Schedule(
        name=name,
        description="Nightly user-data pipeline for the previous UTC day (p_date).",
        expression=f"cron({minute} {hour} * * ? *)",
        timezone=timezone,
        target_arn=state_machine_arn,
        role_arn=role_arn,
        dead_letter_arn=dead_letter_arn,
        retry=RetryPolicy(maximum_event_age_seconds=3_600, maximum_retry_attempts=3),
        input={"scheduled_time": SCHEDULED_TIME},
    )


def ingest_schedule(*, lambda_arn: str, role_arn: str, dead_letter_arn: str,
                    every_minutes: int = 5, name: str = "udp-ingest") -> Schedule:
    """The rate schedule invoking the ingest Lambda every ``every_minutes`` minutes."""
    if not 1 <= every_minutes <= 1_440:
        raise ScheduleError("every_minutes must be within 1..1440")
    unit = "minute" if every_minutes == 1 else "minutes"
    return Schedule(
        name=name,
        description="Fetch user-data pages and deliver them to Firehose.",
        expression=f"rate({every_minutes} {unit})",
        timezone="Etc/UTC",
        target_arn=lambda_arn,
        role_arn=role_arn,
        dead_letter_arn=dead_letter_arn,
        # Give up before the next tick so two invocations never pile up on one slot.
        retry=RetryPolicy(maximum_event_age_seconds=max(60, every_minutes * 60 - 60),
                          maximum_retry_attempts=2),
        input={"scheduled_time": SCHEDULED_TIME},
    )


def render_input(schedule: Schedule, scheduled_time: datetime) -> dict[str, Any] | None:
    """The target input Scheduler would send at ``scheduled_time`` (context attributes filled)."""
    if schedule.input is None:
        return None
    stamp = scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = json.dumps(schedule.input).replace(SCHEDULED_TIME, stamp)
    rendered: dict[str, Any] = json.loads(text)
    return rendered


def p_date_for(scheduled_time: str) -> str:
    """``p_date`` for a scheduled time: the UTC calendar day before it (``YYYY-MM-DD``)."""
    stamp = datetime.fromisoformat(scheduled_time.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        raise ScheduleError(f"scheduled time {scheduled_time!r} has no UTC offset")
    return previous_day(stamp)
