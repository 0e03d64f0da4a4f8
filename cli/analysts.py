"""Analysts' commands: replay and study what happened, from the topics.

They read the topics with a plain consumer that joins no group and commits nothing
(:mod:`cli.reader`), so a running service never notices them.
"""

from __future__ import annotations

import json
import sys

from faust.cli import AppCommand, argument, option

from cli import replay as replaying
from cli.app import app, command
from cli.reader import TimeRange

__all__: list[str] = []

SINCE = option("--since", default=None, metavar="TIME",
               help="From this time on (ISO 8601, UTC unless it has an offset), by occurred_at.")
UNTIL = option("--until", default=None, metavar="TIME", help="Before this time (ISO 8601), by occurred_at.")


@command(argument("topics", nargs=-1),
         SINCE, UNTIL,
         option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable)."),
         option("--order", "orders", multiple=True, metavar="ORDER_ID", help="Only this order's events (repeatable)."),
         option("--format", "fmt", default=None, metavar="jsonl|parquet",
                help="Output format; default jsonl, or parquet when --output ends in .parquet."),
         option("--output", default=None, metavar="FILE", help="Write to FILE instead of stdout."))
async def replay(self: AppCommand, topics: tuple[str, ...], since: str | None, until: str | None,
                 types: tuple[str, ...], orders: tuple[str, ...], fmt: str | None, output: str | None) -> None:
    """Replay catalog topics (all public ones by default) as JSON Lines or Parquet, up to their end now."""
    specs = replaying.resolve_topics(topics)
    filters = replaying.Filters.checked(specs, TimeRange.parse(since, until), types, orders)
    fmt = replaying.output_format(fmt, output)
    by_type: dict[str, int] = {}
    async with replaying.Replay(app.settings, specs, filters) as run:
        try:
            with replaying.open_writer(fmt, output, sys.stdout) as writer:
                async for item in run.events(replaying.Progress("replay")):
                    writer.write(item)
                    by_type[item.event.type] = by_type.get(item.event.type, 0) + 1  # type: ignore[attr-defined]
        except BrokenPipeError:  # `megatron replay | head`: the reader has what it wanted
            sys.stderr.close()
            return
    if run.invalid.count:
        print(f"megatron replay: skipped {run.invalid.count} records that do not validate "
              f"(first: {run.invalid.first}); see megatron dlq-list", file=sys.stderr)
    if output is None:
        return  # stdout holds the events and nothing else
    summary = {"output": output, "format": fmt, "events": sum(by_type.values()), "records_read": run.read,
               "invalid": run.invalid.count, "by_type": dict(sorted(by_type.items())), **filters.range.as_dict()}
    if self.json:
        self.say(json.dumps(summary))
        return
    rows = [[t, str(n)] for t, n in sorted(by_type.items())] + [["(all)", str(summary["events"])]]
    self.say(self.tabulate(rows, headers=["type", "events"], title=f"Replayed into {output} ({fmt})",
                           wrap_last_row=False))
