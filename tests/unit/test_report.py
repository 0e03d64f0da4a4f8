"""``megatron report``'s arithmetic and its HTML page, on events made here (no broker)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from cli.reader import TimeRange, parse_time
from cli.report import build_report, percentile
from cli.report_html import compact_inr, render_html
from streams.events import (
    Contact, FailureReason, InventoryFailed, InventoryReserved, Line, Message, OrderConfirmed, OrderFailed,
    OrderPlaced, Payment, PaymentConfirmed, PaymentFailed,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
LINE = Line(sku="REDMI-13C", name="Redmi 13C", unit_price_paise=8_999_00, quantity=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def confirmed_order(order_id: str, placed_s: float, took_ms: float, paise: int = 8_999_00) -> list[Message]:
    done = at(placed_s) + timedelta(milliseconds=took_ms)
    return [
        OrderPlaced(order_id=order_id, occurred_at=at(placed_s), user_id="u", items=(LINE,), total_paise=paise,
                    payment=Payment(vpa="u@okhdfc"), contact=Contact(email="u@example.com")),
        InventoryReserved(order_id=order_id, occurred_at=at(placed_s + 0.05)),
        PaymentConfirmed(order_id=order_id, occurred_at=done - timedelta(milliseconds=1), payment_id=f"pay-{order_id}",
                         amount_paise=paise, gateway_ref="ref"),
        OrderConfirmed(order_id=order_id, occurred_at=done, user_id="u", items=(LINE,), total_paise=paise),
    ]


def failed_order(order_id: str, placed_s: float, reason: FailureReason) -> list[Message]:
    placed = OrderPlaced(order_id=order_id, occurred_at=at(placed_s), user_id="u", items=(LINE,),
                         total_paise=8_999_00, payment=Payment(vpa="u@okhdfc"), contact=Contact(email="u@example.com"))
    failed = OrderFailed(order_id=order_id, occurred_at=at(placed_s + 0.3), user_id="u", items=(LINE,), reason=reason)
    if reason is FailureReason.OUT_OF_STOCK:
        return [placed, InventoryFailed(order_id=order_id, occurred_at=at(placed_s + 0.1)), failed]
    return [placed, InventoryReserved(order_id=order_id, occurred_at=at(placed_s + 0.1)),
            PaymentFailed(order_id=order_id, occurred_at=at(placed_s + 0.2), payment_id="p", amount_paise=1,
                          reason=reason), failed]


def test_percentiles_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50, 95, 99)
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_funnel_failures_latency_and_revenue() -> None:
    events = (confirmed_order("a", 10, 200) + confirmed_order("b", 20, 400, paise=1_000_00)
              + confirmed_order("c", 70, 300) + failed_order("d", 30, FailureReason.PAYMENT_DECLINED)
              + failed_order("e", 40, FailureReason.OUT_OF_STOCK) + failed_order("f", 80, FailureReason.OUT_OF_STOCK)
              + confirmed_order("g", 90, 100)[:2])  # placed and reserved, not yet paid
    r = build_report(events, TimeRange())
    assert r.funnel == {"placed": 7, "reserved": 5, "paid": 3, "confirmed": 3}
    assert (r.failed, r.in_progress) == (3, 1)
    assert r.failures == {"OUT_OF_STOCK": 2, "PAYMENT_DECLINED": 1}
    assert r.latency == {"orders": 3, "p50_ms": 300.0, "p95_ms": 400.0, "p99_ms": 400.0, "max_ms": 400.0}
    assert [(m.start.minute, m.placed, m.confirmed, m.revenue_paise) for m in r.minutes] == \
        [(0, 4, 2, 8_999_00 + 1_000_00), (1, 3, 1, 8_999_00)]
    out = r.as_dict()
    assert out["revenue_paise"] == 2 * 8_999_00 + 1_000_00 and out["revenue"] == "₹18,998.00"
    assert out["orders_per_minute"][0]["minute"] == "2026-11-26T10:00:00Z"


def test_each_order_counts_once_however_often_its_events_were_delivered() -> None:
    once = confirmed_order("a", 10, 250)
    again = [e.model_copy(update={"event_id": f"re-{e.event_id}"}) for e in once]  # at-least-once: a re-send
    r = build_report(once + again + once, TimeRange())
    assert r.funnel == {"placed": 1, "reserved": 1, "paid": 1, "confirmed": 1}
    assert r.latency["orders"] == 1 and r.revenue_paise == 8_999_00


def test_funnel_follows_orders_placed_in_the_range_past_its_end() -> None:
    """An order placed just before ``until`` and confirmed after it is in the funnel and its latency;
    its revenue falls in the minute it was confirmed, outside the range."""
    events = confirmed_order("early", 5, 100) + confirmed_order("inside", 59.9, 300) + confirmed_order("late", 61, 100)
    r = build_report(events, TimeRange(at(10), at(60)))
    assert r.funnel["placed"] == 1 and r.funnel["confirmed"] == 1
    assert r.latency["p50_ms"] == pytest.approx(300.0)
    assert [(m.placed, m.confirmed) for m in r.minutes] == [(1, 0)]  # confirmed at 10:01:00.2, after until
    assert r.revenue_paise == 0


def test_time_range_is_half_open_and_parses_iso_8601() -> None:
    r = TimeRange.parse("2026-11-26T10:00:00Z", "2026-11-26 15:31+05:30")
    assert r.until == at(60)
    assert at(0) in r and at(59.999) in r and at(60) not in r and at(-0.001) not in r
    assert parse_time("2026-11-26", "--since") == T0.replace(hour=0)
    with pytest.raises(ValueError, match="--since 'noon' is not an ISO 8601 time"):
        TimeRange.parse("noon", None)
    with pytest.raises(ValueError, match="is after --until"):
        TimeRange.parse("2026-11-27", "2026-11-26")


def test_html_is_one_self_contained_page_with_well_formed_charts() -> None:
    events = (confirmed_order("a", 10, 200) + confirmed_order("b", 200, 400)
              + failed_order("d", 30, FailureReason.PAYMENT_DECLINED) + failed_order("<x>", 40, FailureReason.OUT_OF_STOCK))
    page = render_html(build_report(events, TimeRange(at(0), None)))
    assert page.startswith("<!doctype html>") and "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=""", page), "nothing is loaded from anywhere"
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 5  # funnel, failures, orders, revenue, latency
    for svg in svgs:
        ET.fromstring(svg)  # well-formed, so every browser draws it
    assert "PAYMENT_DECLINED" in page and "₹17,998.00" in page
    assert "10:00" in page and "10:03" in page, "minutes without orders between are charted as zero"


def test_html_without_events_still_renders() -> None:
    page = render_html(build_report([], TimeRange()))
    assert "Nothing to show" in page and "No confirmed orders" in page


def test_compact_rupees_for_axes() -> None:
    assert [compact_inr(p) for p in (95_000, 12_50_000, 3_20_00_000, 1_10_00_00_000, 10_00_000)] == \
        ["₹950", "₹12.5K", "₹3.2L", "₹1.1Cr", "₹10K"]
