"""Where a running ``udp serve`` tells other processes how to reach it.

While the push stack runs, ``<state>/push/endpoint.json`` holds its URL and the pid of
the process serving it, and ``<state>/push/api-key`` the gateway's key (0600). ``udp
push`` / ``udp get`` read them; ``udp status`` lists the server. A file left behind by a
killed server names a dead pid: ``local_aws.processes.running_push_server`` treats it
as "no server" (the next start overwrites it). Kept apart from ``local_aws.push.stack`` so
that reading it costs no imports.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from local_aws.files import atomic_write_bytes

__all__ = ["API_KEY_FILE", "ENDPOINT_FILE", "PushEndpoint", "read_push_endpoint",
           "write_push_endpoint"]

ENDPOINT_FILE = "endpoint.json"
API_KEY_FILE = "api-key"


@dataclass(frozen=True)
class PushEndpoint:
    """A running push server: where it answers, which process serves it, its key file."""

    url: str
    pid: int
    api_key_path: Path

    def api_key(self) -> str | None:
        """The gateway's key, or None if the file is gone."""
        try:
            return self.api_key_path.read_text().strip() or None
        except OSError:
            return None


def _push_dir(state_dir: Path) -> Path:
    return Path(state_dir) / "push"


def write_push_endpoint(state_dir: Path, url: str, pid: int | None = None) -> Path:
    """Record ``url`` as served by ``pid`` (default: this process); the file's path."""
    path = _push_dir(state_dir) / ENDPOINT_FILE
    atomic_write_bytes(path, (json.dumps({"url": url, "pid": pid or os.getpid()}) + "\n").encode())
    return path


def read_push_endpoint(state_dir: Path) -> PushEndpoint | None:
    """The push server recorded for ``state_dir``, or None (no file, unreadable). Whether
    its process still runs: ``local_aws.processes.running_push_server``."""
    folder = _push_dir(state_dir)
    try:
        doc = json.loads((folder / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
        return None
    pid = doc.get("pid")
    if not isinstance(pid, int):
        return None
    return PushEndpoint(doc["url"], pid, folder / API_KEY_FILE)
