"""The bare Faust agent of the ceiling: one topic to another, nothing else, with the services' settings.

Run by the bench as ``faust -A bench.passthrough worker``. It is built by the same
factory as every service (``config.app.create_app``: same broker URL and transport,
acks, linger and batch size, session timeout), so its
rate is the framework's own limit for the pipeline's kind of hop on this machine.
Two ways to send, chosen by ``BENCH_AGENT_AWAIT_ACK``: ``0`` is Faust's own way
(``send`` hands the record to the producer and the agent goes on), ``1`` waits for the
broker's ack of every record as ``ServiceApp.emit`` does. Names come from the
environment the bench sets.
"""

from __future__ import annotations

import os

from config.app import create_app

__all__ = ["app", "passthrough"]

app = create_app(os.environ.get("BENCH_AGENT_NAME", "bench-passthrough"))
source = app.topic(os.environ.get("BENCH_AGENT_SOURCE", "bench-agent-in"), partitions=app.settings.topic_partitions)
sink = app.topic(os.environ.get("BENCH_AGENT_SINK", "bench-agent-out"), partitions=app.settings.topic_partitions)


AWAIT_ACK = os.environ.get("BENCH_AGENT_AWAIT_ACK", "0") == "1"


@app.agent(source)
async def passthrough(stream):  # type: ignore[no-untyped-def]
    """For each record, send it on unchanged (and, with ``AWAIT_ACK``, wait for the broker's ack)."""
    async for key, value in stream.items():
        sent = await sink.send(key=key, value=value)
        if AWAIT_ACK:
            await sent
