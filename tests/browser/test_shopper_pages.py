"""Ravi's checkout in a real browser: the shopper pages against the real platform.

What a shopper sees and does, asserted on the page (roles and labels, as a screen
reader finds them) and cross-checked with the API and the ``order-events`` topic.
Every wait is on a page condition (``expect``), never a sleep.
"""

from __future__ import annotations

import re
import signal
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from config.settings import Settings
from dev.platform import Platform
from domain.money import format_inr
from streams.topics import ORDER_EVENTS
from tests.browser.conftest import Screenshots
from tests.helpers import read_topic

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture skips (or fails) with the reason
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.integration

CONFIRMATION_URL = re.compile(r"/orders/([0-9a-f]{32})/confirmation$")


@pytest.fixture(autouse=True)
def _patient_expect() -> None:
    if expect is not None:
        expect.set_options(timeout=15_000)


@contextmanager
def held(platform: Platform, service: str) -> Iterator[None]:
    """The service's worker frozen (SIGSTOP) for a moment, so the order waits at the step before it."""
    platform.signal(service, signal.SIGSTOP)
    try:
        yield
    finally:
        platform.signal(service, signal.SIGCONT)


async def fill_delivery_and_payment(page: Any, vpa: str) -> None:
    await page.get_by_label("Full name").fill("Ravi Kumar")
    await page.get_by_label("Mobile number").fill("98123 45678")
    await page.get_by_label("Address", exact=True).fill("14 Chandni Chowk, near the metro")
    await page.get_by_label("City").fill("Delhi")
    await page.get_by_label("PIN code").fill("110006")
    await page.get_by_label("State").select_option("Delhi")
    await page.get_by_label("UPI ID (VPA)").fill(vpa)


async def put_in_cart(page: Any, user_id: str, **quantities: int) -> None:
    """Fill the cart through the API, for the tests that are about the checkout itself."""
    for sku, quantity in quantities.items():
        r = await page.request.put(f"/cart/{user_id}/items/{sku.replace('_', '-')}", data={"quantity": quantity})
        assert r.status == 200, await r.text()


def order_id_of(page: Any) -> str:
    match = CONFIRMATION_URL.search(page.url)
    assert match, page.url
    return match[1]


def checkout_posts(page: Any) -> list[str]:
    """The ``POST /checkout`` requests the page sends from now on, by Idempotency-Key."""
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.headers.get("idempotency-key", ""))
            if r.method == "POST" and r.url.endswith("/checkout") else None)
    return posts


async def test_ravi_buys_an_iphone_and_a_laptop(page: Any, user_id: str, platform: Platform,
                                                screenshots: Screenshots) -> None:
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Phones and laptops")
    await expect(page.locator("[data-shopper-id]")).to_have_text(user_id)
    await page.get_by_role("button", name="Add to cart: iPhone 15").click()
    await expect(page.locator("[data-cart-count]")).to_have_text("1")
    await page.get_by_role("button", name="Add to cart: Laptop").click()
    await expect(page.locator("[data-cart-count]")).to_have_text("2")
    await screenshots.save(page, "products")

    await page.get_by_role("link", name="Cart").click()
    await expect(page).to_have_url(re.compile(r"/checkout$"))
    lines = page.locator("[data-cart-lines] > li")
    await expect(lines).to_have_count(2)
    await expect(lines.nth(0)).to_contain_text("iPhone 15")
    await expect(lines.nth(0)).to_contain_text("₹79,900.00")
    await expect(lines.nth(1)).to_contain_text("Laptop")
    await expect(page.locator("[data-cart-total]")).to_have_text("₹1,44,890.00")
    # the steppers change the cart on the server, and the totals follow
    await page.get_by_role("button", name="Increase quantity of iPhone 15").click()
    await expect(page.get_by_label("Quantity of iPhone 15", exact=True)).to_have_value("2")
    await expect(page.locator("[data-cart-total]")).to_have_text("₹2,24,790.00")
    await page.get_by_role("button", name="Decrease quantity of iPhone 15").click()
    await expect(page.locator("[data-cart-total]")).to_have_text("₹1,44,890.00")

    await fill_delivery_and_payment(page, "ravi@okhdfc")
    place = page.get_by_role("button", name="Place order")
    await expect(place).to_contain_text("₹1,44,890.00")
    await screenshots.save(page, "checkout", for_readme=True)

    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    with held(platform, "payment"):  # so the page is seen waiting before the order is confirmed
        await place.click()
        await expect(page).to_have_url(CONFIRMATION_URL)
        order = page.locator("[data-order-id]")
        await expect(order).to_have_attribute("data-status", "INVENTORY_RESERVED")
        await expect(page.locator("[data-status-badge]")).to_have_text("Items reserved")
    landed = len(navigations)
    await expect(order).to_have_attribute("data-status", "CONFIRMED")  # pushed, not reloaded
    await expect(page.get_by_role("heading", level=1)).to_have_text("Order confirmed")
    await expect(page.locator("[data-status-badge]")).to_have_text("Confirmed")
    await expect(page.locator(".step.done")).to_have_count(3)
    await expect(page.get_by_role("heading", name="Thank you for shopping with us")).to_be_visible()
    assert len(navigations) == landed, f"the page navigated again: {navigations}"
    assert int(await order.get_attribute("data-live-events") or 0) >= 1
    await expect(page.locator("[data-cart-count]")).to_have_text("0")  # what was bought left the cart
    await screenshots.save(page, "confirmation", for_readme=True)

    r = await page.request.get(f"/orders/{order_id_of(page)}")
    body = await r.json()
    assert (body["status"], body["user_id"]) == ("CONFIRMED", user_id)
    assert [(i["sku"], i["quantity"]) for i in body["items"]] == [("IPHONE-15", 1), ("LAPTOP", 1)]
    assert [h["status"] for h in body["history"]] == ["CREATED", "INVENTORY_RESERVED", "CONFIRMED"]


async def test_declined_payment_shows_why_and_keeps_the_cart(page: Any, user_id: str,
                                                             screenshots: Screenshots) -> None:
    await put_in_cart(page, user_id, IPHONE_15=1)
    await page.goto("/checkout")
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(1)
    await fill_delivery_and_payment(page, "declined@upi")
    await page.get_by_role("button", name="Place order").click()

    await expect(page).to_have_url(CONFIRMATION_URL)
    await expect(page.locator("[data-order-id]")).to_have_attribute("data-status", "FAILED")
    await expect(page.locator("[data-order-id]")).to_have_attribute("data-reason", "PAYMENT_DECLINED")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Order not completed")
    failure = page.locator("[data-failure]")
    await expect(failure).to_be_visible()
    await expect(failure).to_contain_text("Your UPI payment was declined")
    await expect(page.locator(".step.failed")).to_have_text(re.compile("Payment declined"))
    await screenshots.save(page, "confirmation-declined")

    await failure.get_by_role("link", name="Back to checkout").click()
    await expect(page).to_have_url(re.compile(r"/checkout$"))
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(1)
    await expect(page.locator("[data-cart-lines]")).to_contain_text("iPhone 15")
    await expect(page.get_by_label("Full name")).to_have_value("Ravi Kumar")  # remembered for the retry


async def test_double_click_places_one_order(page: Any, user_id: str, settings: Settings) -> None:
    await put_in_cart(page, user_id, REDMI_13C=1)
    await page.goto("/checkout")
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(1)
    await fill_delivery_and_payment(page, "ravi@okhdfc")
    posts = checkout_posts(page)

    await page.get_by_role("button", name="Place order").dblclick()

    await expect(page).to_have_url(CONFIRMATION_URL)
    await expect(page.locator("[data-order-id]")).to_have_attribute("data-status", "CONFIRMED")
    assert len(posts) == 1, f"Place order sent {len(posts)} requests"
    placed = [e for e in await read_topic(settings, ORDER_EVENTS.name)
              if e["type"] == "OrderPlaced" and e["user_id"] == user_id]
    assert [e["order_id"] for e in placed] == [order_id_of(page)]


async def test_repeated_place_order_reuses_its_idempotency_key(page: Any, user_id: str) -> None:
    """Two submits of one attempt (script, not mouse: no disabled button in the way) send at most one key."""
    await put_in_cart(page, user_id, REDMI_13C=1)
    await page.goto("/checkout")
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(1)
    await fill_delivery_and_payment(page, "ravi@okhdfc")
    posts = checkout_posts(page)
    await page.locator("[data-checkout-form]").evaluate("form => { form.requestSubmit(); form.requestSubmit(); }")
    await expect(page).to_have_url(CONFIRMATION_URL)
    assert len(set(posts)) == 1 and len(posts) == 1, posts


async def test_invalid_vpa_is_refused_before_submit(page: Any, user_id: str) -> None:
    await put_in_cart(page, user_id, LAPTOP=1)
    await page.goto("/checkout")
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(1)
    await fill_delivery_and_payment(page, "ravi at okhdfc")
    posts = checkout_posts(page)

    await page.get_by_role("button", name="Place order").click()

    vpa = page.get_by_label("UPI ID (VPA)")
    await expect(vpa).to_have_attribute("aria-invalid", "true")
    await expect(vpa).to_be_focused()
    await expect(page.locator("#vpa-error")).to_have_text(re.compile("not a valid UPI ID"))
    await expect(vpa).to_have_accessible_description(re.compile("not a valid UPI ID"))
    await expect(page).to_have_url(re.compile(r"/checkout$"))
    await vpa.fill("ravi@okhdfc")  # corrected: the error goes as the shopper types
    await expect(page.locator("#vpa-error")).to_be_hidden()
    assert posts == []


async def test_checkout_fits_a_phone_and_labels_every_control(page: Any, user_id: str,
                                                               screenshots: Screenshots) -> None:
    await page.set_viewport_size({"width": 375, "height": 740})
    await put_in_cart(page, user_id, IPHONE_15=1, MACBOOK_AIR=2)
    await page.goto("/checkout")
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(2)
    await expect(page.locator("[data-cart-total]")).to_have_text(format_inr(79_900_00 + 2 * 1_14_900_00))
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    unlabelled = await page.evaluate("""() => [...document.querySelectorAll('input, textarea, select, button')]
        .filter(el => !el.closest('template'))
        .filter(el => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
        .map(el => el.outerHTML)""")
    assert unlabelled == []
    await screenshots.save(page, "checkout-phone")
    await page.get_by_role("button", name="Remove MacBook Air M3 from cart").click()
    await expect(page.locator("[data-cart-lines] > li")).to_have_count(1)
    await expect(page.locator("[data-cart-total]")).to_have_text("₹79,900.00")


async def test_rupees_in_the_browser_match_the_server(page: Any) -> None:
    await page.goto("/checkout")
    amounts = [0, 5, 99_00, 1_000_00, 79_900_00, 1_44_890_00, 12_34_56_789_00, -1_14_900_50]
    shown = await page.evaluate("async (amounts) => amounts.map((await import('/static/shop.js')).formatINR)",
                                amounts)
    assert shown == [format_inr(a) for a in amounts]


async def test_unknown_order_gets_a_page_not_json(page: Any) -> None:
    response = await page.goto("/orders/0123456789abcdef0123456789abcdef/confirmation")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
