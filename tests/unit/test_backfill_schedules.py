"""Unit tests of date ranges, backfill argument checks and the schedule definitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts.dates import check_p_date as parse_p_date
from contracts.dates import p_date_range as date_range
from orchestration.backfill import BackfillError, DateRangeError
from orchestration.schedules import (
    SCHEDULED_TIME,
    ScheduleError,
    check_nightly_fire_time,
    ingest_schedule,
    nightly_pipeline_schedule,
    p_date_for,
    render_input,
)

DLQ = "arn:aws:sqs:eu-west-1:123456789012:udp-scheduler-dlq"
ROLE = "arn:aws:iam::123456789012:role/udp-scheduler"


def test_date_range_is_inclusive_and_crosses_month_and_leap_day() -> None:
    # GIVEN a range over the end of February in a leap year
    # WHEN expanded THEN every day is listed once, both ends included
    assert date_range("2024-02-27", "2024-03-01") == [
        "2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
    assert date_range("2024-01-01", "2024-01-01") == ["2024-01-01"]


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2024-13-01", "2024-12-31", "invalid date '2024-13-01'"),
    ("2024-1-5", "2024-01-09", "expected YYYY-MM-DD"),
    ("yesterday", "2024-01-09", "invalid date 'yesterday'"),
    ("2024-02-10", "2024-02-01", "before its start"),
    ("2023-01-01", "2024-12-31", "366-day limit"),
])
def test_date_range_refuses_bad_input_with_one_line(start: str, end: str, message: str) -> None:
    # GIVEN malformed or unacceptable bounds WHEN expanded THEN a clear DateRangeError
    with pytest.raises(DateRangeError, match=message):
        date_range(start, end)


def test_date_range_limit_can_be_raised() -> None:
    # GIVEN a two-year range WHEN explicitly allowed THEN it expands
    assert len(date_range("2023-01-01", "2024-12-31", max_days=800)) == 731


def test_parse_p_date_returns_canonical_text() -> None:
    assert parse_p_date("2024-02-29") == "2024-02-29"
    with pytest.raises(DateRangeError):
        parse_p_date("2023-02-29")


def test_backfill_error_is_a_value_error() -> None:
    # The CLI maps ValueError subclasses to exit code 2.
    assert issubclass(BackfillError, ValueError) and issubclass(DateRangeError, ValueError)


# --------------------------------------------------------------------------- schedules


def test_nightly_schedule_is_a_zoned_cron_with_retry_dlq_and_scheduled_time_input() -> None:
    # GIVEN the nightly schedule at 02:30 Berlin time
    s = nightly_pipeline_schedule(state_machine_arn="arn:aws:states:eu-west-1:1:stateMachine:udp",
                                  role_arn=ROLE, dead_letter_arn=DLQ, hour=2, minute=30,
                                  timezone="Europe/Berlin")
    # WHEN rendered as create_schedule arguments
    kwargs = s.create_schedule_kwargs()
    # THEN it is a Scheduler cron in that zone, with retry policy, DLQ and the context attribute
    assert kwargs["ScheduleExpression"] == "cron(30 2 * * ? *)"
    assert kwargs["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert kwargs["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = kwargs["Target"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": DLQ}
    assert json.loads(target["Input"]) == {"scheduled_time": SCHEDULED_TIME}


def test_rendered_nightly_input_yields_yesterday_utc() -> None:
    # GIVEN the nightly schedule firing at 02:30 Berlin on 1 March 2024 (01:30 UTC)
    s = nightly_pipeline_schedule(state_machine_arn="arn:aws:states:eu-west-1:1:stateMachine:udp",
                                  role_arn=ROLE, dead_letter_arn=DLQ, hour=2, minute=30,
                                  timezone="Europe/Berlin")
    fired = datetime(2024, 3, 1, 1, 30, tzinfo=UTC)
    # WHEN Scheduler fills the context attribute
    payload = render_input(s, fired)
    # THEN the state machine input carries the UTC time, whose previous day is the p_date
    assert payload == {"scheduled_time": "2024-03-01T01:30:00Z"}
    assert p_date_for(payload["scheduled_time"]) == "2024-02-29"


@pytest.mark.parametrize(("hour", "zone"), [(2, "Asia/Tokyo"), (0, "Etc/UTC"), (23, "Etc/UTC")])
def test_nightly_fire_times_on_the_wrong_utc_day_are_refused(hour: int, zone: str) -> None:
    # GIVEN a fire time that is the previous UTC day, or too close to midnight UTC
    # WHEN checked THEN refused with the UTC time it would fire at
    with pytest.raises(ScheduleError, match="UTC"):
        check_nightly_fire_time(hour, 0, zone)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        check_nightly_fire_time(2, 0, "Mars/Olympus")


def test_ingest_schedule_is_a_rate_with_retry_inside_one_tick() -> None:
    # GIVEN the ingest schedule every 5 minutes
    s = ingest_schedule(lambda_arn="arn:aws:lambda:eu-west-1:1:function:udp-ingest",
                        role_arn=ROLE, dead_letter_arn=DLQ, every_minutes=5)
    # WHEN rendered
    kwargs = s.create_schedule_kwargs()
    # THEN it is a rate expression whose retries give up before the next tick
    assert kwargs["ScheduleExpression"] == "rate(5 minutes)"
    policy = kwargs["Target"]["RetryPolicy"]
    assert policy["MaximumEventAgeInSeconds"] < 5 * 60
    assert kwargs["Target"]["DeadLetterConfig"] == {"Arn": DLQ}


def test_schedule_needs_an_sqs_dead_letter_queue() -> None:
    with pytest.raises(ScheduleError, match="SQS"):
        ingest_schedule(lambda_arn="arn:aws:lambda:eu-west-1:1:function:f", role_arn=ROLE,
                        dead_letter_arn="arn:aws:sns:eu-west-1:1:topic")
