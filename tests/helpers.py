"""What integration tests do as a shopper or an analyst would: HTTP calls, topic reads, MySQL reads."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime, timezone
from contextlib import asynccontextmanager
from pathlib import Path
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import aiohttp
from config.kafka import read_topic_records
from config.settings import Settings
from domain.sessions import issue_token, new_user_id
from tables.schema import connect

T = TypeVar("T")
FINAL = ("CONFIRMED", "FAILED")


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 30.0,
                     interval: float = 0.05) -> T:
    """Probe until ``check`` holds; fail with the last value seen. A readiness wait, not a sleep.

    A probe that raises (a service restarting) counts as "not yet" until the time is up.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await probe()
            if check(value):
                return value
        except (AssertionError, aiohttp.ClientError, asyncio.TimeoutError, OSError):
            if time.monotonic() > deadline:
                raise
        else:
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)


#: Ravi's delivery address, as the checkout page sends it
ADDRESS = {"name": "Ravi Kumar", "line": "12 MG Road, Karol Bagh", "city": "New Delhi", "state": "Delhi",
           "pincode": "110005", "phone": "+919812345678"}


class Shopper:
    """A shopper driving the gateway's HTTP API with his own token.

    The token is signed here with the platform's session secret, as the gateway's
    ``POST /session`` would sign it (that endpoint has its own tests), so a shopper is
    ready without a round trip; ``user_id`` picks the shopper a token names.
    """

    def __init__(self, http: aiohttp.ClientSession, settings: Settings, user_id: str | None = None) -> None:
        self.http = http
        self.base = settings.gateway_url
        self.user_id = user_id or new_user_id()
        self.token, _ = issue_token(settings.session_secret, self.user_id, "guest", datetime.now(timezone.utc),
                                    settings.session_ttl_s)

    async def call(self, method: str, path: str, json_body: Any = None, headers: dict[str, str] | None = None,
                   data: bytes | None = None, token: str | None = None, patient: bool = True) -> tuple[int, Any]:
        """``(status, JSON body)`` of one call with this shopper's token (or ``token``; ``""`` sends none).

        Tests call faster than a shopper clicks: a ``patient`` call told 429 waits the
        ``Retry-After`` the gateway gives and tries again, as a polite client does."""
        sent = {"Authorization": f"Bearer {self.token if token is None else token}"} if token != "" else {}
        for _ in range(30):
            async with self.http.request(method, self.base + path, json=json_body, data=data,
                                         headers={**sent, **(headers or {})}) as r:
                answer = r.status, await r.json(content_type=None)
                retry_after = r.headers.get("Retry-After", "1")
            if answer[0] != 429 or not patient:
                return answer
            await asyncio.sleep(float(retry_after))
        return answer

    async def set_line(self, sku: str, quantity: Any) -> tuple[int, Any]:
        return await self.call("PUT", f"/cart/{self.user_id}/items/{sku}", {"quantity": quantity})

    def checkout_body(self, vpa: str = "ravi@okhdfc", **extra: Any) -> dict[str, Any]:
        return {"payment": {"method": "UPI", "vpa": vpa}, "shipping_address": ADDRESS, **extra}

    async def checkout(self, vpa: str = "ravi@okhdfc", key: str | None = None) -> tuple[int, Any]:
        return await self.call("POST", "/checkout", self.checkout_body(vpa),
                               headers={"Idempotency-Key": key or uuid.uuid4().hex})

    async def checkout_until_accepted(self, vpa: str, key: str, timeout: float = 60.0) -> dict[str, Any]:
        """Check out as a patient shopper would: retry with the same key while the platform answers 503, or
        409 while a try that a crash cut off still holds the key (its lease runs out, the retry takes it over)."""
        status, body = await eventually(lambda: self.checkout(vpa, key), lambda r: r[0] not in (503, 409), timeout,
                                        0.2)
        assert status == 202, body
        return dict(body)

    async def order(self, order_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/orders/{order_id}")
        assert status == 200, body
        return body

    async def final_order(self, order_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return await eventually(lambda: self.order(order_id), lambda o: o["status"] in FINAL, timeout)


async def read_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every record value of ``topic`` that is JSON, in partition order (a malformed one is a dead letter)."""
    out = []
    for _, value in await read_topic_records(settings, topic):
        try:
            out.append(json.loads(value))
        except ValueError:
            continue
    return out


async def query(settings: Settings, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a MySQL query as dicts (database names via ``settings.database``)."""
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            cols = [d[0] for d in cur.description or ()]
            return [dict(zip(cols, row)) for row in await cur.fetchall()]
    finally:
        conn.close()


class Megatron:
    """The real ``megatron`` console script, run as an operator would, against the test platform."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    async def run(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "megatron"), *args, env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        """Run with ``--json``; it must succeed and print JSON on its last line."""
        code, out, err = await self.run(*args, "--json")
        assert code == 0, err
        return json.loads(out.strip().splitlines()[-1])


@asynccontextmanager
async def service_down(platform: Any, service: str) -> AsyncIterator[None]:
    """One service stopped (SIGTERM) for the block, then started again and ready."""
    platform.stop_proc(service)
    try:
        yield
    finally:
        platform.start_service(service)
        await asyncio.to_thread(platform.wait_ready, service)
