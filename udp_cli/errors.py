"""What every ``udp`` command shares: the user-mistake exception and the consoles.

Kept apart from ``udp_cli.cli`` so that command modules (``udp_cli.push_commands``)
can raise :class:`UserError` without importing the module that registers them.
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["UserError", "console", "err_console"]

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""
