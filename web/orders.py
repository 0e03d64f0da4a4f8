"""The order service's views: create (a command on the log), read and watch (answered by the owner).

``GET /orders/{order_id}/events`` is the order's live status as Server-Sent Events,
for the confirmation page. Faust's ``table_route`` reads the owner's whole answer
before it replies, so it cannot forward a stream: the view finds the owner itself
and, when another worker owns the order, relays that worker's stream chunk by chunk.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import aiohttp
from aiohttp import web as aioweb
from faust.web import Request, Response
from yarl import URL

from domain.orders import Order
from streams.commands import PlaceOrder
from streams.topics import ORDER_COMMANDS
from tables.model_table import ModelTable
from web.base import ApiView
from web.errors import DependencyUnavailable, UnknownOrder

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["OrderWaiters", "LiveStreams", "order_body", "sse_event", "relay_events", "register_order_views",
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


class OrderWaiters:
    """Wakes whoever waits on an order when its owner stores a change.

    The order agent calls :meth:`wake` after every stored change. A read waits once
    (:meth:`wait`, for an order not stored yet); a live stream subscribes
    (:meth:`subscribe`) and is woken on every change until it leaves.
    """

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    def wake(self, order_id: str) -> None:
        for event in self._subscribers.get(order_id, ()):
            event.set()

    async def wait(self, order_id: str, timeout: float) -> None:
        """Until the next change of ``order_id`` or ``timeout`` seconds, whichever comes first."""
        with self.subscribe(order_id) as changed:
            try:
                await asyncio.wait_for(changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    @contextmanager
    def subscribe(self, order_id: str) -> Iterator[asyncio.Event]:
        """An event set on every change of ``order_id``; clear it before reading the order."""
        changed = asyncio.Event()
        self._subscribers[order_id].add(changed)
        try:
            yield changed
        finally:
            subscribers = self._subscribers.get(order_id)
            if subscribers is not None:
                subscribers.discard(changed)
                if not subscribers:
                    del self._subscribers[order_id]


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


def order_body(order: Order) -> dict[str, Any]:
    """The public JSON of an order (DESIGN.md ``GET /orders/{order_id}``)."""
    return {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status.value,
        "reason": order.reason.value if order.reason else None, "note": order.note,
        "items": [{**line.model_dump(), "line_total_paise": line.line_total_paise} for line in order.items],
        "total_paise": order.total_paise,
        "shipping_address": order.shipping_address.model_dump() if order.shipping_address else None,
        "history": [{"status": h.status.value, "at": h.at.isoformat()} for h in order.history],
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
    }


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


async def relay_events(request: Request, url: str | URL, http: aiohttp.ClientSession, streams: LiveStreams,
                       connect_timeout: float, headers: dict[str, str] | None = None) -> aioweb.StreamResponse:
    """Forward the event stream at ``url`` to the client chunk by chunk, as it arrives.

    A non-stream answer (a 404 for an unknown order, a 503) is passed on as it is.
    """
    headers = {"Accept": "text/event-stream", **(headers or {})}
    if last_id := request.headers.get("Last-Event-ID"):
        headers["Last-Event-ID"] = last_id
    # no total timeout: the stream lives as long as the order does; a silent upstream
    # (no heartbeat for two periods) counts as gone
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=2 * HEARTBEAT_S + 5)
    with streams.track():
        try:
            upstream = await http.get(str(url), headers=headers, timeout=timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise DependencyUnavailable("the order service cannot be reached",
                                        {"service": "orders", "error": str(exc) or type(exc).__name__}) from None
        async with upstream:
            if upstream.status != 200 or upstream.content_type != "text/event-stream":
                return aioweb.Response(body=await upstream.read(), status=upstream.status,
                                       content_type=upstream.content_type)
            response = _stream_response()
            await response.prepare(request)  # type: ignore[arg-type]
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionResetError) as exc:
                log.info("event stream %s ended: %s", url, exc or type(exc).__name__)
            return response


def register_order_views(app: "ServiceApp", orders: ModelTable[Order], waiters: OrderWaiters) -> None:
    streams = LiveStreams(app.web.web_app)  # type: ignore[attr-defined]

    @app.page("/orders")
    class CreateOrder(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            """202 once the broker holds the PlaceOrder command: the log is the store."""
            command = await self.body(request, PlaceOrder)
            await app.emit(ORDER_COMMANDS, command)
            return self.json({"order_id": command.order_id, "status": "CREATED"}, status=202)

    async def read_or_wait(order_id: str) -> Order | None:
        """The order, waiting a bounded time for one whose command its owner has not folded yet."""
        order = orders.get(order_id)
        if order is None:
            await waiters.wait(order_id, app.settings.order_read_wait_s)
            order = orders.get(order_id)
        return order

    @app.page("/orders/{order_id}")
    class ReadOrder(ApiView):
        @app.table_route(table=orders.table, match_info="order_id")
        async def get(self, request: Request, order_id: str) -> Response:
            wait = request.query.get("wait", "1") != "0"
            order = await read_or_wait(order_id) if wait else orders.get(order_id)
            if order is None:
                raise UnknownOrder(f"no order {order_id}", {"order_id": order_id})
            return self.json(order_body(order))

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
                return await relay_events(request, where.with_path(request.path), app.http_client, streams,
                                          app.settings.http_timeout_s, headers={ROUTED_HEADER: "1"})
            order = await read_or_wait(order_id)
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
                await response.write(sse_event(order_body(order), event="order", event_id=str(order.version)))
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
