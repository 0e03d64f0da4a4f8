"""An order's live status as Server-Sent Events (``GET /orders/{order_id}/events``), for the confirmation page.

Two views serve it. The order service's answers from the worker that owns the order:
the order now, then once per change until it is final. Faust's ``table_route`` reads
the owner's whole answer before it replies, so it cannot forward a stream: the view
finds the owner itself and, when another worker owns the order, relays that worker's
stream chunk by chunk. The gateway's checks that the order is the shopper's and relays
the order service's stream the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing, contextmanager
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator

from aiohttp import web as aioweb
from faust.web import Request
from yarl import URL

from adapters.services import ServiceCalls, ServiceClient
from domain.errors import DependencyUnavailable, UnknownOrder
from domain.orders import Order
from tables.model_table import ModelTable
from tables.orders import OrderWaiters
from web.base import ApiView
from web.sessions import Identity, owned_order

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["LiveStreams", "sse_event", "relay_events", "register_order_stream", "register_order_stream_relay",
           "HEARTBEAT_S", "STREAM_LIFETIME_S"]

log = logging.getLogger(__name__)

#: a comment line this often keeps proxies and the browser from closing an idle stream
HEARTBEAT_S = 15.0
#: a stream ends after this long; the browser's EventSource reconnects and gets the order again
STREAM_LIFETIME_S = 300.0
#: how long the browser waits before it reconnects a stream that ended (the SSE ``retry:`` field)
RECONNECT_MS = 2000
#: set on a stream relayed to the owner, so two workers that disagree during a rebalance
#: do not pass the request back and forth
ROUTED_HEADER = "X-Megatron-Routed"


class LiveStreams:
    """The open event streams of one worker, cancelled when its web server shuts down.

    aiohttp waits for running handlers before the worker can stop (up to a minute);
    a stream never finishes on its own before its order does, so shutdown ends it.
    The browser reconnects to whichever worker serves the order next.
    """

    def __init__(self, web_app: aioweb.Application) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        web_app.on_shutdown.append(self._close)

    @contextmanager
    def track(self) -> Iterator[None]:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def _close(self, _app: aioweb.Application) -> None:
        for task in list(self._tasks):
            task.cancel()


def sse_event(data: Any, *, event: str, event_id: str | None = None) -> bytes:
    """One Server-Sent Event: ``data`` as one line of JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _stream_response() -> aioweb.StreamResponse:
    return aioweb.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
    })


async def relay_events(request: Request, url: str | URL, services: ServiceClient, streams: LiveStreams,
                       headers: dict[str, str] | None = None) -> aioweb.StreamResponse:
    """Forward the order service's event stream at ``url`` to the client chunk by chunk, as it arrives.

    A non-stream answer (a 404 for an unknown order, a 503) is passed on as it is.
    """
    headers = {"Accept": "text/event-stream", **(headers or {})}
    if last_id := request.headers.get("Last-Event-ID"):
        headers["Last-Event-ID"] = last_id
    with streams.track():
        # the stream lives as long as the order does; a silent upstream (no heartbeat for two periods) is gone
        async with services.stream("orders", url, headers, idle_s=2 * HEARTBEAT_S + 5) as upstream:
            if upstream.status != 200 or upstream.content_type != "text/event-stream":
                return aioweb.Response(body=await upstream.read(), status=upstream.status,
                                       content_type=upstream.content_type)
            response = _stream_response()
            await response.prepare(request)  # type: ignore[arg-type]
            try:
                async with aclosing(upstream.chunks()) as chunks:
                    async for chunk in chunks:
                        await response.write(chunk)
            except ConnectionResetError as exc:  # the browser left
                log.info("event stream %s ended: %s", url, exc or type(exc).__name__)
            return response


def register_order_stream(app: "ServiceApp", orders: ModelTable[Order], waiters: OrderWaiters,
                          services: ServiceClient, read: Callable[[str], Awaitable[Order | None]],
                          body: Callable[[Order], dict[str, Any]]) -> None:
    """The order service's ``GET /orders/{order_id}/events``: ``read`` is its bounded wait for an order
    not stored yet, ``body`` the order's public JSON (both :mod:`web.orders`)."""
    streams = LiveStreams(app.web.web_app)  # type: ignore[attr-defined]

    def owner(order_id: str) -> URL | None:
        """The web URL of the worker that owns ``order_id``; ``None`` when it is this one."""
        try:
            url = app.router.key_store(orders.name, order_id)
        except KeyError:  # no assignment yet (starting, rebalancing)
            raise DependencyUnavailable("the order service is rebalancing; try again",
                                        {"order_id": order_id}) from None
        here = URL(str(app.conf.canonical_url))
        return None if (url.host, url.port) == (here.host, here.port) else url

    @app.page("/orders/{order_id}/events")
    class OrderEvents(ApiView):
        async def get(self, request: Request, order_id: str) -> Any:
            """The order now, then once per change, until it is final (Server-Sent Events)."""
            where = owner(order_id)
            if where is not None and ROUTED_HEADER not in request.headers:
                return await relay_events(request, where.with_path(request.path), services, streams,
                                          headers={ROUTED_HEADER: "1"})
            order = await read(order_id)
            if order is None:
                raise UnknownOrder(f"no order {order_id}", {"order_id": order_id})
            with streams.track(), waiters.subscribe(order_id) as changed:
                response = _stream_response()
                await response.prepare(request)  # type: ignore[arg-type]
                try:
                    await stream_changes(response, order_id, changed)
                except ConnectionResetError:
                    pass  # the browser left
                except Exception:  # the headers are sent: an error body cannot follow them
                    log.exception("event stream of order %s failed", order_id)
                return response

    async def stream_changes(response: aioweb.StreamResponse, order_id: str, changed: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_LIFETIME_S
        await response.write(f"retry: {RECONNECT_MS}\n\n".encode())
        sent_version = 0
        while True:
            changed.clear()  # before the read: a change after it sets the event again
            order = orders.get(order_id)
            if order is not None and order.version != sent_version:
                await response.write(sse_event(body(order), event="order", event_id=str(order.version)))
                sent_version = order.version
            if order is None or order.is_final:
                return  # final (or gone from this worker): nothing more will come
            remaining = deadline - loop.time()
            if remaining <= 0:
                return  # bounded lifetime; the browser reconnects
            try:
                await asyncio.wait_for(changed.wait(), min(HEARTBEAT_S, remaining))
            except asyncio.TimeoutError:
                await response.write(b": heartbeat\n\n")
                try:
                    if owner(order_id) is not None:
                        return  # a rebalance moved the order; the reconnect finds its new owner
                except DependencyUnavailable:
                    return  # rebalancing: the reconnect finds the owner once it is known


def register_order_stream_relay(app: "ServiceApp", identity: Identity, services: ServiceClient) -> None:
    """The gateway's ``GET /orders/{order_id}/events``: only the order's shopper gets its stream; anyone
    else the same 404 as for an order that does not exist."""
    orders: ServiceCalls = services.to("orders")
    streams = LiveStreams(app.web.web_app)  # type: ignore[attr-defined]

    @app.page("/orders/{order_id}/events")
    class OrderEvents(ApiView):
        async def get(self, request: Request, order_id: str) -> Any:
            """The order's live status from the worker that owns it, passed through as it comes."""
            shopper = await identity.shopper(request)
            await owned_order(orders, order_id, shopper.user_id)
            url = URL(orders.base) / "orders" / order_id / "events"
            return await relay_events(request, url, services, streams)
