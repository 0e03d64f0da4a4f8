"""The one app factory: every service is ``create_app("<service>")`` with the same tuning.

Apache Kafka is the broker everywhere (``dev.broker`` locally). The tuning here, each a setting:
- producers batch (``PRODUCER_LINGER_MS``, ``PRODUCER_MAX_BATCH_SIZE``) and wait for acks=all;
- topics and tables are replicated as ``TOPIC_REPLICATION_FACTOR`` and
  ``TABLE_STANDBY_REPLICAS`` say (1 and 0 on one local broker, 3 and 1 in compose);
- at-least-once by default, every handler idempotent (``PROCESSING_GUARANTEE``);
- the transport hands each partition's records on without holes, so a Faust race after
  restarts cannot commit past records no agent handled (``config.delivery``).

:class:`ServiceApp` adds what every service needs on top of :class:`faust.App`:
catalog topics with the pydantic schema, sending keyed events, dead letters,
RocksDB model tables with the MySQL mirror, metrics and readiness.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator, TypeVar

import faust
from faust.types import TP
from pydantic import BaseModel
from yarl import URL

from config.backlog import Backlog
from config.delivery import DeliveryGuard
from config.logs import event_logger, install_personal_data_filter, log_event
from config.metrics import Metrics
from config.settings import SERVICES, Settings, get_settings
from config.transport import SCHEME
from streams.events import Message
from streams.schema import SCHEMA, DeadLetter
from streams.topics import TopicSpec, all_topic_names, dlq_name
from tables.mirror import MirrorSpec, MySQLMirror
from tables.model_table import ModelTable

__all__ = ["create_app", "broker_url", "ServiceApp"]

log = logging.getLogger("megatron")
M = TypeVar("M", bound=BaseModel)


def broker_url(settings: Settings) -> str:
    """The broker URL Faust gets: its scheme selects this project's transport (``config.transport``)."""
    return str(URL(settings.kafka_broker).with_scheme(SCHEME))


class ServiceApp(faust.App):
    """A Faust app that knows its service name, settings and the topic catalog."""

    service_name: str
    settings: Settings
    metrics: Metrics
    event_log: logging.Logger
    backlog: Backlog
    _mirror: MySQLMirror | None = None

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

    async def each(self, stream: faust.StreamT) -> AsyncIterator[Message]:
        """The valid events of ``stream``, timed and counted; invalid ones go to their DLQ.

        Each record is reported handled once its handler returned: the consumer commits by that
        (``config.delivery``), and the sweeps wait for it (``config.backlog``)."""
        guard: DeliveryGuard | None = getattr(self.consumer, "guard", None)
        if guard is not None:
            guard.track_handled = True
        async for event in stream.events():
            value = event.value
            message = event.message
            topic = message.topic
            if isinstance(value, DeadLetter):
                await self.dead_letter(value)
                if guard is not None:
                    guard.handled(message.tp, message.offset)
                continue
            started = time.perf_counter()
            yield value
            took = time.perf_counter() - started
            if guard is not None:
                guard.handled(message.tp, message.offset)
            self.metrics.events_in(topic, getattr(value, "type", "")).inc()
            self.metrics.handler_seconds(topic).observe(took)
            log_event(self.event_log, self.service_name, topic, event.message.partition, event.message.offset,
                      value, took)

    async def on_first_start(self) -> None:
        """The worker has configured logging by now (it replaces the root handlers before it starts
        the app): put the personal data filter on the handlers it installed."""
        install_personal_data_filter(self.event_log)
        await super().on_first_start()

    @property
    def mirror(self) -> MySQLMirror:
        """This worker's MySQL mirror, started and stopped with the app."""
        if self._mirror is None:
            self._mirror = MySQLMirror(self.settings, ())
            self._mirror.lag_observer = self.metrics.mirror_lag.observe
            self.add_dependency(self._mirror)
        return self._mirror

    def model_table(self, name: str, model: type[M], *, help: str,
                    mirror: MirrorSpec[M] | None = None) -> ModelTable[M]:
        """A RocksDB table of ``model``; mirrored to MySQL when ``mirror`` is given."""
        if mirror is not None and mirror.database not in self.mirror.databases:
            self.mirror.databases = (*self.mirror.databases, mirror.database)
        return ModelTable(self, name, model, help=help,
                          mirror=(self.mirror, mirror) if mirror is not None else None)

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

    @property
    def caught_up(self) -> bool:
        """Ready, and every source partition handled up to its end when it was assigned
        (``config.backlog``): the condition for a timer that decides from the tables."""
        guard: DeliveryGuard | None = getattr(self.consumer, "guard", None)

        def done(tp: TP) -> int:  # handled (the guard's count) or committed, whichever is further
            handled = guard.handled_upto(tp) if guard is not None else None
            return max(handled or 0, self.consumer._committed_offset.get(tp) or 0)

        return self.ready and self.backlog.caught_up(done)

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
    )
    app.service_name = service
    app.settings = s
    app.metrics = Metrics(service)
    app.event_log = event_logger(service, s.log_format)
    install_personal_data_filter()  # handlers configured before the app (the CLI, tests); workers: on_first_start
    app.backlog = Backlog()
    app.on_rebalance_complete.connect(app._note_backlog)
    if has_web:
        from web.ops import register_ops_views  # the views need the app; the app does not need them

        register_ops_views(app)
    return app
