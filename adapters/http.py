"""An HTTP client as a ``mode.Service``: its own aiohttp session, opened and closed with the worker."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from mode import Service

__all__ = ["HttpClient", "NO_ANSWER"]

#: what a call that got no usable answer raises in aiohttp (a body that is not JSON included)
NO_ANSWER = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


class HttpClient(Service):
    """A session of its own with a total timeout per call, so one slow peer never borrows another's
    limit; added to its app with ``app.add_dependency``, which starts and stops it."""

    #: what the client is called in the error of one used before it started
    what = "HTTP client"

    def __init__(self, timeout_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def on_start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    async def on_stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"the {self.what} is not started: add it to its app with app.add_dependency")
        return self._session
