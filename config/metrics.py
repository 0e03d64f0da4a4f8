"""Prometheus metrics of one worker process, served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    """The counters every service shares; a service adds its own to ``registry``."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self.events_in = Counter("megatron_events_in_total", "Events handled, by topic and type",
                                 ["topic", "type"], registry=self.registry).labels
        self.events_out = Counter("megatron_events_out_total", "Events sent, by topic and type",
                                  ["topic", "type"], registry=self.registry).labels
        self.dead_letters = Counter("megatron_dead_letters_total", "Records parked on a .dlq topic",
                                    ["topic"], registry=self.registry).labels
        self.handler_seconds = Histogram(
            "megatron_handler_seconds", "Time to handle one event", ["topic"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)).labels
        self.mirror_lag = Histogram(
            "megatron_mirror_lag_seconds", "Time from a table write to its MySQL row", registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.mirror_backlog = Gauge("megatron_mirror_backlog_rows", "Rows waiting for MySQL",
                                    registry=self.registry)
        self.info = Gauge("megatron_service_info", "This worker's service", ["service"],
                          registry=self.registry)
        self.info.labels(**labels).set(1)
