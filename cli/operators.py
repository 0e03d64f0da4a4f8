"""Operators' commands: see what is wrong and mend it, always through events to the owners."""

from __future__ import annotations

from faust.cli import AppCommand, option

from cli import dlq
from cli.app import app, command

__all__: list[str] = []


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
