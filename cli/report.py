"""``megatron report``: the checkout funnel, placed-to-confirmed latency and revenue, from the topics.

Two views of one time range, both by the events' ``occurred_at``:

- **Funnel** (a cohort): the orders *placed* in the range, followed to wherever they got,
  even after the range ends: reserved (``InventoryReserved``), paid (``PaymentConfirmed``),
  confirmed (``OrderConfirmed``), failed by reason (``OrderFailed``), still in progress.
  Placed-to-confirmed latency is ``OrderConfirmed.occurred_at - OrderPlaced.occurred_at`` of
  the cohort's confirmed orders; percentiles by nearest rank (always a time that happened).
- **Per minute** (event time): in each minute of the range, orders placed, orders confirmed
  and the revenue they brought (``OrderConfirmed.total_paise``), in rupees.

Events are delivered at least once, so every step counts an order once (by ``order_id``),
at its first event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from cli.reader import TimeRange
from domain.money import format_inr
from streams.events import (
    InventoryReserved, Message, OrderConfirmed, OrderFailed, OrderPlaced, PaymentConfirmed,
)
from streams.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS, TopicSpec

__all__ = ["REPORT_TOPICS", "STEPS", "percentile", "Minute", "Report", "ReportFold", "build_report"]

#: The topics a report reads.
REPORT_TOPICS: list[TopicSpec] = [ORDER_EVENTS, INVENTORY_EVENTS, PAYMENT_EVENTS]
STEPS = ("placed", "reserved", "paid", "confirmed")


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` percent of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Minute:
    """What happened in one minute."""

    start: datetime
    placed: int = 0
    confirmed: int = 0
    revenue_paise: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"minute": self.start.isoformat().replace("+00:00", "Z"), "placed": self.placed,
                "confirmed": self.confirmed, "revenue_paise": self.revenue_paise,
                "revenue": format_inr(self.revenue_paise)}


@dataclass
class _Order:
    placed_at: datetime | None = None
    reserved: bool = False
    paid: bool = False
    confirmed_at: datetime | None = None
    confirmed_paise: int = 0
    failed: str | None = None


@dataclass
class Report:
    range: TimeRange
    funnel: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    in_progress: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)  # sorted
    minutes: list[Minute] = field(default_factory=list)  # the minutes with activity, in order

    @property
    def latency(self) -> dict[str, float | int | None]:
        v = self.latencies_ms
        return {"orders": len(v), "p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95),
                "p99_ms": percentile(v, 99), "max_ms": v[-1] if v else None}

    @property
    def revenue_paise(self) -> int:
        return sum(m.revenue_paise for m in self.minutes)

    def as_dict(self) -> dict[str, Any]:
        """Everything the terminal shows, as plain JSON types (money in paise and formatted in rupees)."""
        return {
            **self.range.as_dict(),
            "funnel": self.funnel, "failed": self.failed, "in_progress": self.in_progress,
            "failures": self.failures,
            "placed_to_confirmed": self.latency,
            "orders_per_minute": [m.as_dict() for m in self.minutes],
            "placed": sum(m.placed for m in self.minutes), "confirmed": sum(m.confirmed for m in self.minutes),
            "revenue_paise": self.revenue_paise, "revenue": format_inr(self.revenue_paise),
        }


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class ReportFold:
    """Folds events one at a time (memory grows with orders, not events): ``add`` each, then ``report``."""

    def __init__(self) -> None:
        self.orders: dict[str, _Order] = {}

    def add(self, e: Message) -> None:
        o = self.orders.setdefault(e.order_id, _Order())
        if isinstance(e, OrderPlaced):
            o.placed_at = min(o.placed_at or e.occurred_at, e.occurred_at)
        elif isinstance(e, InventoryReserved):
            o.reserved = True
        elif isinstance(e, PaymentConfirmed):
            o.paid = True
        elif isinstance(e, OrderConfirmed):
            if o.confirmed_at is None or e.occurred_at < o.confirmed_at:
                o.confirmed_at, o.confirmed_paise = e.occurred_at, e.total_paise
        elif isinstance(e, OrderFailed) and o.failed is None:
            o.failed = e.reason.value

    def report(self, time_range: TimeRange) -> Report:
        report = Report(time_range)
        cohort = [o for o in self.orders.values() if o.placed_at is not None and o.placed_at in time_range]
        report.funnel = {
            "placed": len(cohort),
            "reserved": sum(o.reserved for o in cohort),
            "paid": sum(o.paid for o in cohort),
            "confirmed": sum(o.confirmed_at is not None for o in cohort),
        }
        failed = [o.failed for o in cohort if o.failed is not None and o.confirmed_at is None]
        report.failed = len(failed)
        report.in_progress = sum(o.failed is None and o.confirmed_at is None for o in cohort)
        counts: dict[str, int] = {}
        for reason in failed:
            counts[reason] = counts.get(reason, 0) + 1
        report.failures = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        report.latencies_ms = sorted((o.confirmed_at - o.placed_at) / timedelta(milliseconds=1)
                                     for o in cohort if o.confirmed_at is not None and o.placed_at is not None)
        minutes: dict[datetime, Minute] = {}
        for o in self.orders.values():
            if o.placed_at is not None and o.placed_at in time_range:
                minutes.setdefault(_minute(o.placed_at), Minute(_minute(o.placed_at))).placed += 1
            if o.confirmed_at is not None and o.confirmed_at in time_range:
                m = minutes.setdefault(_minute(o.confirmed_at), Minute(_minute(o.confirmed_at)))
                m.confirmed += 1
                m.revenue_paise += o.confirmed_paise
        report.minutes = [minutes[k] for k in sorted(minutes)]
        return report


def build_report(events: Iterable[Message], time_range: TimeRange) -> Report:
    """Fold the events of :data:`REPORT_TOPICS` (in any order) into the report of ``time_range``."""
    fold = ReportFold()
    for event in events:
        fold.add(event)
    return fold.report(time_range)
