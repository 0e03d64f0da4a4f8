"""Analysts' commands: replay and study what happened, from the topics (docs/analysts.md).

They read the topics with a plain consumer that joins no group and commits nothing
(:mod:`cli.reader`), so a running service never notices them.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pymysql
from aiokafka.errors import KafkaConnectionError
from faust.cli import AppCommand, argument, option

from cli import rebuild as rebuilding
from cli import replay as replaying
from cli import report as reporting
from cli.app import app, command
from cli.errors import BadInput
from cli.reader import TimeRange
from cli.report_html import format_ms, render_html
from domain.money import format_inr

__all__: list[str] = []

SINCE = option("--since", default=None, metavar="TIME",
               help="From this time on (ISO 8601, UTC unless it has an offset), by occurred_at.")
UNTIL = option("--until", default=None, metavar="TIME", help="Before this time (ISO 8601), by occurred_at.")


@contextmanager
def reaching() -> Iterator[None]:
    """The broker or MySQL out of reach is said in one line too, not with a traceback."""
    s = app.settings
    try:
        yield
    except KafkaConnectionError as exc:
        raise BadInput(f"cannot reach the broker at {s.kafka_broker} ({exc})") from None
    except pymysql.err.OperationalError as exc:
        raise BadInput(f"cannot reach MySQL at {s.mysql_host}:{s.mysql_port} ({exc.args[-1]})") from None
    except TimeoutError as exc:
        raise BadInput(str(exc) or "the broker did not answer in time") from None


@command(argument("topics", nargs=-1),
         SINCE, UNTIL,
         option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable)."),
         option("--order", "orders", multiple=True, metavar="ORDER_ID",
                help="Only this order's events (repeatable); they come in time order."),
         option("--format", "fmt", default=None, metavar="jsonl|parquet",
                help="Output format; default jsonl, or parquet when --output ends in .parquet."),
         option("--output", default=None, metavar="FILE", help="Write to FILE instead of stdout."),
         option("--unmask", is_flag=True, default=False,
                help="Write personal data (VPA, email, phone, address, recipient) in clear; masked by default."))
async def replay(self: AppCommand, topics: tuple[str, ...], since: str | None, until: str | None,
                 types: tuple[str, ...], orders: tuple[str, ...], fmt: str | None, output: str | None,
                 unmask: bool) -> None:
    """Replay catalog topics (all public ones by default) as JSON Lines or Parquet, up to their end now.
    Personal data is masked (r***@okaxis, +91******5678) unless --unmask."""
    specs = replaying.resolve_topics(topics)
    filters = replaying.Filters.checked(specs, TimeRange.parse(since, until), types, orders)
    fmt = replaying.output_format(fmt, output)
    by_type: dict[str, int] = {}
    with reaching():
        async with replaying.Replay(app.settings, specs, filters, unmask=unmask) as run:
            try:
                with replaying.open_writer(fmt, output, sys.stdout) as writer:
                    async for item in run.events(replaying.Progress("replay")):
                        writer.write(item)
                        kind = getattr(item.event, "type")
                        by_type[kind] = by_type.get(kind, 0) + 1
            except BrokenPipeError:  # `megatron replay | head`: the reader has what it wanted
                sys.stderr.close()
                return
    if run.invalid.count:
        print(f"megatron replay: skipped {run.invalid.count} records that do not validate "
              f"(first: {run.invalid.first}); see megatron dlq-list", file=sys.stderr)
    if output is None:
        return  # stdout holds the events and nothing else
    summary = {"output": output, "format": fmt, "events": sum(by_type.values()), "records_read": run.read,
               "invalid": run.invalid.count, "masked": not unmask, "by_type": dict(sorted(by_type.items())),
               **filters.range.as_dict()}
    if self.json:
        self.say(json.dumps(summary))
        return
    rows = [[t, str(n)] for t, n in sorted(by_type.items())] + [["(all)", str(summary["events"])]]
    self.say(f"{summary['events']} events into {output} ({fmt}), {run.read} records read")
    self.say(self.tabulate(rows, headers=["type", "events"], wrap_last_row=False))


@command(SINCE, UNTIL, option("--html", default=None, metavar="FILE",
                              help="Also write the report as one self-contained HTML page with charts."))
async def report(self: AppCommand, since: str | None, until: str | None, html: str | None) -> None:
    """Checkout funnel, failures by reason, placed-to-confirmed p50/p95/p99, orders and revenue per minute."""
    time_range = TimeRange.parse(since, until)
    if html is not None and not Path(html).absolute().parent.is_dir():
        raise ValueError(f"--html {html}: no such directory {str(Path(html).absolute().parent)!r}")
    # the funnel follows orders placed in the range to their end, so read on past --until
    filters = replaying.Filters(TimeRange(time_range.since, None))
    fold = reporting.ReportFold()
    with reaching():
        async with replaying.Replay(app.settings, reporting.REPORT_TOPICS, filters) as run:
            async for item in run.events(replaying.Progress("report")):
                fold.add(item.event)
    result = fold.report(time_range)
    if html is not None:
        Path(html).write_text(render_html(result), encoding="utf-8")
    if self.json:
        self.say(json.dumps({**result.as_dict(), "html": html}))
        return
    self.say(report_tables(self, result) + (f"\nHTML report: {html}" if html else ""))


def report_tables(self: AppCommand, r: reporting.Report) -> str:
    """The report as terminal tables."""
    placed = r.funnel.get("placed", 0)
    pct = (lambda n: f"{n / placed:.1%}") if placed else (lambda n: "-")
    funnel = [[step, str(r.funnel.get(step, 0)), pct(r.funnel.get(step, 0))] for step in reporting.STEPS]
    funnel += [["failed", str(r.failed), pct(r.failed)], ["in progress", str(r.in_progress), pct(r.in_progress)]]
    lat = r.latency
    minutes = [[m.start.strftime("%Y-%m-%d %H:%M"), str(m.placed), str(m.confirmed), format_inr(m.revenue_paise)]
               for m in r.minutes]
    minutes.append(["total", str(sum(m.placed for m in r.minutes)), str(sum(m.confirmed for m in r.minutes)),
                    format_inr(r.revenue_paise)])
    range_text = f"{r.range.since.isoformat() if r.range.since else 'beginning'} .. " \
                 f"{r.range.until.isoformat() if r.range.until else 'now'}"
    return "\n".join([
        f"Checkout report, {range_text} (occurred_at, UTC)",
        self.tabulate(funnel, headers=["step", "orders", "of placed"], title="Funnel: orders placed in the range",
                      wrap_last_row=False),
        self.tabulate([[k, str(v)] for k, v in r.failures.items()] or [["(none)", "0"]],
                      headers=["reason", "orders"], title="Failures by reason", wrap_last_row=False),
        self.tabulate([[format_ms(lat["p50_ms"]), format_ms(lat["p95_ms"]), format_ms(lat["p99_ms"]),
                        format_ms(lat["max_ms"]), str(lat["orders"])]],
                      headers=["p50", "p95", "p99", "max", "orders"], title="Placed -> confirmed",
                      wrap_last_row=False),
        self.tabulate(minutes, headers=["minute (UTC)", "placed", "confirmed", "revenue"], title="Per minute",
                      wrap_last_row=False),
    ])


@command(option("--into", default=None, metavar="PREFIX",
                help="Rebuild into the databases PREFIX_orders_db, PREFIX_inventory_db, PREFIX_payment_db."),
         option("--replace", is_flag=True, default=False, help="Drop those databases first if they exist."))
async def mirror_rebuild(self: AppCommand, into: str | None, replace: bool) -> None:
    """Rebuild the MySQL mirror from the tables' changelog topics into fresh databases and compare it
    with the live mirror: every row that differs is printed, and the exit code is 1 if any does."""
    if not into:
        raise ValueError("--into PREFIX is required (the rebuilt databases are PREFIX_orders_db, ...)")
    with reaching():
        outcome = await rebuilding.mirror_rebuild(app.settings, into, replace)
    if self.json:
        self.say(json.dumps(outcome.as_dict(), default=str))
    else:
        self.say(self.tabulate([[t.table, str(t.live_rows), str(t.rebuilt_rows), str(t.differing_rows)]
                                for t in outcome.tables],
                               headers=["table", "live rows", "rebuilt rows", "rows that differ"],
                               title=f"Mirror rebuilt into {into}_*", wrap_last_row=False))
        if outcome.differences:
            self.say(self.tabulate([[d.table, d.key, d.column, str(d.live), str(d.rebuilt)]
                                    for d in outcome.differences],
                                   headers=["table", "key", "column", "live", "rebuilt"], title="Differences",
                                   wrap_last_row=False))
        ignored = ", ".join(f"{db}.{t}.{c}" for db, t, c in rebuilding.IGNORED)
        self.say(f"{'No difference' if not outcome.differences else f'{len(outcome.differences)} differences'}"
                 f" (not compared: {ignored})")
    if outcome.differences:
        raise SystemExit(1)
