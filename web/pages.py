"""The shoppers' pages, served by the gateway: products, checkout, and the live order confirmation.

Plain HTML from ``web/templates`` (``string.Template``; every value is escaped here),
one stylesheet and small ES modules from ``web/static``: no build step, no CDN. The
gateway gives the browser a guest session on its first visit (an HttpOnly cookie, see
:mod:`web.sessions`) and renders the shopper's id into each page; the browser drives
the JSON API of the gateway with that cookie; the
confirmation page follows the order over Server-Sent Events
(``GET /orders/{order_id}/events``, :mod:`web.order_stream`), relayed from the order service.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from faust.web import Request, Response

from adapters.services import ServiceClient
from domain.address import address_lines
from domain.checkout import VPA_PATTERN
from domain.errors import MegatronError, NotFound
from domain.sessions import EMAIL_PATTERN
from domain.money import format_inr
from web.base import ApiView
from web.errors import status_of
from web.sessions import Identity, owned_order

if TYPE_CHECKING:
    from config.app import ServiceApp
    from config.settings import Settings

__all__ = ["PageView", "SECURITY_HEADERS", "register_page_views", "checkout_page", "STATUS_TEXT", "FAILURE_TEXT", "STEPS"]

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".svg": "image/svg+xml"}
#: pages load scripts, styles and data from this server only
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
IST = timezone(timedelta(hours=5, minutes=30), "IST")

#: what the confirmation page says for each status: badge, headline, sentence
STATUS_TEXT: dict[str, dict[str, str]] = {
    "CREATED": {"label": "Placed", "headline": "Order placed",
                "message": "We have your order and are reserving your items…"},
    "INVENTORY_RESERVED": {"label": "Items reserved", "headline": "Order placed",
                           "message": "Your items are reserved. Waiting for your UPI payment to go through…"},
    "CONFIRMED": {"label": "Confirmed", "headline": "Order confirmed",
                  "message": "Payment received. Your order is confirmed and on its way to the warehouse."},
    "FAILED": {"label": "Failed", "headline": "Order not completed",
               "message": "We could not complete your order."},
}
#: why an order failed, in the shopper's words, with what to do next
FAILURE_TEXT: dict[str, dict[str, str]] = {
    "OUT_OF_STOCK": {"step": "Out of stock",
                     "message": "Sorry, an item in your cart sold out before we could reserve it. "
                                "Nothing was charged. Change the quantity or remove the item, then try again."},
    "PAYMENT_DECLINED": {"step": "Payment declined",
                         "message": "Your UPI payment was declined, so nothing was charged. "
                                    "Check your UPI ID or use another one, then try again."},
    "PAYMENT_TIMEOUT": {"step": "Payment timed out",
                        "message": "Your UPI app did not confirm the payment in time, so we cancelled the order "
                                   "and nothing was charged. Please try again."},
    "TIMED_OUT": {"step": "Timed out",
                  "message": "Your order took too long to complete, so we cancelled it and nothing was "
                             "charged. Please try again."},
    "CANCELLED": {"step": "Cancelled",
                  "message": "This order was cancelled by our customer care team. If you did not ask for "
                             "that, please place it again or contact us."},
    "": {"step": "Not completed", "message": "We could not complete your order. Please try again."},
}
#: the progress of an order, in the order shown
STEPS: tuple[tuple[str, str], ...] = (
    ("CREATED", "Order placed"), ("INVENTORY_RESERVED", "Items reserved"), ("CONFIRMED", "Payment confirmed"),
)
_LAPTOPS = frozenset({"LAPTOP", "MACBOOK-AIR"})


class PageView(ApiView):
    """A view answering HTML: its errors come back as an error page, not JSON."""

    def error_response(self, exc: MegatronError) -> Response:
        status = status_of(exc)
        title = "Page not found" if status == 404 else "Something went wrong"
        main = _render("error.html", title=escape(title), message=escape(exc.message))
        return self.page(title, main, script="shop.js", status=status)

    def page(self, title: str, main: str, *, script: str, status: int = 200) -> Response:
        return self.html(layout(title, main, script, ""), status=status, headers=dict(SECURITY_HEADERS))


@lru_cache(maxsize=None)
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _render(template: str, **values: Any) -> str:
    """A template filled with ``values``, which the caller has escaped."""
    return _template(template).substitute(values)


def layout(title: str, main: str, script: str, user_id: str) -> str:
    """The page around ``main``, for the shopper ``user_id`` (whose session cookie the browser holds)."""
    return _render("layout.html", title=escape(title), main=main, script=escape(script), user_id=escape(user_id))


def checkout_page(settings: "Settings", user_id: str) -> str:
    """``GET /checkout``: the form; the cart lines are filled in by the browser, with the shopper's cookie."""
    main = _render("checkout.html", vpa_pattern=escape(VPA_PATTERN), email_pattern=escape(EMAIL_PATTERN),
                   max_quantity=settings.max_line_quantity)
    return layout("Checkout", main, "checkout.js", user_id)


def products_page(products: list[dict[str, Any]], user_id: str) -> str:
    cards = "\n".join(_product_card(p) for p in products)
    return layout("Phones and laptops", _render("products.html", cards=cards), "products.js", user_id)


def _product_card(p: dict[str, Any]) -> str:
    available = int(p["available"])
    stock = "Out of stock" if available <= 0 else f"Only {available} left" if available <= 5 else "In stock"
    return _render(
        "product_card.html", sku=escape(p["sku"]), name=escape(p["name"]), price=escape(format_inr(p["price_paise"])),
        stock=escape(stock), stock_class="out" if available <= 0 else "low" if available <= 5 else "in",
        art="laptop" if p["sku"] in _LAPTOPS else "phone", disabled=" disabled" if available <= 0 else "",
    )


def _time(iso: str, with_date: bool = False) -> str:
    at = datetime.fromisoformat(iso).astimezone(IST)
    return at.strftime("%d %b %Y, %H:%M IST" if with_date else "%H:%M:%S IST")


def order_steps(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Each step's label, state (done, current, failed, todo) and time; ``confirmation.js`` mirrors it."""
    reached = {h["status"]: h["at"] for h in order["history"]}
    failed = order["status"] == "FAILED"
    steps, blocked = [], False
    for status, label in STEPS:
        if status in reached:
            steps.append({"status": status, "label": label, "state": "done", "at": reached[status]})
        elif failed and not blocked:
            reason = FAILURE_TEXT.get(order["reason"] or "", FAILURE_TEXT[""])
            steps.append({"status": status, "label": reason["step"], "state": "failed", "at": reached.get("FAILED")})
            blocked = True
        else:
            steps.append({"status": status, "label": label, "state": "todo" if blocked or failed else "current",
                          "at": None})
            blocked = True
    return steps


def confirmation_page(order: dict[str, Any]) -> str:
    status, reason = order["status"], order["reason"] or ""
    address = order.get("shipping_address")  # None for an order placed before the checkout sent one
    text = STATUS_TEXT[status]
    failure = FAILURE_TEXT.get(reason, FAILURE_TEXT[""])
    steps = "\n".join(
        f'<li class="step {s["state"]}" data-step="{s["status"]}"><span class="step-label">{escape(s["label"])}</span>'
        f' <time data-step-time datetime="{escape(s["at"] or "")}">{_time(s["at"]) if s["at"] else ""}</time></li>'
        for s in order_steps(order))
    items = "\n".join(
        f'<tr><th scope="row">{escape(i["name"])}</th><td class="num">{i["quantity"]}</td>'
        f'<td class="num">{format_inr(i["unit_price_paise"])}</td><td class="num">{format_inr(i["line_total_paise"])}</td></tr>'
        for i in order["items"])
    texts = {"status": STATUS_TEXT, "failure": FAILURE_TEXT, "steps": dict(STEPS)}
    main = _render(
        "confirmation.html", order_id=escape(order["order_id"]), status=escape(status), reason=escape(reason),
        headline=escape(text["headline"]), label=escape(text["label"]),
        message=escape(failure["message"] if status == "FAILED" else text["message"]),
        placed_at=escape(_time(order["created_at"], with_date=True)), steps=steps, items=items,
        total=format_inr(order["total_paise"]), failure_message=escape(failure["message"]),
        delivery="<br>\n".join(escape(line) for line in address_lines(address)) if address else "",
        delivery_hidden="" if address else " hidden",
        failure_hidden="" if status == "FAILED" else " hidden", success_hidden="" if status == "CONFIRMED" else " hidden",
        # JSON inside <script>: "<" escaped so no text can close the element
        texts=json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c"),
    )
    return layout(text["headline"], main, "confirmation.js", order["user_id"])


def register_page_views(app: "ServiceApp", identity: Identity, services: ServiceClient,
                        products: Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
    """``/``, ``/orders/{id}/confirmation`` and ``/static/``.

    ``GET /checkout`` shares its path with the checkout API, so the gateway's
    checkout view serves it with :func:`checkout_page`. An order's page is only its
    shopper's: anyone else gets the same 404 as for an order that does not exist.
    """

    orders = services.to("orders")

    @app.page("/")
    class Products(PageView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            await identity.limit_address(request)
            shopper, cookie = identity.page_shopper(request)
            return self.html(products_page(await products(), shopper.user_id),
                             headers={**SECURITY_HEADERS, **cookie, "Cache-Control": "no-store"})

    @app.page("/orders/{order_id}/confirmation")
    class Confirmation(PageView):
        async def get(self, request: Request, order_id: str) -> Response:
            await identity.limit_address(request)
            shopper, cookie = identity.page_shopper(request)
            try:
                order = await owned_order(orders, order_id, shopper.user_id)
            except NotFound:
                raise NotFound("We could not find that order. Check the link, or place the order again.") from None
            return self.html(confirmation_page(order), headers={**SECURITY_HEADERS, **cookie, "Cache-Control": "no-store"})

    @app.page("/static/{name}")
    class Static(ApiView):
        async def get(self, request: Request, name: str) -> Response:
            """A file of ``web/static``, revalidated by its ETag so an edit shows on the next load."""
            found = _static_file(name)
            if found is None:
                raise NotFound(f"no static file {name}", {"name": name})
            body, content_type, etag = found
            headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
            if request.headers.get("If-None-Match") == etag:
                return self.bytes(b"", status=304, headers=headers)
            return self.bytes(body, headers={**headers, "Content-Type": content_type})


def _static_file(name: str) -> tuple[bytes, str, str] | None:
    """``(body, content type, etag)`` of a file directly in ``web/static``; ``None`` for anything else."""
    path = STATIC / name
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is None or name.startswith(".") or path.parent != STATIC or not path.is_file():
        return None
    body = path.read_bytes()
    return body, content_type, f'"{hashlib.sha256(body).hexdigest()[:16]}"'
