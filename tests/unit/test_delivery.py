"""The delivery guard: a partition's records reach the agents without holes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from unittest import mock

import faust
import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import InvalidReplicationFactorError, KafkaConnectionError, KafkaError, NodeNotReadyError
from faust.exceptions import NotReady
from faust.transport import by_url
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP as TP_

from config.app import broker_url, create_app
from config.delivery import DeliveryGuard, Verdict
from config.settings import Settings
from config.transport import Consumer, ConsumerThread, Transport

TP = ("order-commands", 2)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(patience: float = 2.0) -> tuple[DeliveryGuard, Clock]:
    clock = Clock()
    return DeliveryGuard(patience, clock), clock


def test_contiguous_records_are_delivered_and_advance_the_expected_offset() -> None:
    g, _ = guard()
    g.positioned(TP, 109)
    assert [g.check(TP, o) for o in (109, 110, 111)] == [Verdict.DELIVER] * 3
    assert g.expected(TP) == 112


def test_a_record_past_the_expected_one_asks_for_a_reread_and_does_not_advance() -> None:
    """The crash test's lost order: 109 handled, the next fetch starts at 111."""
    g, _ = guard()
    g.positioned(TP, 110)
    assert g.check(TP, 111) is Verdict.REREAD
    assert g.expected(TP) == 110
    assert g.check(TP, 110) is Verdict.DELIVER  # the re-read brings 110
    assert g.check(TP, 111) is Verdict.DELIVER


def test_the_seek_race_after_a_restart_rereads_what_faust_would_skip() -> None:
    """First fetch from a stray position (563), then recovery's seek to the committed 522."""
    g, _ = guard()
    assert g.check(TP, 563) is Verdict.DELIVER  # nothing known yet: Faust's own seek follows
    g.positioned(TP, 522)  # perform_seek returned
    assert g.check(TP, 564) is Verdict.REREAD
    assert all(g.check(TP, o) is Verdict.DELIVER for o in range(522, 566))


def test_older_records_pass_through_for_faust_to_drop_or_rehandle() -> None:
    g, _ = guard()
    g.positioned(TP, 50)
    assert g.check(TP, 40) is Verdict.DELIVER
    assert g.expected(TP) == 50


def test_a_gap_that_outlasts_the_patience_is_real_and_let_through() -> None:
    g, clock = guard(patience=2.0)
    g.positioned(TP, 10)
    assert g.check(TP, 12) is Verdict.REREAD
    clock.now += 1.9
    assert g.check(TP, 12) is Verdict.REREAD
    clock.now += 0.2
    assert g.check(TP, 12) is Verdict.ACCEPT_GAP
    assert g.expected(TP) == 13


def test_the_patience_clock_restarts_for_a_new_hole() -> None:
    g, clock = guard(patience=2.0)
    g.positioned(TP, 10)
    assert g.check(TP, 12) is Verdict.REREAD
    clock.now += 1.5
    assert g.check(TP, 10) is Verdict.DELIVER
    assert g.check(TP, 11) is Verdict.DELIVER
    assert g.check(TP, 14) is Verdict.REREAD  # 12 and 13 missing now: a fresh wait
    clock.now += 1.0
    assert g.check(TP, 14) is Verdict.REREAD


def test_revoked_partitions_take_the_first_record_that_comes() -> None:
    g, _ = guard()
    g.positioned(TP, 10)
    g.forget([TP])
    assert g.unknown([TP]) == [TP]
    assert g.check(TP, 500) is Verdict.DELIVER
    assert g.expected(TP) == 501


def test_a_seek_without_a_committed_offset_keeps_what_is_owed() -> None:
    """Run 6 of the stress harness: 0..3 handed on, nothing committed yet, then 4 went missing."""
    g, _ = guard()
    for o in range(4):
        assert g.check(TP, o) is Verdict.DELIVER
    g.positioned(TP, None)  # perform_seek found no committed offset: aiokafka did not move
    assert g.unknown([TP]) == []
    assert g.check(TP, 5) is Verdict.REREAD
    assert g.expected(TP) == 4


def test_partitions_are_independent() -> None:
    g, _ = guard()
    other = ("order-commands", 3)
    g.positioned(TP, 5)
    g.positioned(other, 9)
    assert g.check(other, 9) is Verdict.DELIVER
    assert g.check(TP, 6) is Verdict.REREAD
    assert g.expected(other) == 10


def test_an_unacknowledged_head_asks_for_a_reread_only_after_waiting_long_enough() -> None:
    g, clock = guard(patience=2.0)
    assert not g.head_blocked(TP, 40)
    clock.now += 9.9
    assert not g.head_blocked(TP, 40)  # may still be waiting in an agent's queue
    clock.now += 0.2
    assert g.head_blocked(TP, 40)  # 10 s (5 patiences): dropped, re-read it
    assert g.heads_to_check == {TP: 40}
    assert not g.head_blocked(TP, 40)  # and not again at once
    clock.now += 3.0
    assert not g.head_blocked(TP, 41)  # a new head starts a new wait
    g.head_moved(TP)
    clock.now += 9.0
    assert not g.head_blocked(TP, 41)


class FakeMessage(NamedTuple):
    tp: TP_
    offset: int


class FakeTopics:
    def acks_enabled_for(self, topic: str) -> bool:
        return not topic.endswith("-changelog")


class FakeApp:
    topics = FakeTopics()
    metrics = None


def consumer_fed(monkeypatch: pytest.MonkeyPatch, batches: list[list[tuple[TP_, int]]],
                 sought: list[dict[TP_, int]]) -> Consumer:
    """Our consumer over Faust's, whose fetches are faked: each getmany() hands on the next batch."""
    pending = list(batches)

    async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[TP_, FakeMessage]]:
        for tp, offset in pending.pop(0):
            yield tp, FakeMessage(tp, offset)

    async def seek_wait(self: Any, partitions: dict[TP_, int]) -> None:
        sought.append(dict(partitions))

    monkeypatch.setattr(faust_aiokafka.Consumer, "getmany", getmany)
    monkeypatch.setattr(faust_aiokafka.Consumer, "seek_wait", seek_wait)
    consumer = object.__new__(Consumer)
    consumer.__dict__["app"] = FakeApp()
    consumer.__dict__["_delivery_guard"] = DeliveryGuard(2.0)
    consumer.__dict__["_read_offset"] = {}  # Faust's: the last offset its drain loop handed on
    return consumer


async def handed_on(consumer: Consumer) -> list[int]:
    return [m.offset async for _, m in consumer.getmany(1.0)]


async def test_the_consumer_holds_back_a_skipped_ahead_fetch_and_seeks_back(monkeypatch: pytest.MonkeyPatch) -> None:
    sought: list[dict[TP_, int]] = []
    src, log = TP_("order-commands", 2), TP_("app-orders-changelog", 2)
    consumer = consumer_fed(monkeypatch, [[(src, 108), (src, 109)], [(log, 7), (src, 111), (src, 112), (log, 9)],
                             [(src, 110), (src, 111)]], sought)
    assert await handed_on(consumer) == [108, 109]
    assert await handed_on(consumer) == [7, 9]  # changelogs pass; 111 and the rest of its fetch wait
    assert sought == [{src: 110}]
    assert await handed_on(consumer) == [110, 111]


async def test_an_owed_record_is_not_dropped_as_already_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A seek to the committed offset raced a fetch: Faust's read offset is past records still owed."""
    sought: list[dict[TP_, int]] = []
    src = TP_("payment-events", 0)
    consumer = consumer_fed(monkeypatch, [[(src, 2)]], sought)
    consumer.guard.positioned(src, 2)
    consumer._read_offset[src] = 12  # Faust's drain loop would drop offsets below this
    assert await handed_on(consumer) == [2]
    assert consumer._read_offset[src] == 2  # so the drain loop hands 2 on


def test_the_workers_get_this_transport() -> None:
    """The delivery fix is Faust's: every worker's broker URL resolves to the guarded consumer."""
    url = broker_url(Settings(kafka_broker="kafka://broker:9092"))
    assert url == "kafka-ordered://broker:9092"
    assert by_url(url) is Transport


def test_a_cluster_of_brokers_is_one_url_per_node_for_faust() -> None:
    """``KAFKA_BROKER`` as compose and ``make chaos`` give it, several nodes: Faust gets every one (yarl could
    not even parse the whole string as one URL, so no worker started on a cluster)."""
    url = broker_url(Settings(kafka_broker="kafka://kafka-1:9092;kafka-2:9092;kafka-3:9092"))
    assert url == "kafka-ordered://kafka-1:9092;kafka-ordered://kafka-2:9092;kafka-ordered://kafka-3:9092"
    app = faust.App("t", broker=url)
    assert [(u.host, u.port) for u in app.conf.broker] == [("kafka-1", 9092), ("kafka-2", 9092), ("kafka-3", 9092)]


class Cluster:
    """aiokafka's client as topic creation sees it: the nodes of the metadata, some of them down."""

    def __init__(self, nodes: list[int], down: set[int], controller: int) -> None:
        self.nodes, self.down, self.controller, self.asked = nodes, down, controller, []
        self.cluster = self

    def brokers(self) -> list[Any]:
        return [type("Broker", (), {"nodeId": n})() for n in self.nodes]

    async def send(self, node_id: int, request: Any) -> Any:
        self.asked.append(node_id)
        if node_id in self.down:
            raise NodeNotReadyError(f"Attempt to send a request to node which is not ready (node id {node_id}).")
        return type("Metadata", (), {"controller_id": self.controller})()

    async def ready(self, node_id: int) -> bool:
        return node_id not in self.down


class Owner:
    log = logging.getLogger("test")

    async def wait(self, coro: Any, timeout: float) -> Any:
        return type("Waited", (), {"stopped": False, "result": await coro})()


async def test_topics_are_created_while_the_first_node_is_down() -> None:
    """``make chaos``: a worker restarted while broker 2 (first in the metadata) was down exited with
    NodeNotReadyError; the other nodes answer for the cluster."""
    client = Cluster([2, 1, 3], down={2}, controller=3)
    transport = Transport.__new__(Transport)
    assert await transport._get_controller_node(Owner(), client) == 3
    assert client.asked == [2, 1]


async def test_a_controller_that_cannot_be_reached_is_not_asked_to_create_topics() -> None:
    """``make chaos`` (seed 1): node 1 answered that node 2, just killed, was the controller, and the worker
    exited when the CreateTopics request could not be sent there; the node that answered forwards it."""
    client = Cluster([1, 2, 3], down={2}, controller=2)
    assert await Transport.__new__(Transport)._get_controller_node(Owner(), client) == 1


async def test_no_node_answering_is_not_ready() -> None:
    client = Cluster([1, 2], down={1, 2}, controller=1)
    with pytest.raises(NotReady, match="node 1: NodeNotReadyError, node 2: NodeNotReadyError"):
        await Transport.__new__(Transport)._get_controller_node(Owner(), client)


async def test_records_fetched_before_recoverys_seek_are_held_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery resumes the partitions, then seeks to the committed offsets: what a fetch brings in
    between comes from a stale position (the crash test's skipped records on Kafka) and waits for
    the seek; changelog records pass, recovery reads them."""
    sought: list[dict[TP_, int]] = []
    src, log = TP_("inventory-events", 3), TP_("app-payment-changelog", 3)
    consumer = consumer_fed(monkeypatch, [[(src, 0), (log, 4), (src, 1)], [(src, 0), (src, 1)]], sought)
    monkeypatch.setattr(faust_aiokafka.Consumer, "on_partitions_assigned", lambda self, *a, **k: _done())
    monkeypatch.setattr(faust_aiokafka.Consumer, "perform_seek", lambda self: _done())
    consumer.__dict__["assignment"] = lambda: set()
    consumer.__dict__["app"].conf = type("Conf", (), {"consumer_auto_offset_reset": "latest"})()
    await consumer.on_partitions_assigned({src, log}, 2)
    assert await handed_on(consumer) == [4]
    await consumer.perform_seek()
    assert await handed_on(consumer) == [0, 1], "read again from the committed offset, after the seek"


async def _done() -> None:
    return None


def test_handled_offsets_move_the_watermark_only_over_contiguous_records() -> None:
    g, _ = guard()
    g.track_handled = True
    assert g.handled_upto(TP) is None, "not tracked before the assignment's seek"
    g.start(TP, 10)
    g.handled(TP, 10)
    g.handled(TP, 12)
    assert g.handled_upto(TP) == 11 and g.handled_past_hole(TP)
    g.handled(TP, 9)  # a duplicate from before the seek: no effect
    g.handled(TP, 11)
    assert g.handled_upto(TP) == 13 and not g.handled_past_hole(TP)
    g.handled(TP, 13, until=20)  # a real gap, 13..19: nothing there to handle
    assert g.handled_upto(TP) == 20
    g.forget([TP])
    assert g.handled_upto(TP) is None


def test_a_record_handled_past_an_unhandled_one_asks_at_once_for_that_one() -> None:
    """CI, 2026-12-07: after a rebalance the order service's lane got inventory-events[1]@74, never 73.
    A partition is handled in order, so the hole is known at once, not after the head's patience."""
    g, _ = guard()
    g.track_handled = True
    g.start(TP, 73)
    g.handled(TP, 74)
    assert g.heads_to_check == {TP: 73}
    g.heads_to_check.clear()
    g.handled(TP, 75)
    assert g.heads_to_check == {}, "one check per hole"
    g.handled(TP, 73)  # the re-read copy
    assert g.handled_upto(TP) == 76 and g.heads_to_check == {}
    g.handled(TP, 78)
    assert g.heads_to_check == {TP: 76}, "a new hole is a new check"
    g.start(TP, 76)  # a seek after a rebalance: nothing reported for this read yet
    g.handled(TP, 77)
    assert g.heads_to_check == {TP: 76}


async def test_the_consumer_rereads_a_hole_its_agents_handled_past(monkeypatch: pytest.MonkeyPatch) -> None:
    sought: list[dict[TP_, int]] = []
    src = TP_("inventory-events", 1)
    consumer = consumer_fed(monkeypatch, [[(src, 76)], [(src, 73), (src, 74)]], sought)
    monkeypatch.setattr(faust_aiokafka.Consumer, "assignment", lambda self: {src})
    consumer.__dict__["_unacked_messages"] = set()
    g = consumer.guard
    g.track_handled = True
    g.positioned(src, 73)
    g.start(src, 73)
    assert g.check(src, 73) is Verdict.DELIVER and g.check(src, 74) is Verdict.DELIVER
    g.handled(src, 74)  # 73 never reached an agent
    assert await handed_on(consumer) == []
    assert sought == [{src: 73}]
    assert await handed_on(consumer) == [73, 74]


def test_a_commit_never_passes_a_record_that_was_acknowledged_but_not_handled() -> None:
    """The crash test on Kafka: Faust acknowledged 1..3 that no agent handled and committed 4."""
    from collections import defaultdict

    from intervaltree import IntervalTree

    src = TP_("payment-events", 0)
    consumer = object.__new__(Consumer)
    g = consumer.__dict__["_delivery_guard"] = DeliveryGuard(2.0)
    consumer.__dict__.update(_committed_offset=defaultdict(lambda: None), _acked=defaultdict(list),
                             _acked_index=defaultdict(set), _gap=defaultdict(IntervalTree))
    g.track_handled = True
    g.start(src, 0)
    consumer._acked[src] = [0, 1, 2, 3]
    consumer._acked_index[src] = {0, 1, 2, 3}
    g.handled(src, 0)
    assert consumer._new_offset(src) == 1, "only offset 0 was handled"
    assert consumer._acked[src] == [1, 2, 3]
    for offset in (1, 2, 3):
        g.handled(src, offset)
    assert consumer._new_offset(src) == 4
    assert consumer._acked[src] == [] and consumer._acked_index[src] == set()


def test_no_commit_between_a_revoke_and_the_next_seek_counts_records_dropped_unhandled() -> None:
    """Chaos seed 5 with partition lanes: a rebalance dropped order-commands[2] 968..1185 as stale
    (acknowledged, not handled); the guard had forgotten the partition at the revoke, Faust's own offset
    counted the acknowledgements, and a commit went to 1186 before the seek started the guard again."""
    from collections import defaultdict

    from intervaltree import IntervalTree

    src = TP_("order-commands", 2)
    consumer = object.__new__(Consumer)
    g = consumer.__dict__["_delivery_guard"] = DeliveryGuard(2.0)
    consumer.__dict__.update(_committed_offset=defaultdict(lambda: None), _acked=defaultdict(list),
                             _acked_index=defaultdict(set), _gap=defaultdict(IntervalTree))
    consumer._committed_offset[src] = 968
    g.track_handled = True
    g.start(src, 968)
    g.forget([src])  # revoked; assigned again, its seek not done yet
    consumer._acked[src] = list(range(968, 1186))
    consumer._acked_index[src] = set(range(968, 1186))
    assert consumer._new_offset(src) is None
    g.start(src, 968)  # the seek to the committed offset: read again from 968
    assert consumer._new_offset(src) is None
    g.handled(src, 968)
    assert consumer._new_offset(src) == 969


@pytest.mark.parametrize("static, expected", [(True, "t-cart@127.0.0.1:9999"), (False, None)])
def test_a_worker_is_a_static_member_named_by_its_web_address(static: bool, expected: str | None) -> None:
    """Read when the consumer is made, after ``faust worker --web-port`` (two workers of one service differ,
    and a restarted one is the same member again, so it takes its partitions back without a rebalance)."""
    app = create_app("cart", Settings(cart_url="http://127.0.0.1:9181", app_id_prefix="t", static_membership=static))
    app.conf.web_port = 9999  # as the worker command sets it
    assert app.consumer is not None
    assert app.conf.consumer_group_instance_id == expected


async def test_topic_creation_is_asked_again_when_the_node_goes_away_under_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``make chaos`` (seed 4): the node that answered for the controller was killed before the CreateTopics
    request was answered, and the worker exited. Creation is asked again; a node that stays away is an error
    after the patience."""
    failures: list[Exception] = [
        KafkaConnectionError("Connection at 127.0.0.1:59041 closed"), NodeNotReadyError("node 1"),
        RuntimeError("Invalid controller: 2"),
        InvalidReplicationFactorError("Cannot create topic: t (38): only 2 broker(s) are registered")]
    calls: list[str] = []

    async def create(self: Any, owner: Any, client: Any, topic: str, partitions: int, replication: int,
                     **kwargs: Any) -> None:
        calls.append(topic)
        if failures:
            raise failures.pop(0)

    monkeypatch.setattr(faust_aiokafka.Transport, "_create_topic", create)
    monkeypatch.setattr(asyncio, "sleep", lambda s: _done())
    transport = Transport.__new__(Transport)
    await transport._create_topic(Owner(), None, "app-__assignor-__leader", 1, 3)
    assert calls == ["app-__assignor-__leader"] * 5

    failures.extend([KafkaConnectionError("closed")] * 1000)
    monkeypatch.setattr("config.transport.CREATE_TOPIC_PATIENCE_S", 0.0)
    with pytest.raises(KafkaConnectionError):
        await transport._create_topic(Owner(), None, "t", 1, 3)
    failures[:] = [RuntimeError("Controller node is None")]  # anything else is not asked again
    with pytest.raises(RuntimeError, match="is None"):
        await transport._create_topic(Owner(), None, "t", 1, 3)


async def test_a_joining_worker_takes_the_coordinators_error_so_the_coordinator_joins_again() -> None:
    """``make chaos`` (seed 5): JoinGroup answered UnknownError while a node went away; aiokafka held the
    error for the next fetch and waited for it to be taken before joining again, and Faust does not fetch
    without partitions: the worker stood still for 180 s. aiokafka's own coordinator methods here."""
    loop = asyncio.get_running_loop()
    coordinator = GroupCoordinator.__new__(GroupCoordinator)
    coordinator._subscription = mock.Mock()
    coordinator._closing = loop.create_future()
    coordinator._coordination_task = loop.create_future()  # the routine, waiting below
    coordinator._pending_exception = coordinator._error_consumed_fut = None
    waiting = asyncio.ensure_future(coordinator._push_error_to_user(KafkaError("[Error -1] UnknownError")))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "the coordinator waits for the error to be taken"
    thread = ConsumerThread.__new__(ConsumerThread)
    thread._consumer = mock.Mock(_coordinator=coordinator)
    assert isinstance(thread.take_coordinator_error(), KafkaError)
    await asyncio.wait_for(waiting, 1.0)  # and goes on: it joins again
    assert thread.take_coordinator_error() is None, "taken once"


def test_the_consumer_runs_in_the_thread_that_takes_those_errors() -> None:
    app = create_app("cart", Settings(cart_url="http://127.0.0.1:9181", app_id_prefix="t"))
    assert isinstance(app.consumer, Consumer)
    assert isinstance(app.consumer._thread, ConsumerThread)
