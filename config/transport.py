"""Faust's aiokafka transport, handing each partition's records on in order.

Faust can hand its agents a partition's records with a hole, count the hole as acknowledged
and commit past records no agent handled (the race is told in ``config.delivery``). The
consumer here re-reads the partition instead, through a ``DeliveryGuard``;
``KAFKA_DELIVERY_GAP_PATIENCE_S=0`` gives Faust's behaviour back.

The transport is registered through the ``faust.transports`` entry point for the URL scheme
``kafka-ordered://``; ``config.app.broker_url`` gives Faust that scheme.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka.errors import (
    InvalidReplicationFactorError, KafkaConnectionError, KafkaError, NodeNotReadyError, RequestTimedOutError,
)
from faust.exceptions import NotReady
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode import Service

from config.delivery import DeliveryGuard, Verdict
from config.settings import get_settings

__all__ = ["Transport", "SCHEME"]

SCHEME = "kafka-ordered"
CREATE_TOPIC_PATIENCE_S = 30.0  # a KRaft cluster of three elects a new leader well within this
COORDINATOR_ERRORS_EVERY_S = 0.5  # how soon a joining worker takes an error aiokafka holds for it

log = logging.getLogger(__name__)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, which also takes the group coordinator's errors when Faust does not.

    aiokafka hands an error of its group coordination (a JoinGroup or SyncGroup answered with an
    unexpected error, as a Kafka node going away answers) to the next ``getmany`` and waits for it to
    be taken before it joins again. Faust fetches only with partitions assigned and flow running, so
    a worker that was joining (starting, or in a rebalance) never took it and stood still: ``make
    chaos`` (seed 5) saw an order and an inventory worker wait 180 s after one such answer."""

    @Service.timer(COORDINATOR_ERRORS_EVERY_S)
    async def _coordinator_errors(self) -> None:
        self.take_coordinator_error()

    def take_coordinator_error(self) -> BaseException | None:
        """Take (and log) the error the coordinator waits on, so it tries again; None if there is none."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is None or getattr(coordinator, "_pending_exception", None) is None:
            return None
        try:
            coordinator.check_errors()
        except Exception as exc:
            log.warning("group coordination failed (%s: %s); joining again", type(exc).__name__, exc)
            return exc
        return None


class Consumer(faust_aiokafka.Consumer):
    """Faust's consumer, handing each partition's records on without holes."""

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def guard(self) -> DeliveryGuard:
        guard: DeliveryGuard | None = self.__dict__.get("_delivery_guard")
        if guard is None:
            guard = self.__dict__["_delivery_guard"] = DeliveryGuard(get_settings().kafka_delivery_gap_patience_s)
        return guard

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        if self.guard.patience <= 0:
            async for tp, message in super().getmany(timeout):
                yield tp, message
            return
        rereading: set[TP] = set()  # sought back: the rest of this fetch is stale for them
        for tp, head in self._dropped_heads():
            await self._reread(rereading, tp, head, "was dropped unhandled (no agent holds it)")
            self.guard.positioned(tp, head)
        async for tp, message in super().getmany(timeout):
            if tp in rereading:
                continue
            if not self.app.topics.acks_enabled_for(tp.topic):  # changelogs: compacted, read by recovery
                yield tp, message
                continue
            if self.__dict__.get("_seek_pending"):
                # recovery resumed the partitions before its seek to the committed offsets: this record
                # comes from wherever aiokafka stood, and is read again from the committed offset
                continue
            expected = self.guard.expected(tp)
            verdict = self.guard.check(tp, message.offset)
            if verdict is Verdict.REREAD:  # the gap's clock keeps running: the guard is not told of this seek
                assert expected is not None
                await self._reread(rereading, tp, expected, f"is missing: fetched {message.offset} first")
                continue
            read = self._read_offset.get(tp)
            if verdict is Verdict.DELIVER and message.offset == expected and read is not None and read > expected:
                # owed to the agents, yet Faust's read offset is past it (a seek raced a fetch):
                # its drain loop would drop the record as "already read"
                log.info("%s[%d]: offset %d is owed to the agents though read up to %d; handing it on",
                         tp.topic, tp.partition, message.offset, read)
                self._read_offset[tp] = message.offset
            if verdict is Verdict.ACCEPT_GAP:
                log.warning("%s[%d]: offsets %s..%d are not on the broker after %.1fs; going on",
                            tp.topic, tp.partition, expected, message.offset - 1, self.guard.patience)
                self._count("delivery_gaps", tp.topic)
                if expected is not None:  # nothing there to handle
                    self.guard.handled(tp, expected, until=message.offset)
            yield tp, message

    async def _reread(self, rereading: set[TP], tp: TP, offset: int, why: str) -> None:
        """Seek ``tp`` back to ``offset``; the rest of the current fetch is stale for it."""
        rereading.add(tp)
        log.warning("%s[%d]: offset %d %s; re-reading from it", tp.topic, tp.partition, offset, why)
        self._count("delivery_rereads", tp.topic)
        await super().seek_wait({tp: offset})

    def _new_offset(self, tp: TP) -> int | None:
        """Where ``tp``'s commit may go. With agents that report what they handled: below every record
        they did not handle. Otherwise Faust's, without its off-by-one: never past an offset no agent
        acknowledged."""
        committed = self._committed_offset[tp]
        upto = self.guard.handled_upto(tp) if self.guard.patience > 0 else None
        if upto is None and self.guard.patience > 0 and self.guard.track_handled:
            # between a revoke (the guard forgets) and the seek of the next assignment (it starts again):
            # nothing handled in this assignment yet, so nothing to commit. Faust's own offset would
            # count records acknowledged unhandled, dropped as stale by the rebalance (chaos seed 5:
            # a commit of order-commands[2] at 1186 with 968..1185 never handled, 354 orders lost)
            return None
        if upto is not None:
            acked = self._acked[tp]
            done = [offset for offset in acked if offset < upto]  # Faust keeps it sorted
            if done:
                del acked[:len(done)]
                self._acked_index[tp].difference_update(done)
            if self._gap[tp]:
                self._gap[tp].chop(0, upto)
            if acked or self.guard.handled_past_hole(tp):
                self.guard.head_blocked(tp, upto)  # the record at ``upto`` is in hand, or was dropped
            else:
                self.guard.head_moved(tp)
            return upto if committed is None or upto > committed else None
        if (self.guard.patience > 0 and committed is not None and self._acked[tp]
                and committed not in self._acked_index[tp] and not self._gap[tp].overlaps_point(committed)):
            self.guard.head_blocked(tp, committed)
            return None
        self.guard.head_moved(tp)
        return super()._new_offset(tp)

    def _dropped_heads(self) -> list[tuple[TP, int]]:
        """Blocked heads that no agent holds (a rebalance cleared them from a queue): re-read them."""
        pending = self.guard.heads_to_check
        if not pending:
            return []
        in_hand = {(m.tp, m.offset) for m in list(self._unacked_messages)}
        dropped = [(tp, head) for tp, head in pending.items()
                   if (tp, head) not in in_hand and tp in self.assignment() and self._still_at(tp, head)]
        pending.clear()
        return dropped

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.__dict__["_seek_pending"] = self.guard.patience > 0  # until recovery's seek (perform_seek)
        await super().on_partitions_assigned(assigned, generation_id)

    def _still_at(self, tp: TP, head: int) -> bool:
        """The head a commit waits for is still unhandled (unacknowledged, for Faust's bookkeeping)."""
        upto = self.guard.handled_upto(tp)
        if upto is not None:
            return upto == head
        return self._committed_offset[tp] == head and head not in self._acked_index[tp]

    async def perform_seek(self) -> None:
        try:
            await super().perform_seek()
            sources = [tp for tp in self.assignment() if self.app.topics.acks_enabled_for(tp.topic)]
            for tp, offset in self._read_offset.items():  # the committed offsets, now the positions
                self.guard.positioned(tp, offset)
            if self.app.conf.consumer_auto_offset_reset == "earliest":
                # nothing committed nor handed on yet: the agents are owed the partition from its start
                fresh = self.guard.unknown(sources)
                if fresh:
                    for tp, offset in (await self.earliest_offsets(*fresh)).items():
                        self.guard.positioned(tp, offset)
            for tp in sources:  # what the agents handle is counted from here
                start = self.guard.expected(tp)
                if start is not None:
                    self.guard.start(tp, start)
        finally:
            self.__dict__["_seek_pending"] = False
        log.info("delivery positions after seek: %s", " ".join(
            f"{tp.topic}[{tp.partition}]={self.guard.expected(tp)}" for tp in sorted(self.assignment())
            if self.app.topics.acks_enabled_for(tp.topic)))

    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self.guard.positioned(partition, offset)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        await super().seek_wait(partitions)
        for tp, offset in partitions.items():
            self.guard.positioned(tp, offset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        await super().on_partitions_revoked(revoked)
        self.guard.forget(revoked)

    def _count(self, metric: str, topic: str) -> None:
        metrics = getattr(self.app, "metrics", None)
        if metrics is not None:
            getattr(metrics, metric)(topic).inc()


def _passing(exc: Exception) -> bool:
    """True for what a node going away or coming back makes CreateTopics answer: no connection, no answer,
    a controller that moved (Faust's RuntimeError), or too few nodes registered yet for the replication."""
    if isinstance(exc, (KafkaConnectionError, NodeNotReadyError, RequestTimedOutError, NotReady,
                        InvalidReplicationFactorError)):
        return True
    return isinstance(exc, RuntimeError) and str(exc).startswith("Invalid controller")


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer above, and topic creation that survives a node down."""

    Consumer = Consumer

    async def _create_topic(self, owner: Any, client: Any, topic: str, partitions: int, replication: int,
                            **kwargs: Any) -> None:
        """Faust's topic creation, asked again while a node goes away under it.

        A worker (re)started during a broker fault asked a live node for the controller, and that node
        was killed before the CreateTopics request was answered: the connection closed, the worker
        exited with status 1 (``make chaos``, seed 4). The next try asks the nodes still up. A node that was
        the controller, or a cluster with one node not registered again yet, passes as well."""
        deadline = time.monotonic() + CREATE_TOPIC_PATIENCE_S
        pause = 0.25
        while True:
            try:
                return await super()._create_topic(owner, client, topic, partitions, replication, **kwargs)
            except Exception as exc:
                if not _passing(exc) or time.monotonic() + pause > deadline:
                    raise
                log.info("topic %s not created (%s: %s); again in %.2fs", topic, type(exc).__name__, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 4.0)

    async def _get_controller_node(self, owner: Any, client: Any, timeout: int = 30000) -> int | None:
        """The node to create topics through, asked of each broker in turn.

        Faust asks only the first broker of the metadata, so a worker starting while that node is
        down (one of three, which the cluster survives) failed to start: found by ``make chaos``."""
        failed: list[str] = []
        for node_id in [broker.nodeId for broker in client.cluster.brokers()]:
            if node_id is None:
                raise NotReady("Not connected to Kafka Broker")
            try:
                answer = await owner.wait(client.send(node_id, faust_aiokafka.MetadataRequest([])), timeout=timeout)
            except (KafkaError, OSError) as exc:  # that node is down: another one answers for the cluster
                failed.append(f"node {node_id}: {type(exc).__name__}")
                continue
            if answer.stopped:
                owner.log.info("Shutting down - skipping creation.")
                return None
            if failed:
                log.info("controller asked of another node (%s)", ", ".join(failed))
            controller = int(answer.result.controller_id)
            if controller != node_id and not await client.ready(controller):
                # the metadata may still name a node that just died; a KRaft broker forwards topic creation
                log.info("controller %d named by node %d cannot be reached; creating through %d",
                         controller, node_id, node_id)
                return node_id
            return controller
        raise NotReady(f"no Kafka node answered for the controller ({', '.join(failed) or 'no nodes known'})")
