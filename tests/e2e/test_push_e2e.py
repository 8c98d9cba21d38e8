"""Pushed users through the nightly run: the push stack's Firehose twin writes the raw
layer, the unchanged state machine takes them to the transform layer and the warehouse,
and the lookup answers the same minimised values the warehouse holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_aws.cloud import LocalCloud
from local_aws.push import start_push_stack
from local_aws.user_api import generate_user
from push_api.client import get_user, push_records

pytestmark = pytest.mark.slow

COMPARED = ("gender", "nationality", "birth_year", "email_domain", "email_hash",
            "phone_masked", "city", "country", "postcode", "tz_offset_minutes")


def test_pushed_users_reach_the_warehouse_and_the_lookup_agrees(tmp_path: Path) -> None:
    # GIVEN 150 users pushed (50 of them twice, as a client retrying would) and read off
    # the stream by Firehose and the consumer
    users = [generate_user("push-e2e", 1, i) for i in range(150)]
    with start_push_stack(tmp_path) as push:
        assert push_records(push.url, users, push.api_key).accepted == 150
        assert push_records(push.url, users[:50], push.api_key).accepted == 50
        push.drain()
        looked_up = {u["login"]["uuid"]: get_user(push.url, u["login"]["uuid"], push.api_key)
                     for u in users}
    day = datetime.now(UTC).date().isoformat()
    # WHEN the nightly state machine runs for the day on the same local state
    with LocalCloud(tmp_path) as stack:
        result = stack.run_pipeline(day)
        assert result.status == "SUCCEEDED", (result.error, result.cause)
        transform = stack.athena().query(
            f"select count(*), count(distinct user_id) from users where p_date = '{day}'"
        ).rows[0]
        with stack.warehouse.connect() as conn:
            cols = ", ".join(("user_id", *COMPARED))
            rows = conn.execute(f"select {cols} from analytics.users where p_date = %s",
                                (day,)).fetchall()
    # THEN every pushed user is in the transform layer and the warehouse once
    assert tuple(transform) == (150, 150)
    assert len(rows) == 150
    # AND GET answered, for each, what the warehouse now holds
    for row in rows:
        status, answer = looked_up[row[0]]
        assert status == 200
        assert tuple(answer[c] for c in COMPARED) == tuple(row[1:]), row[0]
