"""``megatron replay``: the catalog's events in today's shape, filtered, as JSON Lines or Parquet.

Each record is decoded the way the services decode it (upcast, then validated by its
catalog entry), so the output has one shape whatever ``schema_version`` wrote it. A
record that does not validate is counted and skipped (the services parked it on the
dead-letter topic). Output order: topic by topic, partition by partition, each in
offset order (so the same log gives the same file, and memory stays flat whatever its
size); with ``--order`` the few events of those orders come sorted by ``occurred_at``,
so an order's story reads from top to bottom.

Personal data is masked by default, in every format (DESIGN.md): ``payment.vpa``,
``contact.email`` and ``contact.phone``, ``shipping_address`` (city, state and the PIN code's
district kept), a notification's ``recipient`` and ``error``, an operator's ``note``
(:func:`domain.privacy.mask_record`). ``--unmask`` writes them in clear.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, AsyncIterator, Iterator, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from cli.reader import LogReader, Record, TimeRange
from config.settings import Settings
from domain.privacy import mask_record
from streams.events import Message
from streams.topics import BY_NAME, CATALOG, TopicSpec
from streams.upcasters import upcast

__all__ = ["FORMATS", "resolve_topics", "Filters", "Replayed", "decode", "Replay", "open_writer",
           "JsonLinesWriter", "ParquetWriter", "PARQUET_SCHEMA", "Progress", "output_format", "masked_json"]

FORMATS = ("jsonl", "parquet")


def resolve_topics(names: tuple[str, ...] | list[str]) -> list[TopicSpec]:
    """The catalog entries named (every public topic when none is), each once, in the order given."""
    if not names:
        return [t for t in CATALOG if t.public]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown topic {unknown[0]!r}; the catalog has "
                         f"{', '.join(t.name for t in CATALOG)}")
    return [BY_NAME[n] for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class Filters:
    """Which events to keep: inside the time range, of these types, of these orders (empty = all)."""

    range: TimeRange = TimeRange()
    types: frozenset[str] = frozenset()
    orders: frozenset[str] = frozenset()

    @classmethod
    def checked(cls, specs: list[TopicSpec], range: TimeRange, types: tuple[str, ...] | list[str] = (),
                orders: tuple[str, ...] | list[str] = ()) -> "Filters":
        """Filters whose every ``--type`` is carried by one of ``specs`` (else a typo would replay nothing)."""
        known = sorted({t for spec in specs for t in spec.event_types})
        unknown = [t for t in types if t not in known]
        if unknown:
            raise ValueError(f"unknown event type {unknown[0]!r} for {', '.join(s.name for s in specs)}; "
                             f"known: {', '.join(known)}")
        return cls(range, frozenset(types), frozenset(orders))

    def keep(self, event: Message) -> bool:
        return ((not self.types or getattr(event, "type", None) in self.types)
                and (not self.orders or event.order_id in self.orders)
                and event.occurred_at in self.range)


def masked_json(event: Message) -> str:
    """The event's JSON with its personal data masked, in the models' own compact form."""
    return json.dumps(mask_record(event.model_dump(mode="json")), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Replayed:
    """An event in today's shape and the record it came from; ``masked``: its JSON hides personal data."""

    record: Record
    event: Message
    masked: bool = False

    @property
    def json(self) -> str:
        """What every writer writes: the event as the models dump it, masked unless ``--unmask``."""
        return masked_json(self.event) if self.masked else self.event.model_dump_json()


def decode(spec: TopicSpec, value: bytes) -> Message:
    """A record's value as the services read it: JSON, upcast to today's shape, validated by its catalog entry."""
    return spec.adapter.validate_python(upcast(json.loads(value)))


@dataclass
class Invalid:
    """Records that did not decode; the first one tells why."""

    count: int = 0
    first: str = ""

    def add(self, record: Record, exc: Exception) -> None:
        self.count += 1
        if not self.first:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.first = f"{record.topic}[{record.partition}]@{record.offset}: {reason}"


class ProgressSink(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


@dataclass
class Replay:
    """The filtered events of ``specs``, read once from the log: ``async with Replay(...) as r: r.events()``.

    Their JSON masks personal data unless ``unmask`` (the safe default for whoever writes it out)."""

    settings: Settings
    specs: list[TopicSpec]
    filters: Filters = Filters()
    unmask: bool = False
    invalid: Invalid = field(default_factory=Invalid)
    read: int = 0
    _reader: LogReader | None = None

    async def __aenter__(self) -> "Replay":
        self._reader = LogReader(self.settings, [s.name for s in self.specs], self.filters.range.since)
        await self._reader.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            await self._reader.close()

    @property
    def total(self) -> int:
        """Records to read (from the start offsets to the end offsets)."""
        return self._reader.total if self._reader else 0

    async def events(self, progress: ProgressSink | None = None) -> AsyncIterator[Replayed]:
        """The kept events in log order; with ``--order`` (a few orders' stories) in time order."""
        if not self.filters.orders:
            async for item in self._events(progress):
                yield item
            return
        kept = [item async for item in self._events(progress)]
        for item in sorted(kept, key=lambda i: (i.event.occurred_at, i.record.topic, i.record.partition,
                                                i.record.offset)):
            yield item

    async def _events(self, progress: ProgressSink | None = None) -> AsyncIterator[Replayed]:
        assert self._reader is not None, "use: async with Replay(...)"
        if progress is not None:
            progress.start(self.total)
        orders = {o.encode() for o in self.filters.orders}
        try:
            async for record in self._reader.records(progress.advance if progress else None):
                self.read += 1
                spec = BY_NAME[record.topic]
                if record.value is None:
                    continue  # a tombstone: nothing happened
                if orders and spec.key == "order_id" and record.key not in orders:
                    continue  # the key is the order id: no need to parse what is not asked for
                try:
                    event = decode(spec, record.value)
                except (ValueError, ValidationError, TypeError, RecursionError) as exc:
                    self.invalid.add(record, exc)
                    continue
                if self.filters.keep(event):
                    yield Replayed(record, event, masked=not self.unmask)
        finally:
            if progress is not None:
                progress.finish()


class Progress:
    """A progress bar on stderr, only when stderr is a terminal (never in a pipe or a log)."""

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total = 0
        self.done = 0
        self._drawn = 0.0

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._draw()

    def finish(self) -> None:
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        share = self.done / self.total if self.total else 1.0
        width = 30
        bar = "█" * int(share * width) + "░" * (width - int(share * width))
        self.stream.write(f"\r{self.label} {bar} {share:4.0%}  {self.done:,}/{self.total:,} records")
        self.stream.flush()


# --- writers -------------------------------------------------------------------------------

class Writer(Protocol):
    count: int

    def write(self, item: Replayed) -> None: ...
    def close(self) -> None: ...


class JsonLinesWriter:
    """One event per line, today's shape, exactly as the models dump it."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.count = 0

    def write(self, item: Replayed) -> None:
        self.stream.write(item.json + "\n")
        self.count += 1

    def close(self) -> None:
        self.stream.flush()


PARQUET_SCHEMA = pa.schema([
    pa.field("topic", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),  # the record's, on the broker
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("order_id", pa.string(), nullable=False),
    pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("event", pa.string(), nullable=False),  # the whole event as JSON, as in the JSON Lines output
])


class ParquetWriter:
    """One row per event: the common fields as columns, the whole event as a JSON column."""

    BATCH = 5000

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(str(path), PARQUET_SCHEMA, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def write(self, item: Replayed) -> None:
        e, r = item.event, item.record
        self._rows.append({
            "topic": r.topic, "partition": r.partition, "offset": r.offset,
            "timestamp": r.timestamp_ms,
            "event_id": e.event_id, "type": getattr(e, "type"), "order_id": e.order_id,
            "occurred_at": e.occurred_at, "schema_version": e.schema_version, "event": item.json,
        })
        self.count += 1
        if len(self._rows) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=PARQUET_SCHEMA))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def output_format(fmt: str | None, output: str | None) -> str:
    """``--format`` as given, else from the output's name (``*.parquet``), else JSON Lines."""
    if fmt is None:
        fmt = "parquet" if output and Path(output).suffix in (".parquet", ".pq") else "jsonl"
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}; use jsonl or parquet")
    if fmt == "parquet" and not output:
        raise ValueError("--format parquet needs --output FILE (Parquet is a file, not a stream)")
    if output and not Path(output).absolute().parent.is_dir():
        raise ValueError(f"--output {output}: no such directory {str(Path(output).absolute().parent)!r}")
    return fmt


@contextmanager
def open_writer(fmt: str, output: str | None, stdout: IO[str]) -> Iterator[Writer]:
    """The writer for ``fmt``, to stdout or to ``output``; a file is written under a temporary name
    and renamed once complete, so a replay that fails leaves no half file behind."""
    if output is None:
        writer: Writer = JsonLinesWriter(stdout)
        yield writer
        writer.close()
        return
    target = Path(output)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    file: IO[str] | None = None
    try:
        if fmt == "parquet":
            writer = ParquetWriter(tmp)
        else:
            file = tmp.open("w", encoding="utf-8")
            writer = JsonLinesWriter(file)
        yield writer
        writer.close()
        if file is not None:
            file.close()
        tmp.replace(target)
    finally:
        if file is not None and not file.closed:
            file.close()
        tmp.unlink(missing_ok=True)
