"""``StreamedReplay`` decodes each page once per pass: the check pass, then the send."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ingest_lambda import replay
from ingest_lambda.replay import StreamedReplay

PAGES = [{"results": [{"n": i}], "info": {"seed": "abc", "page": i}} for i in (1, 2, 3)]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """How many times each page number was decoded from the file."""
    counts: Counter[int] = Counter()
    real_value = replay._Reader.value

    def counting(self: Any, n: int) -> Any:
        counts[n] += 1
        return real_value(self, n)

    monkeypatch.setattr(replay._Reader, "value", counting)
    return counts


@pytest.mark.parametrize("layout", ["list", "ndjson"])
def test_every_page_is_decoded_once_to_check_and_once_to_send(
        tmp_path: Path, decoded: Counter[int], layout: str) -> None:
    # GIVEN a replay file of three pages, as a JSON list or one page per line
    path = tmp_path / f"pages-{layout}.json"
    text = (json.dumps(PAGES) if layout == "list"
            else "\n".join(json.dumps(p) for p in PAGES) + "\n")
    path.write_text(text, encoding="utf-8")
    # WHEN it is opened (the check pass) and every page is fetched in order
    source = StreamedReplay(path)
    fetched = [source.fetch_page(n, 1, source.seed) for n in (1, 2, 3)]
    # THEN the pages and the seed are the file's
    assert fetched == PAGES
    assert (source.page_count, source.seed) == (3, "abc")
    # AND each page, the first included, was decoded exactly twice: check, then send
    assert decoded == Counter({1: 2, 2: 2, 3: 2})


def test_a_first_page_without_info_seeds_replay(tmp_path: Path) -> None:
    # GIVEN pages without the API's info block; THEN the seed falls back to "replay"
    path = tmp_path / "bare.json"
    path.write_text('{"results": []}\n{"results": []}\n', encoding="utf-8")
    assert StreamedReplay(path).seed == "replay"
