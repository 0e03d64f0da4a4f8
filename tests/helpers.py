"""What integration tests do as a shopper or an analyst would: HTTP calls, topic reads, MySQL reads."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp
from config.kafka import read_topic_records
from config.settings import Settings
from tables.schema import connect

T = TypeVar("T")
FINAL = ("CONFIRMED", "FAILED")


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 30.0,
                     interval: float = 0.05) -> T:
    """Probe until ``check`` holds; fail with the last value seen. A readiness wait, not a sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)


class Shopper:
    """A shopper driving the gateway's HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, settings: Settings, user_id: str | None = None) -> None:
        self.http = http
        self.base = settings.gateway_url
        self.user_id = user_id or f"user-{uuid.uuid4().hex[:10]}"

    async def call(self, method: str, path: str, json_body: Any = None, headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, json=json_body, data=data, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def set_line(self, sku: str, quantity: Any) -> tuple[int, Any]:
        return await self.call("PUT", f"/cart/{self.user_id}/items/{sku}", {"quantity": quantity})

    async def checkout(self, vpa: str = "ravi@okhdfc", key: str | None = None) -> tuple[int, Any]:
        return await self.call("POST", "/checkout",
                               {"user_id": self.user_id, "payment": {"method": "UPI", "vpa": vpa}},
                               headers={"Idempotency-Key": key or uuid.uuid4().hex})

    async def order(self, order_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/orders/{order_id}")
        assert status == 200, body
        return body

    async def final_order(self, order_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return await eventually(lambda: self.order(order_id), lambda o: o["status"] in FINAL, timeout)


async def read_topic(settings: Settings, topic: str) -> list[dict[str, Any]]:
    """Every record value of ``topic`` as JSON, in partition order."""
    return [json.loads(value) for _, value in await read_topic_records(settings, topic)]


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
