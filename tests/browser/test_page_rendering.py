"""What the pages are made of, without a browser or a broker: rendering, escaping, static files, waiters."""

from __future__ import annotations

import asyncio
import json
import re
from html import escape
from datetime import datetime, timezone
from typing import Any

import pytest

from config.settings import Settings
from domain.checkout import VPA_PATTERN
from streams.events import FailureReason
from tables.orders import OrderWaiters
from web.order_stream import sse_event
from domain.sessions import EMAIL_PATTERN
from web.pages import (FAILURE_TEXT, STATUS_TEXT, _static_file, checkout_page, confirmation_page, order_steps,
                       products_page)

AT = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc).isoformat()


def order(status: str, history: list[str], reason: str | None = None, name: str = "iPhone 15") -> dict[str, Any]:
    return {"order_id": "a" * 32, "user_id": "ravi", "status": status, "reason": reason,
            "items": [{"sku": "IPHONE-15", "name": name, "unit_price_paise": 79_900_00, "quantity": 1,
                       "line_total_paise": 79_900_00}],
            "total_paise": 79_900_00, "history": [{"status": s, "at": AT} for s in history],
            "created_at": AT, "updated_at": AT}


@pytest.mark.parametrize(("status", "history", "reason", "states"), [
    ("CREATED", ["CREATED"], None, ["done", "current", "todo"]),
    ("INVENTORY_RESERVED", ["CREATED", "INVENTORY_RESERVED"], None, ["done", "done", "current"]),
    ("CONFIRMED", ["CREATED", "INVENTORY_RESERVED", "CONFIRMED"], None, ["done", "done", "done"]),
    ("FAILED", ["CREATED", "FAILED"], "OUT_OF_STOCK", ["done", "failed", "todo"]),
    ("FAILED", ["CREATED", "INVENTORY_RESERVED", "FAILED"], "PAYMENT_DECLINED", ["done", "done", "failed"]),
])
def test_steps_show_where_the_order_is(status: str, history: list[str], reason: str | None,
                                       states: list[str]) -> None:
    steps = order_steps(order(status, history, reason))
    assert [s["state"] for s in steps] == states
    if reason:
        failed = next(s for s in steps if s["state"] == "failed")
        assert failed["label"] == FAILURE_TEXT[reason]["step"] and failed["at"] == AT


def test_every_status_and_failure_reason_has_words() -> None:
    assert set(STATUS_TEXT) == {"CREATED", "INVENTORY_RESERVED", "CONFIRMED", "FAILED"}
    assert {r.value for r in FailureReason} <= set(FAILURE_TEXT)


def test_confirmation_page_escapes_what_it_shows() -> None:
    html = confirmation_page(order("FAILED", ["CREATED", "FAILED"], "TIMED_OUT", name="<script>x</script>"))
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    texts = re.search(r'<script type="application/json" id="order-texts">(.*?)</script>', html, re.S)
    assert texts and json.loads(texts[1])["failure"]["TIMED_OUT"] == FAILURE_TEXT["TIMED_OUT"]
    assert "₹79,900.00" in html and 'data-status="FAILED"' in html


def test_pages_render_rupees_and_the_vpa_pattern() -> None:
    products = products_page([{"sku": "MACBOOK-AIR", "name": "MacBook Air M3", "price_paise": 1_14_900_00,
                               "available": 0}], "u-0123456789abcdef")
    assert "₹1,14,900.00" in products and "Out of stock" in products and " disabled>" in products
    assert 'data-user-id="u-0123456789abcdef"' in products  # the shopper the session cookie names
    checkout = checkout_page(Settings(), "u-0123456789abcdef")
    assert f'data-pattern="{escape(VPA_PATTERN)}"' in checkout  # the API's own pattern, checked in the browser
    assert f'data-pattern="{escape(EMAIL_PATTERN)}"' in checkout  # the email the gateway accepts, no looser
    assert "$" not in re.sub(r'data-pattern="[^"]*"', "", checkout)  # no unfilled placeholder


def test_static_files_only_from_the_folder() -> None:
    found = _static_file("shop.js")
    assert found is not None and found[1].startswith("text/javascript")
    assert _static_file("../pages.py") is None
    assert _static_file("pages.py") is None
    assert _static_file(".hidden.js") is None


def test_sse_event_is_one_line_of_json() -> None:
    assert sse_event({"a": "x\ny"}, event="order", event_id="3") == b'id: 3\nevent: order\ndata: {"a":"x\\ny"}\n\n'


async def test_waiters_wake_every_subscriber_and_forget_them() -> None:
    waiters = OrderWaiters()
    with waiters.subscribe("o1") as first, waiters.subscribe("o1") as second:
        waiting = asyncio.ensure_future(waiters.wait("o1", timeout=5))
        await asyncio.sleep(0)
        waiters.wake("o1")
        await asyncio.wait_for(waiting, 1)
        assert first.is_set() and second.is_set()
    waiters.wake("o1")  # nobody listens any more: nothing to do, nothing kept
    assert not waiters._subscribers
    await waiters.wait("o2", timeout=0.01)  # times out quietly
    assert not waiters._subscribers
