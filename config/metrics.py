"""Prometheus metrics of one worker process, served at ``GET /metrics``."""

from __future__ import annotations

from typing import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Every metric of the platform; a service fills those that concern it."""

    def __init__(self, service: str) -> None:
        r = self.registry = CollectorRegistry()
        self.events_in = Counter("megatron_events_in_total", "Events handled, by topic and type",
                                 ["topic", "type"], registry=r).labels
        self.events_out = Counter("megatron_events_out_total", "Events sent, by topic and type",
                                  ["topic", "type"], registry=r).labels
        self.dead_letters = Counter("megatron_dead_letters_total", "Records parked on a .dlq topic",
                                    ["topic"], registry=r).labels
        self.delivery_rereads = Counter("megatron_delivery_rereads_total",
                                        "Partitions re-read because a fetch skipped records, by topic",
                                        ["topic"], registry=r).labels
        self.delivery_gaps = Counter("megatron_delivery_gaps_total",
                                     "Offsets missing on the broker past the patience, let through, by topic",
                                     ["topic"], registry=r).labels
        self.handler_retries = Counter("megatron_handler_retries_total",
                                       "Events handled again after a transient error, by topic",
                                       ["topic"], registry=r).labels
        self.handler_failures = Counter("megatron_handler_failures_total",
                                        "Events whose handler still failed, sent to the topic's DLQ, by topic",
                                        ["topic"], registry=r).labels
        self.handler_seconds = Histogram("megatron_handler_seconds", "Time to handle one event", ["topic"],
                                         registry=r, buckets=LATENCY_BUCKETS).labels
        self.consumer_lag = Gauge("megatron_consumer_lag", "Records not yet read, per assigned partition",
                                  ["topic", "partition"], registry=r)
        self.orders = Counter("megatron_orders_total", "Orders reaching a status, by status and reason",
                              ["status", "reason"], registry=r).labels
        self.gateway_seconds = Histogram("megatron_payment_gateway_seconds", "UPI gateway call time, by call",
                                         ["call"], registry=r, buckets=LATENCY_BUCKETS).labels
        self.gateway_errors = Counter("megatron_payment_gateway_errors_total",
                                      "UPI gateway calls without an answer, by call", ["call"], registry=r).labels
        self.mirror_lag = Histogram("megatron_mirror_lag_seconds", "Time from a table write to its MySQL row",
                                    registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.mirror_backlog = Gauge("megatron_mirror_backlog_rows", "Rows waiting for MySQL", registry=r)
        Gauge("megatron_service_info", "This worker's service", ["service"], registry=r).labels(service).set(1)

    def refresh(self, consumer_lags: Mapping[tuple[str, int], int]) -> None:
        """Gauges read at scrape time: records not yet read per assigned ``(topic, partition)``."""
        self.consumer_lag.clear()
        for (topic, partition), lag in consumer_lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(lag)
