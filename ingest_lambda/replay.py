"""Replay saved API responses through the ingest path, exactly as if the API sent them.

A replay file holds API pages, as the API answered them: one page object, a JSON list of
page objects, or page objects one after another (NDJSON). A *page* is an object with
``results`` (a list of at most :data:`MAX_RESULTS_PER_PAGE` entries; any other value makes
a malformed page, quarantined whole) (the API's own cap on
``results``, randomuser.me/documentation "Requesting Multiple Users": up to 5,000 per
request). Anything else (``[1, 2, 3]``, an object without ``results``) is not a replay and
is refused as a whole: individual *records* that break the contract are quarantined as
usual, but a document that is not pages is the user's mistake, not data.

Files are streamed, never loaded whole: :func:`iter_replay_pages` decodes one page at a
time from chunks (``json.JSONDecoder.raw_decode``), so memory is bounded by the largest
page (:data:`MAX_PAGE_BYTES`) and the file by :data:`MAX_REPLAY_BYTES`. The CLI reads the
file twice: a first pass checks every page (nothing is written if any is bad), the second
feeds the ingest core.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_PAGE_BYTES",
    "MAX_REPLAY_BYTES",
    "MAX_RESULTS_PER_PAGE",
    "ReplayError",
    "ReplaySource",
    "StreamedReplay",
    "check_replay",
    "iter_replay_pages",
]

MAX_RESULTS_PER_PAGE = 5000
MAX_PAGE_BYTES = 64 << 20   # 5,000 users of ~4 KB each is ~20 MB of JSON
MAX_REPLAY_BYTES = 1 << 30  # 1 GiB: ~50 days of the nightly volume; split bigger captures
_CHUNK = 1 << 20
_WS = " \t\r\n"


class ReplayError(ValueError):
    """The replay file is missing, unreadable, too big, or not API pages."""


def _open(path: Path) -> Any:
    p = Path(path)
    if p.is_dir():
        raise ReplayError(f"replay file {p} is a folder: give one JSON file of API pages")
    try:
        size = p.stat().st_size
        handle = p.open("r", encoding="utf-8", newline="")
    except FileNotFoundError:
        raise ReplayError(f"replay file {p} not found") from None
    except OSError as exc:
        raise ReplayError(f"replay file {p} cannot be read: {exc.strerror}") from None
    if size > MAX_REPLAY_BYTES:
        handle.close()
        raise ReplayError(f"replay file {p} is {size:,} bytes; the limit is "
                          f"{MAX_REPLAY_BYTES:,}: split it into smaller files")
    return handle


class _Reader:
    """Characters of an open file, read in growing chunks, with a decode position."""

    def __init__(self, handle: Any, path: Path) -> None:
        self.handle, self.path = handle, path
        self.buf, self.pos, self.eof = "", 0, False

    def more(self, at_least: int = _CHUNK) -> bool:
        if self.eof:
            return False
        try:
            text = self.handle.read(at_least)
        except UnicodeDecodeError:
            raise ReplayError(f"replay file {self.path} is not UTF-8 text") from None
        if not text:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self, n: int) -> Any:
        """Decode the JSON value starting at the current position (page ``n``)."""
        decoder = json.JSONDecoder()
        while True:
            try:
                obj, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_PAGE_BYTES:
                    raise ReplayError(f"replay file {self.path}: page {n} is larger than "
                                      f"{MAX_PAGE_BYTES:,} bytes") from None
                # doubling reads keep the re-decoding of a long page linear overall
                if not self.more(max(_CHUNK, len(self.buf) - self.pos)):
                    raise ReplayError(f"replay file {self.path} is not JSON: {exc.msg} "
                                      f"(page {n})") from None
                continue
            if end - self.pos > MAX_PAGE_BYTES:
                raise ReplayError(f"replay file {self.path}: page {n} is larger than "
                                  f"{MAX_PAGE_BYTES:,} bytes")
            self.pos = end
            return obj


def _check_page(obj: Any, n: int, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ReplayError(f"replay file {path}: item {n} is {type(obj).__name__}, not an API "
                          "page (an object with 'results')")
    if "results" not in obj:
        raise ReplayError(f"replay file {path}: page {n} has no 'results'; a replay "
                          "holds API pages")
    # a page whose 'results' is not a list is a malformed *page*: the ingest core
    # quarantines it with its reason, as it would a malformed answer from the API
    results = obj["results"]
    if isinstance(results, list) and len(results) > MAX_RESULTS_PER_PAGE:
        raise ReplayError(f"replay file {path}: page {n} holds {len(results):,} results; the "
                          f"API returns at most {MAX_RESULTS_PER_PAGE:,} per page")
    return obj


def iter_replay_pages(path: Path) -> Iterator[dict[str, Any]]:
    """Each page of a replay file, decoded one at a time; :class:`ReplayError` at the
    first thing that is not a page."""
    path = Path(path)
    with _open(path) as handle:
        reader = _Reader(handle, path)
        first = reader.peek()
        if first == "":
            raise ReplayError(f"replay file {path} holds no pages")
        if first == "[":
            reader.pos += 1
            n = 0
            if reader.peek() == "]":
                raise ReplayError(f"replay file {path} holds no pages")
            while True:
                n += 1
                if reader.peek() != "{":
                    _check_page(reader.value(n), n, path)  # names what it found instead
                yield _check_page(reader.value(n), n, path)
                sep = reader.peek()
                if sep == "]":
                    reader.pos += 1
                    break
                if sep != ",":
                    raise ReplayError(f"replay file {path} is not JSON: expected ',' or ']' "
                                      f"after page {n}")
                reader.pos += 1
        elif first == "{":
            n = 0
            while reader.peek() != "":
                n += 1
                yield _check_page(reader.value(n), n, path)
            return
        else:
            raise ReplayError(f"replay file {path} is not API pages: it must hold a page "
                              "object, a list of them, or one per line")
        if reader.peek() != "":
            raise ReplayError(f"replay file {path} is not JSON: data after the list of pages")


def check_replay(path: Path) -> int:
    """Read the whole file once, checking every page; the number of pages."""
    return _check_pass(path)[0]


def _page_seed(page: dict[str, Any]) -> str:
    """The seed a page's ``info`` names (the API echoes the request's), else ``"replay"``."""
    info = page.get("info")
    return str(info.get("seed", "replay")) if isinstance(info, dict) else "replay"


def _check_pass(path: Path) -> tuple[int, str]:
    """One read of the whole file checking every page: the number of pages and the first
    page's seed (taken as it goes by, so no page is decoded only for it)."""
    count, seed = 0, "replay"
    for page in iter_replay_pages(path):
        if count == 0:
            seed = _page_seed(page)
        count += 1
    return count, seed


class ReplaySource:
    """A ``PageSource`` answering page ``n`` with the n-th saved page (1-based)."""

    def __init__(self, pages: list[Any]) -> None:
        self.pages = pages

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def fetch_page(self, page: int, results: int, seed: str) -> Any:
        return self.pages[page - 1]

    @property
    def seed(self) -> str:
        first = self.pages[0]
        return _page_seed(first) if isinstance(first, dict) else "replay"


class StreamedReplay:
    """A ``PageSource`` over a checked replay file, holding one page at a time.

    The ingest core asks for pages 1, 2, ... in order (a retried page is asked again);
    asking out of order is a programming error.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # every page checked before any is sent; the seed is read on that pass, so each
        # page is decoded twice in all (check, send), the first one included
        self.page_count, self.seed = _check_pass(self.path)
        self._pages = iter_replay_pages(self.path)
        self._current: tuple[int, dict[str, Any]] | None = None

    def fetch_page(self, page: int, results: int, seed: str) -> Any:
        if self._current is not None and self._current[0] == page:
            return self._current[1]
        expected = 1 if self._current is None else self._current[0] + 1
        if page != expected:
            raise ValueError(f"pages are streamed in order: asked for {page}, next is {expected}")
        self._current = None  # the previous page is freed before the next is decoded
        self._current = (page, next(self._pages))
        return self._current[1]

