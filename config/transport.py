"""Faust's aiokafka transport with the consumer fetch wait as a setting, for Tansu.

Faust hard-codes ``fetch_max_wait_ms=1500`` when it builds a worker's consumer, and
Tansu does not wake a waiting fetch when data arrives: each hop then costs about
half that wait (753 ms over three hops). This transport builds the consumer as
Faust does and sets the wait from ``KAFKA_FETCH_MAX_WAIT_MS`` before it starts
(50 ms: ~10 ms a hop). It is registered for the ``tansu://`` URL scheme through
the ``faust.transports`` entry point and used only when ``BROKER_KIND=tansu``.

It touches one private aiokafka attribute (``AIOKafkaConsumer._fetch_max_wait_ms``,
read by ``start()``), so faust-streaming and aiokafka are pinned to exact versions.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

from config.settings import get_settings

__all__ = ["Transport", "SCHEME"]

SCHEME = "tansu"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Builds the worker consumer with the configured fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = get_settings().kafka_fetch_max_wait_ms
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport, but with a consumer whose fetch wait is a setting."""

    Consumer = Consumer
