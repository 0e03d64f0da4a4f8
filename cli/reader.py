"""Reading the topics as an analyst does: a slice of the log, in no consumer group, committing nothing.

:class:`LogReader` takes each partition's end offset when it starts and stops there,
so a replay is a snapshot even while the services keep writing. With a start time it
asks the broker where to begin (``offsets_for_times``); the caller still filters by
each event's ``occurred_at``, which is what "inside the range" means (see
:class:`TimeRange`). Partitions are read one after another, each in offset order, so
the same log always gives the same output.

A start time is found with the broker's ``offsets_for_times`` (by the records' timestamps);
a partition with no record at or after it is not read at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from cli.errors import BadInput
from config.kafka import consumer, read_to_end, topic_partitions
from config.settings import Settings

__all__ = ["Record", "TimeRange", "parse_time", "LogReader", "CLOCK_SKEW"]

#: How much earlier than ``since`` the broker is asked to start: a record's broker timestamp is
#: taken after its event's ``occurred_at`` on the writer's clock, and clocks of hosts differ a little.
CLOCK_SKEW = timedelta(seconds=5)


@dataclass(frozen=True)
class Record:
    """One record as the broker has it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time (``2026-11-26T10:00:00Z``, ``2026-11-26 15:30+05:30``, ``2026-11-26``);
    without an offset it is UTC, like every time on the topics."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-11-26T10:00:00Z)") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class TimeRange:
    """``[since, until)`` by the events' ``occurred_at``; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"--since {self.since.isoformat()} is after --until {self.until.isoformat()}")

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> "TimeRange":
        return cls(parse_time(since, "--since") if since else None, parse_time(until, "--until") if until else None)

    def __contains__(self, at: datetime) -> bool:
        return (self.since is None or at >= self.since) and (self.until is None or at < self.until)

    def as_dict(self) -> dict[str, str | None]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None}


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class LogReader:
    """Reads ``topics`` from ``since`` (or their start) to the end offsets taken at :meth:`open`.

    ``async with LogReader(settings, topics, since) as reader: async for record in reader.records(): ...``
    """

    settings: Settings
    topics: list[str]
    since: datetime | None = None
    start: dict[TopicPartition, int] = field(default_factory=dict)
    end: dict[TopicPartition, int] = field(default_factory=dict)
    _consumer: AIOKafkaConsumer | None = None

    @property
    def total(self) -> int:
        """Records between the start and end offsets: what a progress bar counts to."""
        return sum(self.end[tp] - self.start[tp] for tp in self.start)

    async def __aenter__(self) -> "LogReader":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        self._consumer = c = consumer(self.settings)  # no group_id: joins no group, commits nothing
        try:
            await c.start()
            parts = [tp for topic in self.topics for tp in await self._partitions(topic)]
            self.end = await c.end_offsets(parts) if parts else {}
            begin = await c.beginning_offsets(parts) if parts else {}
            self.start = {tp: begin[tp] for tp in parts}
            if self.since is not None and parts:
                self.start = await self._start_at(parts, begin)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._consumer is not None:
            c, self._consumer = self._consumer, None
            await c.stop()

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        c = self._consumer
        assert c is not None
        parts = await topic_partitions(c, topic)
        if not parts:
            raise BadInput(f"no topic {topic!r} on {self.settings.kafka_broker}")
        return parts

    async def _start_at(self, parts: list[TopicPartition], begin: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The first offset of each partition at or after ``since - CLOCK_SKEW``, by the broker's offsets-for-times."""
        c = self._consumer
        assert c is not None and self.since is not None
        target = _ms(self.since - CLOCK_SKEW)
        found = await c.offsets_for_times({tp: target for tp in parts})
        start: dict[TopicPartition, int] = {}
        for tp in parts:
            answer = found.get(tp)
            offset = self.end[tp] if answer is None else answer.offset  # None: no record at or after it
            start[tp] = min(max(offset, begin[tp]), self.end[tp])
        return start

    async def records(self, progress: Callable[[int], None] | None = None) -> AsyncIterator[Record]:
        """Every record from the start to the end offsets, partition after partition, each in offset order
        (:func:`config.kafka.read_to_end`); ``progress(n)`` hears of every ``n`` records read."""
        c = self._consumer
        assert c is not None
        async for r in read_to_end(c, self.start, self.end):
            if progress is not None:
                progress(1)
            yield Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)
