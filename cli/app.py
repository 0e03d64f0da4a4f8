"""The app behind ``megatron`` and the decorator every command uses.

Every command has ``--help``, prints a table by default and JSON with ``--json``,
and exits non-zero with a one-line reason on bad input (:class:`cli.errors.BadInput`).
"""

from __future__ import annotations

from typing import Any, Callable

import click
from faust.cli import AppCommand, option

from cli.errors import BadInput
from config.app import create_app

__all__ = ["app", "command"]

app = create_app("megatron")


def command(*options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@app.command`` with a ``--json`` flag after the command name too (``megatron X --json``)."""

    def decorate(fun: Callable[..., Any]) -> Any:
        async def run(self: AppCommand, *args: Any, as_json: bool = False, **kwargs: Any) -> Any:
            self.json = self.json or as_json
            try:
                return await fun(self, *args, **kwargs)
            except (BadInput, ValueError) as exc:  # bad input (a malformed value too): one line, exit 2
                click.echo(f"megatron {fun.__name__.replace('_', '-')}: {exc}", err=True)
                raise SystemExit(2) from None

        run.__name__, run.__doc__ = fun.__name__, fun.__doc__
        return app.command(*options, option("--json", "as_json", is_flag=True, default=False,
                                            help="Print JSON instead of a table."))(run)

    return decorate
