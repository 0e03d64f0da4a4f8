"""The one app factory: every service is ``create_app("<service>")`` with the same tuning.

Apache Kafka is the broker everywhere (``dev.broker`` locally). The tuning here, each a setting:
- producers batch (``PRODUCER_LINGER_MS``, ``PRODUCER_MAX_BATCH_SIZE``) and wait for acks=all;
- topics and tables are replicated as ``TOPIC_REPLICATION_FACTOR`` and
  ``TABLE_STANDBY_REPLICAS`` say (1 and 0 on one local broker, 3 and 1 in compose);
- at-least-once by default, every handler idempotent (``PROCESSING_GUARANTEE``);
- the transport hands each partition's records on without holes, so a Faust race after
  restarts cannot commit past records no agent handled (``config.delivery``).

:class:`ServiceApp` adds what every service needs on top of :class:`faust.App`:
catalog topics with the pydantic schema, sending keyed events, handling each event
with retries and dead letters, metrics and readiness. Tables and their MySQL mirror
are built on it by ``tables.model_table``; each agent module registers its views.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Awaitable, Callable

import aiohttp
import faust
from pydantic import BaseModel
from aiokafka.errors import KafkaError
from faust.streams import _current_event
from faust.types import TP, TopicT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent
from yarl import URL

from config.backlog import Backlog
from config.clean_stop import drop_tables_after_unclean_stop, mark_clean_stop
from config.delivery import DeliveryGuard
from config.flow_control import KeepingFlowControl
from config.kafka import bootstrap_servers
from config.lanes import Lanes
from config.logs import event_logger, install_personal_data_filter, log_event
from config.metrics import Metrics
from config.settings import SERVICES, Settings, get_settings
from config.startup import StartupClock
from config.transport import SCHEME
from domain.errors import MegatronError
from streams.events import Message, utcnow
from streams.schema import SCHEMA, DeadLetter
from streams.topics import TopicSpec, all_topic_names, dlq_name

__all__ = ["create_app", "broker_url", "handling_position", "ServiceApp"]

log = logging.getLogger("megatron")


def broker_url(settings: Settings) -> str:
    """The broker URL Faust gets: its scheme selects this project's transport (``config.transport``)."""
    return ";".join(f"{SCHEME}://{host}" for host in bootstrap_servers(settings).split(","))


def is_transient(exc: BaseException) -> bool:
    """Worth handling the same event again: a dependency away, a host not answering, a broker timeout."""
    if isinstance(exc, MegatronError):
        return exc.transient
    return isinstance(exc, (OSError, aiohttp.ClientError, KafkaError))


def record_text(raw: Any) -> str:
    """A record's value as the dead letter keeps it: the bytes read (a test context hands a model)."""
    if isinstance(raw, BaseModel):
        return raw.model_dump_json()
    return bytes(raw or b"").decode(errors="replace")


def describe(exc: BaseException) -> str:
    """One line for the log and the dead letter: the class and the message, never a whole traceback."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ServiceApp(faust.App):
    """A Faust app that knows its service name, settings and the topic catalog."""

    service_name: str
    settings: Settings
    metrics: Metrics
    event_log: logging.Logger
    backlog: Backlog
    startup: StartupClock

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Faust's flow control, except that resuming a running flow keeps the records already queued
        (``config.flow_control``): a worker whose delivery guard re-reads holes gets them. With the guard
        off (``KAFKA_DELIVERY_GAP_PATIENCE_S=0``), Faust's own."""
        settings = getattr(self, "settings", None) or get_settings()  # asked for before create_app sets it
        if settings.kafka_delivery_gap_patience_s > 0:
            return KeepingFlowControl(loop=self.loop)
        return FlowControlEvent(loop=self.loop)

    def _new_consumer(self) -> Any:
        """Faust's consumer; with ``STATIC_MEMBERSHIP`` its group instance id is the worker's web address,
        read here (at start, after ``--web-host``/``--web-port``) so every worker of a service has its own
        and keeps it across restarts, as its data dir does."""
        if self.settings.static_membership and self.conf.web_enabled:
            self.conf.consumer_group_instance_id = f"{self.conf.id}@{self.conf.web_host}:{self.conf.web_port}"
        return super()._new_consumer()

    def catalog_topic(self, spec: TopicSpec) -> faust.TopicT:
        """The Faust topic of a catalog entry, validating with the pydantic schema."""
        return self.topic(spec.name, schema=SCHEMA, partitions=self.settings.topic_partitions)

    def topics_of(self, *specs: TopicSpec) -> faust.TopicT:
        """One channel over several catalog topics (same key, same partition count)."""
        return self.topic(*(s.name for s in specs), schema=SCHEMA, partitions=self.settings.topic_partitions)

    async def emit(self, spec: TopicSpec, *events: Message) -> None:
        """Send ``events`` keyed by their catalog key, all at once, and wait for the broker's acks."""
        topic = self.catalog_topic(spec)
        acks = [await topic.send(key=str(getattr(e, spec.key)), value=e) for e in events]
        await asyncio.gather(*acks)
        for event in events:
            self.metrics.events_out(spec.name, getattr(event, "type", "")).inc()

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Park a record that did not validate on ``<topic>.dlq``; the agent goes on."""
        log.error("dead letter from %s[%d]@%d: %s", letter.topic, letter.partition, letter.offset,
                  letter.error.splitlines()[0] if letter.error else "")
        letter = letter.model_copy(update={"service": self.service_name})
        topic = self.topic(dlq_name(letter.topic), schema=SCHEMA, partitions=self.settings.topic_partitions)
        await (await topic.send(key=letter.key, value=letter))
        self.metrics.dead_letters(letter.topic).inc()

    async def process(self, stream: faust.StreamT, handle: Callable[[Any], Awaitable[None]]) -> None:
        """Hand each valid event of ``stream`` to ``handle``, in order within its partition, timed and counted.

        A record that does not validate goes to its DLQ at once. A handler that raises is not
        acked silently (Faust's default): a transient error (:attr:`domain.errors.MegatronError.transient`,
        an unreachable host, a broker timeout) is retried with backoff, ``HANDLER_RETRIES`` times;
        what still fails goes to the topic's DLQ with the error, for ``megatron dlq`` to show and
        redrive. Each record is reported handled once that is done: the consumer commits by that
        (``config.delivery``), and the sweeps wait for it (``config.backlog``).

        Records of Kafka topics, committed by that guard, are handled side by side across partitions,
        one lane each (``config.lanes``), so one partition's broker round trips do not hold up the
        others. Any other stream (Faust's ``test_context()`` channel, whose ``put`` returns once the
        stream took the event) is handled one event at a time, in the stream's order."""
        guard: DeliveryGuard | None = getattr(self.consumer, "guard", None)
        if guard is not None:
            guard.track_handled = True
        if guard is None or not isinstance(stream.channel, TopicT):
            async for event in stream.events():
                await self._handle_event(handle, event)
                if guard is not None:
                    guard.handled(event.message.tp, event.message.offset)
            return

        async def handled(event: faust.EventT) -> None:
            _current_event.set(weakref.ref(event))  # what table writes and handling_position() read
            await self._handle_event(handle, event)
            guard.handled(event.message.tp, event.message.offset)

        def current(event: faust.EventT) -> bool:  # as Faust's stream skips what a rebalance made stale
            return (self.flow_control.is_active()
                    and event.message.generation_id == self.consumer_generation_id)

        manual = stream.noack()
        lanes: Lanes[faust.EventT] = Lanes(handled, manual.ack, current, lambda e: e.message.partition)
        try:
            async for event in manual.events():
                await lanes.put(event)
        finally:
            await lanes.close()

    async def _handle_event(self, handle: Callable[[Any], Awaitable[None]], event: faust.EventT) -> None:
        """One event: parked if it did not validate, else handled (with retries), timed and logged."""
        value = event.value
        message = event.message
        if isinstance(value, DeadLetter):
            await self.dead_letter(value)
            return
        started = time.perf_counter()
        await self._handle_one(handle, value, message)
        took = time.perf_counter() - started
        self.metrics.events_in(message.topic, getattr(value, "type", "")).inc()
        self.metrics.handler_seconds(message.topic).observe(took)
        log_event(self.event_log, self.service_name, message.topic, message.partition, message.offset,
                  value, took)

    async def retried(self, call: Callable[[], Awaitable[object]],
                      on_retry: Callable[[Exception, int, float], None],
                      retriable: Callable[[Exception], bool] = lambda exc: True) -> Exception | None:
        """``call()`` until it returns: None; or the error it last raised, once that is not ``retriable`` or
        ``HANDLER_RETRIES`` retries are spent. Before each retry ``on_retry(error, retry, delay)`` says so,
        and the retry waits ``delay``: ``HANDLER_RETRY_BASE_S``, doubled each time."""
        s = self.settings
        for attempt in range(s.handler_retries + 1):
            try:
                await call()
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not retriable(exc) or attempt == s.handler_retries:
                    return exc
                delay = s.handler_retry_base_s * 2 ** attempt
                on_retry(exc, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns")

    async def _handle_one(self, handle: Callable[[Any], Awaitable[None]], value: Any, message: Any) -> None:
        """``handle(value)``, retried while its error is transient and the bound allows, else dead-lettered."""
        s = self.settings

        def on_retry(exc: Exception, retry: int, delay: float) -> None:
            self.metrics.handler_retries(message.topic).inc()
            log.warning("%s[%d]@%d: %s; retry %d of %d in %.1fs", message.topic, message.partition,
                        message.offset, describe(exc), retry, s.handler_retries, delay)

        error = await self.retried(lambda: handle(value), on_retry, is_transient)
        if error is None:
            return
        log.error("%s[%d]@%d: handler failed: %s", message.topic, message.partition, message.offset,
                  describe(error), exc_info=None if is_transient(error) else error)
        self.metrics.handler_failures(message.topic).inc()
        letter = DeadLetter(
            topic=message.topic, partition=message.partition, offset=message.offset,
            key=message.key.decode(errors="replace") if isinstance(message.key, bytes) else message.key,
            error=f"handler failed: {describe(error)}"[:2000],
            value=record_text(message.value), failed_at=utcnow().isoformat())
        pause = s.handler_retry_base_s
        while True:  # parked or not handled at all: the record is never acked unparked
            try:
                await self.dead_letter(letter)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s[%d]@%d: dead letter not sent (%s); again in %.1fs", message.topic,
                            message.partition, message.offset, describe(exc), pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    async def on_first_start(self) -> None:
        """The worker has configured logging by now (it replaces the root handlers before it starts
        the app): put the personal data filter on the handlers it installed."""
        self.startup.mark("start")
        if self.tables.data and drop_tables_after_unclean_stop(self.conf.appdir, self.conf.tabledir):
            log.warning("%s did not stop cleanly last time: its tables are read back whole from their "
                        "changelogs (config.clean_stop)", self.service_name)
        install_personal_data_filter(self.event_log)
        await super().on_first_start()

    async def on_shutdown(self) -> None:
        """Stopped with every write flushed and the offsets committed: the tables may be kept."""
        await super().on_shutdown()
        if self.tables.data and self.crash_reason is None:
            mark_clean_stop(self.conf.appdir)

    async def _on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        self.startup.mark("join")
        await super()._on_partitions_assigned(assigned, generation_id)

    async def _tables_restored(self, *args: object, **kwargs: object) -> None:
        self.startup.mark("restore")

    def on_rebalance_end(self) -> None:
        """Faust's, and the first time: the start-up's phases in the log (``config.startup``)."""
        super().on_rebalance_end()
        if not self.startup.done:
            self.startup.mark("resume")
            log.info("%s %s", self.service_name, self.startup.describe())

    async def _note_backlog(self, *args: object, **kwargs: object) -> None:
        """After each rebalance: the end offsets of the catalog partitions this worker now reads.

        Asked in the background: the request queues behind the consumer's long-poll fetch on the
        broker connection (up to Faust's 1.5 s fetch wait), and recovery must not wait for it."""
        catalog = set(all_topic_names())
        sources = [tp for tp in self.consumer.assignment() if tp.topic in catalog]
        token = self.backlog.reassigning()

        async def ask() -> None:
            try:
                ends = await self.consumer.highwaters(*sources) if sources else {}
            except Exception as exc:  # the sweeps wait for the next rebalance rather than act blind
                log.warning("end offsets of %d partitions not known (%s); sweeps wait", len(sources), exc)
                return
            self.backlog.assigned(ends, token)

        asyncio.ensure_future(ask())

    def consumer_lags(self) -> dict[tuple[str, int], int]:
        """Records not yet handled, per assigned partition (for ``/metrics``): below the end offset and at
        or past the delivery guard's handled offset, so records read ahead into a lane (``config.lanes``)
        still count; without the guard, past the last offset handed to an agent."""
        lags: dict[tuple[str, int], int] = {}
        if not self.agents:
            return lags
        consumer = self.consumer
        guard: DeliveryGuard | None = getattr(consumer, "guard", None)
        for tp in consumer.assignment():
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is None:
                continue
            handled = guard.handled_upto(tp) if guard is not None else None
            if handled is None:
                read = consumer._read_offset.get(tp)  # the last offset handed to an agent
                handled = (read + 1) if read is not None else 0
            lags[(tp.topic, tp.partition)] = max(highwater - handled, 0)
        return lags

    @property
    def caught_up(self) -> bool:
        """Ready, and every source partition handled up to its end when it was assigned
        (``config.backlog``): the condition for a timer that decides from the tables."""
        guard: DeliveryGuard | None = getattr(self.consumer, "guard", None)

        def done(tp: TP) -> int:  # handled (the guard's count) or committed, whichever is further
            handled = guard.handled_upto(tp) if guard is not None else None
            return max(handled or 0, self.consumer._committed_offset.get(tp) or 0)

        return self.ready and self.backlog.caught_up(done)

    def replaying(self) -> bool:
        """True while the record being handled lies in its partition's backlog at assignment, so a worker
        killed before may have handled it already. Its table writes then reached RocksDB, which this
        worker may have kept (a restart without a wipe), but perhaps not the changelog: the handler
        finds the record applied and, writing nothing, would leave the changelog without the step for
        the next owner to recover. A handler that finds a repeat here writes what it found again."""
        event = faust.current_event()
        return event is not None and self.backlog.holds(event.message.tp, event.message.offset)

    @property
    def ready(self) -> bool:
        """Partitions assigned and tables recovered (not merely "port open")."""
        if self.rebalancing:
            return False
        if self.agents and not self.consumer.assignment():
            return False  # partitions not assigned yet (a service runs at most one worker per partition)
        if self.tables.data:
            return self.tables.recovery.completed.is_set()
        return True


def handling_position() -> tuple[int, int] | None:
    """(partition, offset) of the record the current agent is handling (None outside an agent): the
    identity of a command whose effect is absolute, so a redelivery can be told from a new one."""
    event = faust.current_event()
    return (event.message.partition, event.message.offset) if event is not None else None


def create_app(service: str, settings: Settings | None = None) -> ServiceApp:
    """A Faust app for ``service``: its own consumer group, data dir, web port and tuning."""
    s = settings or get_settings()
    has_web = service in SERVICES  # the operators' CLI app serves nothing
    web = URL(s.service_url(service) if has_web else "http://127.0.0.1:1")
    app = ServiceApp(
        f"{s.app_id_prefix}-{service}",
        broker=broker_url(s),
        store="rocksdb://",
        # one folder per service worker: the web port tells workers of one service apart
        datadir=str(s.data_dir.absolute() / "{conf.name}-{conf.web_port}"),
        web_host=web.host,
        web_bind=s.web_bind or web.host,
        web_port=web.port,
        web_enabled=has_web,
        web_tables_enabled=False,
        topic_partitions=s.topic_partitions,
        topic_replication_factor=s.topic_replication_factor,
        processing_guarantee=s.processing_guarantee,
        producer_acks=-1,
        producer_linger_ms=s.producer_linger_ms,
        producer_max_batch_size=s.producer_max_batch_size,
        broker_session_timeout=s.broker_session_timeout,
        broker_heartbeat_interval=min(3.0, s.broker_session_timeout / 4),
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=s.table_standby_replicas,
        key_serializer="raw",
        value_serializer="raw",
        TableManager="config.table_manager:TableManager",
    )
    app.service_name = service
    app.settings = s
    app.metrics = Metrics(service)
    app.event_log = event_logger(service, s.log_format)
    install_personal_data_filter()  # handlers configured before the app (the CLI, tests); workers: on_first_start
    app.backlog = Backlog()
    app.startup = StartupClock()
    app.on_rebalance_complete.connect(app._note_backlog)
    app.on_rebalance_complete.connect(app._tables_restored)
    return app
