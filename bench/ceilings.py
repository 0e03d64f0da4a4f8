"""The two ceilings the pipeline is compared with, measured on the same broker in the same run.

(a) the broker: aiokafka producing and then consuming ~300-byte keyed JSON on an
8-partition topic with the clients every non-Faust part of the project uses
(``config.kafka``: acks=all, the services' linger and batch size);
(b) the framework: one bare Faust agent (``bench.passthrough``) passing those
messages from one topic to another as a real ``faust worker`` process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from bench.offsets import end_offsets
from bench.procstat import cpu_seconds, memory_mb
from bench.stack import Stack
from config.kafka import bootstrap_servers, consumer, create_topics, producer, topic_partitions
from config.settings import Settings

__all__ = ["bench_messages", "broker_ceiling", "agent_ceiling", "delete_topics"]

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_BYTES = 300


def bench_messages(n: int, keys: int = 1000) -> list[tuple[bytes, bytes]]:
    """``n`` keyed JSON messages of about 300 bytes, shaped like the platform's events."""
    out = []
    now = datetime.now(timezone.utc).isoformat()
    for i in range(n):
        key = f"order-{i % keys:06d}"
        body = {"event_id": uuid.uuid4().hex, "type": "BenchEvent", "order_id": key, "occurred_at": now,
                "schema_version": 1, "sku": "IPHONE-15", "quantity": 1, "seq": i, "pad": ""}
        raw = json.dumps(body, separators=(",", ":"))
        body["pad"] = "x" * max(0, MESSAGE_BYTES - len(raw))
        out.append((key.encode(), json.dumps(body, separators=(",", ":")).encode()))
    return out


async def _produce(settings: Settings, topic: str, messages: list[tuple[bytes, bytes]], budget_s: float
                   ) -> tuple[int, float]:
    """Send with one task per partition (aiokafka holds one open batch per partition, so a single
    sender would wait on each ack in turn); returns (acknowledged, seconds)."""
    p = producer(settings)
    await p.start()
    try:
        parts = sorted(await p.partitions_for(topic))
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        partitioner = DefaultPartitioner()
        for key, value in messages:
            by_partition[partitioner(key, parts, parts)].append((key, value))
        started = time.perf_counter()
        deadline = started + budget_s

        async def send_all(partition: int, batch: list[tuple[bytes, bytes]]) -> int:
            futures = []
            for key, value in batch:
                if time.perf_counter() > deadline:
                    break
                futures.append(await p.send(topic, key=key, value=value, partition=partition))
            await asyncio.gather(*futures)
            return len(futures)

        sent = sum(await asyncio.gather(*(send_all(part, batch) for part, batch in by_partition.items())))
        return sent, time.perf_counter() - started
    finally:
        await p.stop()


async def _read(settings: Settings, topic: str, expected: int, timeout: float) -> tuple[int, float, list[int]]:
    """Read ``topic`` from offset 0 until ``expected`` records; returns (count, seconds, timestamps ms)."""
    c = consumer(settings)
    await c.start()
    try:
        parts = await topic_partitions(c, topic)
        c.assign(parts)
        await c.seek_to_beginning(*parts)
        stamps: list[int] = []
        started = time.perf_counter()
        deadline = started + timeout
        while len(stamps) < expected and time.perf_counter() < deadline:
            batch = await c.getmany(timeout_ms=500)
            for records in batch.values():
                stamps += [r.timestamp for r in records]
        return len(stamps), time.perf_counter() - started, stamps
    finally:
        await c.stop()


async def delete_topics(settings: Settings, names: list[str]) -> str | None:
    """Remove the bench's own topics; returns why not when the broker refuses."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    await admin.start()
    try:
        await admin.delete_topics(names)
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await admin.close()


async def broker_ceiling(settings: Settings, run_id: str, n: int, budget_s: float, partitions: int = 8
                         ) -> dict[str, object]:
    """(a) produce then consume ``n`` messages on a fresh ``partitions``-partition topic."""
    topic = f"bench-ceiling-{run_id}"
    await create_topics(settings, [topic], partitions)
    messages = bench_messages(n)
    sent, produce_s = await _produce(settings, topic, messages, budget_s)
    read, consume_s, _ = await _read(settings, topic, sent, budget_s)
    return {
        "topic": topic, "partitions": partitions, "message_bytes": len(messages[0][1]),
        "producer": f"config.kafka.producer: acks=all, linger {settings.producer_linger_ms} ms, "
                    f"max_batch_size={settings.producer_max_batch_size}",
        "consumer": "config.kafka.consumer: aiokafka's defaults",
        "produced": sent, "produce_s": round(produce_s, 3),
        "produce_msgs_per_s": round(sent / produce_s) if produce_s else None,
        "consumed": read, "consume_s": round(consume_s, 3),
        "consume_msgs_per_s": round(read / consume_s) if consume_s else None,
    }


async def agent_ceiling(stack: Stack, run_id: str, n: int, budget_s: float, log_dir: Path,
                        await_ack: bool = False) -> dict[str, object]:
    """(b) preload ``n`` messages, start ``faust -A bench.passthrough worker``, time its output.

    The rate is taken from the output records' own timestamps (first to last), so the
    worker's start-up and group join are not in it; they are reported apart.
    """
    s = stack.settings
    variant = "ack" if await_ack else "send"
    name = f"bench-passthrough-{variant}-{run_id}"
    source, sink = f"bench-agent-{variant}-in-{run_id}", f"bench-agent-{variant}-out-{run_id}"
    await create_topics(s, [source, sink], s.topic_partitions)
    preloaded, _ = await _produce(s, source, bench_messages(n), budget_s)
    env = {**stack.env, "BENCH_AGENT_NAME": name, "BENCH_AGENT_SOURCE": source, "BENCH_AGENT_SINK": sink,
           "BENCH_AGENT_AWAIT_ACK": "1" if await_ack else "0",
           "DATA_DIR": str(stack.workdir / "agent-data"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    (stack.workdir / "agent-data").mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"bench-passthrough-{variant}.log"
    argv = [str(Path(sys.executable).parent / "faust"), "-A", "bench.passthrough", "worker", "-l", "warn"]
    spawned = time.time()
    with log_path.open("ab") as log:
        worker = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    cpu_s = peak_rss = None
    cpu_msgs = 0
    done = 0
    first: tuple[int, float] | None = None  # (passed, cpu s) when output was first seen: start-up excluded
    try:
        deadline = time.monotonic() + budget_s + 60  # start-up and group join come on top of the work
        progress_at = time.monotonic()
        while time.monotonic() < deadline and worker.poll() is None:
            now_done = sum((await end_offsets(s, [sink])).values())
            if now_done != done:
                done, progress_at = now_done, time.monotonic()
            if done and first is None:
                first = (done, cpu_seconds(worker.pid) or 0.0)
            # all passed; or stalled (the worker lost records or hung: reported as incomplete)
            if done >= preloaded or (done and time.monotonic() - progress_at > 3.0):
                break
            await asyncio.sleep(0.25)
        end_cpu = cpu_seconds(worker.pid)
        if first is not None and end_cpu is not None and done > first[0]:
            cpu_s = round(end_cpu - first[1], 2)
            cpu_msgs = done - first[0]
        peak_rss = memory_mb(worker.pid)["peak_rss_mb"]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    count, _, stamps = await _read(s, sink, preloaded, 10 if done >= preloaded else 5)
    span_s = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else 0.0
    ordered = sorted(stamps)
    longest_pause_s = max((b - a for a, b in zip(ordered, ordered[1:])), default=0) / 1000
    per_second = [0] * (int(span_s) + 1)
    for stamp in ordered:
        per_second[int((stamp - ordered[0]) / 1000)] += 1
    full_seconds = sorted(per_second[:-1])  # the last second is partial
    return {
        "app": f"{s.app_id_prefix}-{name}", "source": source, "sink": sink, "partitions": s.topic_partitions,
        "settings": "config.app.create_app (the services' factory): acks=all, producer linger "
                    f"{s.producer_linger_ms} ms, max_batch_size={s.producer_max_batch_size}, concurrency 1",
        "send": "each send's ack awaited, as ServiceApp.emit does" if await_ack
                else "Faust's send: handed to the producer, ack not awaited",
        "preloaded": preloaded, "passed": count, "complete": count >= preloaded,
        "msgs_per_s": round((count - 1) / span_s) if span_s > 0 else None,
        "work_s": round(span_s, 3),
        "median_second_msgs": full_seconds[len(full_seconds) // 2] if full_seconds else None,
        "longest_pause_s": round(longest_pause_s, 3),
        "start_to_first_output_s": round(min(stamps) / 1000 - spawned, 2) if stamps else None,
        "worker_cpu_s_while_passing": cpu_s, "worker_peak_rss_mb": peak_rss,
        "cpu_s_per_1000_msgs": round(cpu_s / cpu_msgs * 1000, 3) if cpu_s else None,
        "log": str(log_path),
    }
