"""``udp erase``: remove users from every layer, and ``--verify`` that they are gone
(docs/operate/erasure.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from udp_cli.errors import UserError, console

__all__ = ["EXIT_FOUND", "EXIT_UNFINISHED", "add_erase_commands"]

EXIT_FOUND = 1
"""``--verify`` found one of the user's values somewhere."""
EXIT_UNFINISHED = 75
"""A day was held by another run (or failed to republish): run ``udp erase`` again."""


def _ids(args: argparse.Namespace) -> list[str]:
    from contracts.erasure import InvalidUserId, parse_user_ids

    values = list(args.user_ids)
    if args.from_file:
        try:
            values += Path(args.from_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {args.from_file}: {exc}") from None
    try:
        ids = parse_user_ids(values)
    except InvalidUserId as exc:
        raise UserError(str(exc)) from None
    if not ids:
        raise UserError("no user id given (USER_ID ... or --from-file F)")
    return ids


def _cloud(state_dir: Path) -> Any:
    from local_aws.facade import local_cloud

    return local_cloud(state_dir)


def cmd_erase(args: argparse.Namespace) -> int:
    from local_aws.facade import erasure_errors

    PushServerRunning, UnknownErasure = erasure_errors()

    ids = _ids(args)
    if not Path(args.state_dir).is_dir():
        raise UserError(f"no state folder {args.state_dir}")
    with _cloud(args.state_dir) as cloud:
        erasure = cloud.erasure()
        if args.verify:
            found = 0
            for uid in ids:
                try:
                    counts = erasure.verify(uid)
                except UnknownErasure as exc:
                    raise UserError(str(exc)) from None
                found += sum(counts.values())
                if args.format == "json":
                    print(json.dumps({"occurrences": counts}))
                    continue
                for layer, n in counts.items():
                    console.print(f"{layer:<18} {n} occurrence{'s' * (n != 1)}", markup=False)
            return EXIT_FOUND if found else 0
        try:
            report = erasure.erase(ids)
        except PushServerRunning as exc:
            print(f"udp: refused: {exc}", file=sys.stderr)
            return EXIT_UNFINISHED
    if args.format == "json":
        print(json.dumps(report.as_dict()))
    else:
        console.print(f"erasure {report.request_id}: {report.users} user(s), "
                      f"{len(report.days_affected)} day(s) affected, "
                      f"{len(report.days_done)} republished", markup=False)
        for layer, counts in report.layers.items():
            console.print(f"  {layer:<12} {counts.get('rows_removed', 0)} rows removed, "
                          f"{counts.get('objects_rewritten', 0)} objects rewritten, "
                          f"{counts.get('versions_deleted', 0)} older versions deleted",
                          markup=False)
    if not report.complete:
        held = ", ".join(report.days_held + report.days_failed)
        print(f"udp: refused: not finished: {held} held by another run or not "
              "republished; run the same `udp erase` again", file=sys.stderr)
        return EXIT_UNFINISHED
    return 0


def add_erase_commands(sub: Any) -> None:
    p = sub.add_parser("erase", help="erase users from every layer (or --verify they are "
                                     "gone)")
    p.add_argument("user_ids", nargs="*", metavar="USER_ID")
    p.add_argument("--from-file", metavar="F", help="more ids, one a line")
    p.add_argument("--verify", action="store_true",
                   help="scan every layer for the users' ids and stored values; exit 1 "
                        "if any is found")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_erase)
