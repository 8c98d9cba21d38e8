"""What every ``udp`` command shares: the user-mistake exception and the consoles.

Kept apart from ``udp_cli.cli`` so that command modules (``udp_cli.push_commands``)
can raise :class:`UserError` without importing the module that registers them.
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["UserError", "console", "err_console"]

# soft_wrap: a line of text (a path, a log file, a one-line error) is never broken at the
# terminal's width, so it can be copied or parsed; tables still fit the width
console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""
