"""A TCP proxy that can cut a dependency off and bring it back, for failure tests and chaos runs.

Services are pointed at the proxy instead of Redis or MySQL; ``cut()`` drops every
open connection and refuses new ones (as a dead server would), ``restore()`` serves
again on the same port. It runs its own event loop in a thread, so it keeps
forwarding whatever the test's own loop is doing.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, Coroutine

__all__ = ["TcpProxy"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host, self.port = host, listen_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"proxy:{listen_port}", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    def start(self) -> "TcpProxy":
        self._thread.start()
        self.restore()
        return self

    def restore(self) -> None:
        """Accept and forward connections again."""
        async def serve() -> None:
            if self._server is None:
                self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self._run(serve())

    def cut(self) -> None:
        """Stop listening and drop every open connection."""
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()
        self._run(stop())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort() if dst.transport else None
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
