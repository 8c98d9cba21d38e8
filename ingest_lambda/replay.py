"""Replay saved API responses through the ingest path, exactly as if the API sent them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["ReplayError", "ReplaySource", "load_replay"]


class ReplayError(ValueError):
    """The replay file is missing or is not one page object or a list of them."""


def load_replay(path: Path) -> list[Any]:
    """A file holding one page object, or a JSON list of page objects."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReplayError(f"replay file {path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReplayError(f"replay file {path} is not JSON: {exc}") from None
    pages = data if isinstance(data, list) else [data]
    if not pages:
        raise ReplayError(f"replay file {path} holds no pages")
    return pages


class ReplaySource:
    """A ``PageSource`` answering page ``n`` with the n-th saved page (1-based)."""

    def __init__(self, pages: list[Any]) -> None:
        self.pages = pages

    def fetch_page(self, page: int, results: int, seed: str) -> Any:
        return self.pages[page - 1]

    @property
    def seed(self) -> str:
        first = self.pages[0]
        info = first.get("info") if isinstance(first, dict) else None
        return str(info.get("seed", "replay")) if isinstance(info, dict) else "replay"
