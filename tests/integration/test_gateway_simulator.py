"""The UPI simulator killed and restarted keeps its ledger, so its restarts test the platform, not itself."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from config.settings import Settings
from dev.platform import Platform
from tests.helpers import Shopper
from tests.integration.test_failures import set_stock

pytestmark = pytest.mark.integration


async def test_a_killed_simulator_restarts_knowing_every_payment(platform: Platform, settings: Settings,
                                                                 http: aiohttp.ClientSession) -> None:
    await set_stock(settings, http, "PIXEL-8", 50)
    shopper = Shopper(http, settings)
    await shopper.set_line("PIXEL-8", 1)
    status, placed = await shopper.checkout("ravi@upi")
    assert status == 202, placed
    order = await shopper.final_order(placed["order_id"])
    assert order["status"] == "CONFIRMED"
    async with http.get(f"{settings.upi_gateway_url}/v1/payments") as r:
        before = {p["payment_id"]: p for p in await r.json()}
    ours = f"pay-{placed['order_id']}"
    assert before[ours]["status"] == "APPROVED"

    platform.signal("upi-gateway", signal.SIGKILL)
    await asyncio.to_thread(platform.procs.pop("upi-gateway").popen.wait, 10)
    platform.start_gateway_simulator()
    await asyncio.to_thread(platform.wait_ready, "upi-gateway")

    async with http.get(f"{settings.upi_gateway_url}/v1/payments") as r:
        after = {p["payment_id"]: p for p in await r.json()}
    decided = {k: v for k, v in before.items() if v["status"] != "PENDING"}  # a charge in flight may end now
    assert {k: after.get(k) for k in decided} == decided  # every charge, refund and void, with its reference
    assert set(before) <= set(after)
