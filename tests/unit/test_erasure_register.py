"""The erasure register and the one drop rule, on the pull and push paths (no Spark)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.erasure import (
    ErasureRegister,
    InvalidUserId,
    drop_erased,
    id_hash,
    parse_user_ids,
)
from contracts.erasure_store import RegisterCache
from ingest_lambda.core import IngestPorts, IngestRequest, run_ingest
from ingest_lambda.delivery import FirehoseSender
from ingest_lambda.replay import ReplaySource
from local_aws.user_api.server import generate_user
from push_api.records import split_push
from tests.unit.test_ingest_properties import CapturingErrors, CapturingFirehose

T0 = datetime(2026, 11, 22, 8, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 9, tzinfo=UTC)


def users(n: int, seed: str = "e") -> list[dict[str, Any]]:
    return [generate_user(seed, 1, i) for i in range(n)]


class Fixed:
    def __init__(self, register: ErasureRegister) -> None:
        self.register, self.loads = register, 0

    def load(self) -> ErasureRegister:
        self.loads += 1
        return self.register


def test_the_register_keeps_hashes_and_times_never_the_id() -> None:
    # GIVEN a register with two users asked for, one of them done
    reg = ErasureRegister.new().requested(["user-a", "user-b"], T0).completed(["user-a"], T1)
    # WHEN it is stored as text
    text = reg.to_json()
    # THEN neither id is in it, but both are recognised and the times are kept
    assert "user-a" not in text and "user-b" not in text
    back = ErasureRegister.from_json(text)
    assert back.contains("user-a") and back.contains(" user-b ")  # trimmed as users.user_id
    assert not back.contains("user-c")
    assert back.counts() == {"requested": 2, "completed": 1, "pending": 1}
    entry = back.entry("user-a")
    assert entry is not None and entry.completed_at == "2026-11-23T09:00:00+00:00"
    assert json.loads(text)["entries"][0]["requested_at"] == "2026-11-22T08:00:00+00:00"


def test_a_repeated_request_keeps_its_first_time_and_completion() -> None:
    reg = ErasureRegister.new().requested(["u1"], T0).completed(["u1"], T0)
    again = reg.requested(["u1", "u1"], T1).completed(["u1"], T1)
    assert len(again.entries) == 1
    assert again.entries[0].requested_at == again.entries[0].completed_at == T0.isoformat()


def test_hashes_depend_on_the_salt() -> None:
    assert id_hash("u1", "s1") != id_hash("u1", "s2")
    assert ErasureRegister.new().salt != ErasureRegister.new().salt


def test_drop_erased_keeps_every_other_record_in_order() -> None:
    batch = users(6)
    reg = ErasureRegister.new().requested([batch[1]["login"]["uuid"],
                                           batch[4]["login"]["uuid"]], T0)
    kept, dropped = drop_erased([*batch, {"no": "login"}], reg.hashes, reg.salt)
    assert dropped == 2
    assert kept == [batch[0], batch[2], batch[3], batch[5], {"no": "login"}]
    assert drop_erased(batch, frozenset(), reg.salt) == (batch, 0)


@pytest.mark.parametrize("bad", ["has space", "x" * 37, "tab\there"])
def test_a_malformed_id_is_named(bad: str) -> None:
    with pytest.raises(InvalidUserId, match="not a user id"):
        parse_user_ids([bad])


def test_ids_from_a_file_skip_blanks_and_comments_once_each() -> None:
    assert parse_user_ids(["# ticket 4711", "a", "", "  b  ", "a"]) == ["a", "b"]


def test_the_pull_ingest_drops_erased_users_and_quarantines_nothing_of_them() -> None:
    # GIVEN a page of 5 users, two of them erased
    page = users(5)
    gone = [page[0]["login"]["uuid"], page[3]["login"]["uuid"]]
    reg = ErasureRegister.new().requested(gone, T0)
    hose, errors = CapturingFirehose(), CapturingErrors()
    page[3]["location"] = 5  # invalid too: it still must not be quarantined
    ports = IngestPorts(api=ReplaySource([{"results": page}]), sender=FirehoseSender(hose, "s"),
                        errors=errors, clock=lambda: T1, erasures=Fixed(reg))
    # WHEN the page is ingested
    summary = run_ingest(IngestRequest(seed="s", pages=1, page_size=5), ports, "b1")
    # THEN the others are delivered, the erased ones counted and nowhere in any output
    assert (summary.records_seen, summary.records_valid, summary.records_erased) == (5, 3, 2)
    assert summary.reasons["erased"] == 2
    blob = b"".join(hose.records) + b"".join(errors.raw)
    assert not [u for u in gone if u.encode() in blob]
    assert len(hose.records) == 3


def test_a_push_of_an_erased_user_is_refused_as_erased_and_not_quarantined() -> None:
    batch = users(3, seed="p")
    batch[2]["location"] = 5  # invalid: without the register it is quarantined
    reg = ErasureRegister.new().requested([batch[1]["login"]["uuid"],
                                           batch[2]["login"]["uuid"]], T0)
    out = split_push(batch, "req-1", T1, reg)
    assert [e.index for e in out.entries] == [0]
    assert [(r["index"], r["code"]) for r in out.rejected] == [(1, "erased"), (2, "erased")]
    assert out.quarantine == []
    # without a register the same batch is judged as before
    plain = split_push(batch, "req-1", T1)
    assert len(plain.entries) == 2 and plain.rejected[0]["code"] == "bad_type"


def test_the_cache_reads_again_only_after_its_ttl() -> None:
    source, now = Fixed(ErasureRegister.new()), [0.0]
    cache = RegisterCache(source, ttl_s=60, clock=lambda: now[0])
    cache.load()
    now[0] = 59.0
    cache.load()
    assert source.loads == 1
    now[0] = 60.0
    cache.load()
    assert source.loads == 2
