"""Calls between the platform's services over HTTP: one client per worker, its own session and timeout.

A worker has one :class:`ServiceClient` (:func:`service_client`, started and stopped with its app) and calls
every service it needs through it (``client.to("orders").get(...)``). What cannot be
reached, times out or fails (5xx) is :class:`~domain.errors.DependencyUnavailable`; a
4xx is the other service saying no, :class:`~domain.errors.Refused` with its status and
its own error code, so a caller can pass it on as it came.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping
from weakref import WeakKeyDictionary

import aiohttp
from yarl import URL

from adapters.http import NO_ANSWER, HttpClient
from config.settings import Settings
from domain.errors import DependencyUnavailable, Refused

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["ServiceClient", "ServiceCalls", "Streamed", "refusal", "service_client"]

log = logging.getLogger(__name__)

#: what ends a stream being read (the other side went away or fell silent)
_STREAM_ENDED = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionResetError)


def _unreachable(service: str, exc: BaseException) -> DependencyUnavailable:
    return DependencyUnavailable(f"the {service} service cannot be reached",
                                 {"service": service, "error": str(exc) or type(exc).__name__})


def refusal(status: int, body: Any) -> Refused:
    """A service's 4xx answer as the error to pass on: its code, message and details when it gave them."""
    err = body.get("error", {}) if isinstance(body, dict) else {}
    return Refused(err.get("message", f"HTTP {status}"), err.get("details"),
                   code=err.get("code", "downstream_error"), status=status)


class ServiceClient(HttpClient):
    """JSON over HTTP to the other services, on a session of its own with ``HTTP_TIMEOUT_S`` per call."""

    what = "service client"

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(settings.http_timeout_s, **kwargs)
        self.settings = settings

    def to(self, service: str) -> "ServiceCalls":
        """The calls to one service (one of ``config.settings.SERVICES``)."""
        return ServiceCalls(self, service)

    def base(self, service: str) -> str:
        return self.settings.service_url(service)

    async def request(self, service: str, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        """``(status, body)`` of one call; unreachable, timed out, not JSON or a 5xx is 503."""
        try:
            async with self.session.request(method, self.base(service) + path, json=json) as r:
                body = await r.json(content_type=None)
        except NO_ANSWER as exc:
            raise _unreachable(service, exc) from None
        if r.status >= 500:
            # its body stays out of the answer: it can hold internal paths and a shopper's data
            raise DependencyUnavailable(f"the {service} service failed", {"service": service, "status": r.status})
        return r.status, body

    @asynccontextmanager
    async def stream(self, service: str, url: str | URL, headers: Mapping[str, str],
                     idle_s: float) -> AsyncIterator["Streamed"]:
        """A GET at ``url`` (a worker of ``service``) read as it arrives, for as long as it lasts.

        No total timeout: connecting is bounded by ``HTTP_TIMEOUT_S``, and an answer silent for
        ``idle_s`` counts as gone. Not reaching it is 503."""
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.http_timeout_s, sock_read=idle_s)
        try:
            response = await self.session.get(str(url), headers=dict(headers), timeout=timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _unreachable(service, exc) from None
        async with response:
            yield Streamed(response, str(url))


class ServiceCalls:
    """The calls to one service on the worker's :class:`ServiceClient`; a 4xx raises :class:`Refused`
    (except from :meth:`request`, which answers every status below 500)."""

    def __init__(self, client: ServiceClient, service: str) -> None:
        self.client = client
        self.service = service

    @property
    def base(self) -> str:
        return self.client.base(self.service)

    async def request(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        return await self.client.request(self.service, method, path, json)

    async def get(self, path: str) -> Any:
        return self._ok(*await self.request("GET", path))

    async def post(self, path: str, json: Any) -> Any:
        return self._ok(*await self.request("POST", path, json))

    async def put(self, path: str, json: Any) -> Any:
        return self._ok(*await self.request("PUT", path, json))

    async def delete(self, path: str) -> Any:
        return self._ok(*await self.request("DELETE", path))

    @staticmethod
    def _ok(status: int, body: Any) -> Any:
        if status >= 400:
            raise refusal(status, body)
        return body


class Streamed:
    """An answer being read as it arrives: its status and content type first, then its body."""

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self._response = response
        self.url = url

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def content_type(self) -> str:
        return self._response.content_type

    async def read(self) -> bytes:
        """The whole body (an answer that is not a stream, such as a 404)."""
        return await self._response.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk as it comes, until it ends, breaks or falls silent (logged: the
        stream simply ends there)."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _STREAM_ENDED as exc:
            log.info("event stream %s ended: %s", self.url, exc or type(exc).__name__)


_CLIENTS: "WeakKeyDictionary[ServiceApp, ServiceClient]" = WeakKeyDictionary()


def service_client(app: "ServiceApp") -> ServiceClient:
    """The worker's one client of the other services, started and stopped with ``app``: made and added
    to it the first time any of its modules asks, so every view and agent of the worker shares it."""
    client = _CLIENTS.get(app)
    if client is None:
        client = _CLIENTS[app] = ServiceClient(app.settings)
        app.add_dependency(client)
    return client
