"""``udp serve`` / ``udp push FILE|-`` / ``udp get USER_ID``: the push path on the CLI.

``serve`` runs the local push stack (API Gateway, Kinesis, DynamoDB, Firehose and the
consumer: ``local_aws.push.stack``) for a state folder until Ctrl-C or SIGTERM. ``push`` and
``get`` are a partner's client (``push_api.client``): they find the running server
through ``<state>/push/endpoint.json`` and its key in ``<state>/push/api-key``
(``local_aws.push.endpoint``), or take ``--url`` / ``--api-key``. docs/reference/push.md.

Exit codes: 0 done; 1 ``push``: records still undelivered after the resends, ``get``:
unknown id; 2 a user mistake (unreadable file, invalid JSON, no server, malformed id,
requests refused), as one line.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rich.markup import escape
from rich.table import Table

from udp_cli.errors import UserError, console, err_console

__all__ = ["add_push_commands", "cmd_get", "cmd_push", "cmd_serve", "resolve_endpoint"]

SHOWN_REJECTIONS = 20


def _no_server(state_dir: Path) -> UserError:
    return UserError(f"no push server is running for {state_dir}: start one with "
                     f"`udp --state-dir {state_dir} serve`, or pass --url and --api-key")


def resolve_endpoint(state_dir: Path, url: str | None, api_key: str | None
                     ) -> tuple[str, str]:
    """(url, api key): the options where given, else the running server's record."""
    from local_aws.facade import API_KEY_FILE, running_push_server

    if url and api_key:
        return url, api_key
    running = running_push_server(state_dir)
    if url is None:
        if running is None:
            raise _no_server(state_dir)
        url = running.url
    if api_key is None:
        api_key = running.api_key() if running is not None else None
        if api_key is None:
            key_path = state_dir / "push" / API_KEY_FILE
            try:
                api_key = key_path.read_text().strip() or None
            except OSError:
                api_key = None
        if api_key is None:
            raise UserError(f"no API key: pass --api-key (none saved in {state_dir}/push/)")
    return url, api_key


@contextmanager
def _reaching(url: str) -> Iterator[None]:
    """Connection failures as one line (the server stopped, a wrong --url)."""
    try:
        yield
    except urllib.error.URLError as exc:
        raise UserError(f"cannot reach the push API at {url}: {exc.reason}") from None
    except (ConnectionError, TimeoutError) as exc:
        raise UserError(f"cannot reach the push API at {url}: {exc}") from None


# ----------------------------------------------------------------------------- serve

def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Ctrl-C and SIGTERM set ``stop``; returns what puts the old handlers back."""
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return restore


def cmd_serve(args: argparse.Namespace) -> int:
    from local_aws.facade import API_KEY_FILE, local_cloud, running_push_server

    state_dir: Path = args.state_dir
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be in 0..65535, not {args.port}")
    running = running_push_server(state_dir)
    if running is not None:
        raise UserError(f"a push server already runs for {state_dir} at {running.url} "
                        f"(pid {running.pid})")
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    try:
        with local_cloud(state_dir) as cloud:
            try:
                push = cloud.start_push(port=args.port)
            except OSError as exc:  # the port is taken
                raise UserError(f"cannot serve on 127.0.0.1:{args.port}: "
                                f"{exc.strerror or exc}") from None
            key_path = cloud.paths.state_dir / "push" / API_KEY_FILE
            console.print(f"push API on {push.url}  (POST /users, GET /users/{{user_id}})",
                          markup=False)
            console.print(f"API key in {key_path}  (header x-api-key)", markup=False)
            console.print("`udp push FILE` / `udp get USER_ID` use both; Ctrl-C stops",
                          markup=False)
            if push.replayed:
                console.print(f"replaying {push.replayed} accepted records the last run "
                              "had not delivered", markup=False)
            while not stop.wait(0.5):
                pass
            err_console.print("stopping: reading the stream to its end, writing Firehose's buffer, "
                              "saving DynamoDB",
                              markup=False)
    finally:
        restore()
    console.print("push server stopped", markup=False)
    return 0


# ----------------------------------------------------------------------------- push

def _print_summary(source: str, summary: Any) -> None:
    print(f"pushed {source}: sent {summary.sent}, accepted {summary.accepted}, "
          f"rejected {len(summary.rejected)}, undelivered {len(summary.undelivered)}, "
          f"secrets dropped {summary.secrets_dropped} ({summary.requests} requests, "
          f"{summary.resent} records resent)")  # one line, never wrapped
    if summary.rejected:
        table = Table("record", "code", "field", "detail",
                      title="rejected (fix and push these again)")
        for r in summary.rejected[:SHOWN_REJECTIONS]:
            table.add_row(*(escape("" if r.get(k) is None else str(r[k])) for k in
                            ("index", "code", "path", "detail")))
        console.print(table)
        if len(summary.rejected) > SHOWN_REJECTIONS:
            console.print(f"... and {len(summary.rejected) - SHOWN_REJECTIONS} more "
                          "(--json lists them all)", markup=False)


def cmd_push(args: argparse.Namespace) -> int:
    from push_api.client import PushClientError, push_file

    source = str(args.file)
    if source != "-" and not Path(source).is_file():
        raise UserError(f"no such file: {source}")
    url, key = resolve_endpoint(args.state_dir, args.url, args.api_key)
    try:
        with _reaching(url):
            summary = push_file(url, source, key)
    except PushClientError as exc:
        raise UserError(f"{source}: {exc}") from None
    if args.json:
        print(json.dumps(summary.as_dict(), indent=1))
    else:
        _print_summary("stdin" if source == "-" else source, summary)
    if summary.errors:
        more = f" (and {len(summary.errors) - 1} more)" if len(summary.errors) > 1 else ""
        raise UserError(f"the API refused {summary.errors[0]}{more}")
    if summary.undelivered:
        err_console.print(f"udp: {len(summary.undelivered)} records were not delivered after "
                          "the resends; push them again", markup=False)
        return 1
    return 0


# ----------------------------------------------------------------------------- get

def cmd_get(args: argparse.Namespace) -> int:
    from push_api.client import get_user

    url, key = resolve_endpoint(args.state_dir, args.url, args.api_key)
    with _reaching(url):
        status, answer = get_user(url, args.user_id, key)
    if status == 200:
        if args.format == "json":
            print(json.dumps(answer, ensure_ascii=False, indent=1, default=str))
        else:
            table = Table("column", "value")
            for column, value in answer.items():
                table.add_row(escape(column), escape("NULL" if value is None else str(value)))
            console.print(table)
        return 0
    detail = answer.get("detail") or answer.get("message") or answer
    if status == 404:
        err_console.print(f"udp: {detail}", markup=False)
        return 1
    if status == 400:
        raise UserError(f"{args.user_id!r}: {detail}")
    raise UserError(f"the API answered HTTP {status}: {detail}")


# ----------------------------------------------------------------------------- parser

def add_push_commands(sub: Any) -> None:
    """Register ``serve``, ``push`` and ``get`` on ``udp``'s subparsers."""
    p = sub.add_parser("serve", help="run the local push API (POST /users, GET /users/ID) "
                       "with its Kinesis, DynamoDB and Firehose twins until Ctrl-C")
    p.add_argument("--port", type=int, default=0,
                   help="port on 127.0.0.1 (default: a free one; the URL is printed)")
    p.set_defaults(func=cmd_serve)

    def endpoint_opts(q: argparse.ArgumentParser) -> None:
        q.add_argument("--url", help="push API URL (default: the running `udp serve`)")
        q.add_argument("--api-key", help="API key (default: the state folder's)")

    p = sub.add_parser("push", help="push users (JSON array, object, randomuser page or "
                       "NDJSON; - for stdin) to the push API")
    p.add_argument("file", metavar="FILE", help="file to push, or - for stdin")
    p.add_argument("--json", action="store_true", help="print the full summary as JSON")
    endpoint_opts(p)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("get", help="look one user up by id (GET /users/ID, from DynamoDB)")
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument("--format", choices=["table", "json"], default="table")
    endpoint_opts(p)
    p.set_defaults(func=cmd_get)
