"""Dead letters: list what the agents could not read, and send it back to its topic once fixed."""

from __future__ import annotations

from dataclasses import dataclass

from cli.errors import BadInput
from config.kafka import consumer, producer, read_to_end, read_topic_records, topic_partitions
from config.settings import Settings
from streams.schema import DeadLetter
from streams.topics import CATALOG, dlq_name

__all__ = ["dlq_topics", "list_dead_letters", "redrive"]


def dlq_topics(topic: str | None = None) -> list[str]:
    """The dead-letter topics, or the one of ``topic`` (its name or its ``.dlq`` name)."""
    names = {dlq_name(t.name): t.name for t in CATALOG}
    if topic is None:
        return list(names)
    for dlq, source in names.items():
        if topic in (dlq, source):
            return [dlq]
    raise BadInput(f"unknown topic {topic!r}; known: {', '.join(sorted(names.values()))}")


async def list_dead_letters(settings: Settings, topics: list[str]) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    for topic in topics:
        letters += [DeadLetter.model_validate_json(v) for _, v in await read_topic_records(settings, topic)]
    return letters


@dataclass
class Redriven:
    letter: DeadLetter
    sent: bool


async def redrive(settings: Settings, topics: list[str], dry_run: bool = False) -> list[Redriven]:
    """Send each dead letter not re-driven before back to its source topic, once per source record.

    Progress is the committed offset of the consumer group ``<prefix>-dlq-redrive``, so a
    second run sends only what arrived since; a record that fails again returns to the DLQ.
    """
    c = consumer(settings, group_id=f"{settings.app_id_prefix}-dlq-redrive")  # progress, never a member
    await c.start()
    p = producer(settings)
    await p.start()
    done: list[Redriven] = []
    seen: set[tuple[str, int, int]] = set()
    try:
        for topic in topics:
            parts = await topic_partitions(c, topic)
            if not parts:
                continue
            c.assign(parts)
            end = await c.end_offsets(parts)
            committed = {tp: (await c.committed(tp)) or 0 for tp in parts}
            async for r in read_to_end(c, committed, end):
                letter = DeadLetter.model_validate_json(r.value)
                source = (letter.topic, letter.partition, letter.offset)
                first = source not in seen
                seen.add(source)
                if first and not dry_run:
                    await p.send_and_wait(letter.topic, key=(letter.key or "").encode() or None,
                                          value=letter.value.encode(), partition=letter.partition)
                done.append(Redriven(letter, first and not dry_run))
            if not dry_run:
                c.assign(parts)  # read_to_end assigns one partition at a time; the commit is for all of them
                await c.commit({tp: end[tp] for tp in parts})
    finally:
        await p.stop()
        await c.stop()
    return done
