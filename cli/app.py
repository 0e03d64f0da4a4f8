"""``megatron``: one console script for operators and analysts, built on Faust's ``@app.command``.

Every command has ``--help``, prints a table by default and JSON with ``--json``,
and exits non-zero with a one-line reason on bad input.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import click
from faust.cli import AppCommand, option

from cli import dlq
from config.app import create_app

__all__ = ["app", "main"]

app = create_app("megatron")


def command(*options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@app.command`` with a ``--json`` flag after the command name too (``megatron X --json``)."""

    def decorate(fun: Callable[..., Any]) -> Any:
        async def run(self: AppCommand, *args: Any, as_json: bool = False, **kwargs: Any) -> Any:
            self.json = self.json or as_json
            try:
                return await fun(self, *args, **kwargs)
            except (ValueError, LookupError) as exc:  # bad input: one line, non-zero exit
                click.echo(f"megatron {fun.__name__.replace('_', '-')}: {exc}", err=True)
                raise SystemExit(2) from None

        run.__name__, run.__doc__ = fun.__name__, fun.__doc__
        return app.command(*options, option("--json", "as_json", is_flag=True, default=False,
                                            help="Print JSON instead of a table."))(run)

    return decorate


@command(option("--topic", default=None, help="Only this topic's dead letters (e.g. order-events)."))
async def dlq_list(self: AppCommand, topic: str | None) -> None:
    """List records the agents could not read, with the error and where they came from."""
    letters = await dlq.list_dead_letters(app.settings, dlq.dlq_topics(topic))
    rows = [(l.topic, l.partition, l.offset, l.service, l.key or "", l.failed_at, l.error.splitlines()[0][:80])
            for l in letters]
    self.say(self.tabulate(rows, headers=["topic", "partition", "offset", "service", "key", "failed_at", "error"],
                           title="Dead letters"))


@command(option("--topic", default=None, help="Only this topic's dead letters."),
         option("--dry-run", is_flag=True, default=False, help="Show what would be sent, send nothing."))
async def dlq_redrive(self: AppCommand, topic: str | None, dry_run: bool) -> None:
    """Send dead letters back to their source topic (each source record once); progress is remembered."""
    done = await dlq.redrive(app.settings, dlq.dlq_topics(topic), dry_run=dry_run)
    rows = [(d.letter.topic, d.letter.partition, d.letter.offset, d.letter.key or "",
             "sent" if d.sent else ("would send" if dry_run else "duplicate")) for d in done]
    self.say(self.tabulate(rows, headers=["topic", "partition", "offset", "key", "result"],
                           title="Re-driven" if not dry_run else "Would re-drive"))


def main() -> None:
    """Console-script entry point."""
    app.main()


if __name__ == "__main__":
    main()
