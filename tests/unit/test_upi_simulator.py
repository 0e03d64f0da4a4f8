"""The UPI simulator's ledger (dev/upi_gateway.py) survives its restarts, as a real gateway's does.

Each "restart" is a new app over the same ledger file, the way a killed and restarted simulator
process reads it back: nothing is shared in memory between the two.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.upi import UpiClient
from config.metrics import Metrics
from config.settings import Settings
from dev.upi_gateway import Ledger, make_app
from domain.payment import GatewayAnswer

CHARGE = {"order_id": "o1", "vpa": "ravi@upi", "amount_paise": 7_990_000}


@asynccontextmanager
async def started(path: Path) -> AsyncIterator[TestClient]:
    """The simulator (re)started over the ledger file at ``path``."""
    async with TestClient(TestServer(make_app(0.0, hang_s=0.01, ledger=Ledger(path)))) as client:
        yield client


async def call(client: TestClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with client.request(method, path, json=body) as r:
        return r.status, await r.json()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "upi-gateway.jsonl"


async def test_an_approved_payment_is_known_after_a_restart_and_can_be_refunded(ledger: Path) -> None:
    async with started(ledger) as client:
        status, first = await call(client, "POST", "/v1/payments/p1", CHARGE)
        assert status == 200 and first["status"] == "APPROVED"
    async with started(ledger) as client:
        status, again = await call(client, "GET", "/v1/payments/p1")
        assert status == 200 and again == first
        status, same = await call(client, "POST", "/v1/payments/p1", CHARGE)  # the same key: the same answer
        assert same["gateway_ref"] == first["gateway_ref"] and same["requests"] == first["requests"]
        status, refunded = await call(client, "POST", "/v1/payments/p1/refund")
        assert status == 200 and refunded["status"] == "REFUNDED"  # not 409: the gateway remembers the charge
    async with started(ledger) as client:
        _, listed = await call(client, "GET", "/v1/payments")
        assert [(p["payment_id"], p["status"]) for p in listed] == [("p1", "REFUNDED")]
        assert await call(client, "GET", "/health") == (200, {"ok": True, "payments": 1})


@pytest.mark.parametrize("vpa, after", [("ravi@upi", "APPROVED"), ("declined@upi", "DECLINED"),
                                        ("timeout@upi", "PENDING")])
async def test_a_charge_cut_off_by_a_restart_is_decided_as_it_would_have_been(ledger: Path, vpa: str,
                                                                             after: str) -> None:
    """The process died while the charge waited: the next one answers it late, by status, as a slow gateway."""
    before = Ledger(ledger)
    before.save(before.setdefault("p1", {"payment_id": "p1", "order_id": "o1", "vpa": vpa, "amount_paise": 100,
                                         "status": "PENDING", "gateway_ref": None, "requests": 1}))
    before.close()
    async with started(ledger) as client:
        status, payment = await call(client, "GET", "/v1/payments/p1")
        assert status == 200 and payment["status"] == after
        assert (payment["gateway_ref"] is None) == (after == "PENDING")


async def test_a_voided_payment_stays_voided(ledger: Path) -> None:
    async with started(ledger) as client:
        _, voided = await call(client, "POST", "/v1/payments/p1/cancel")
        assert voided["status"] == "VOIDED"
    async with started(ledger) as client:
        _, charged = await call(client, "POST", "/v1/payments/p1", CHARGE)
        assert charged["status"] == "VOIDED"  # a void is final: a late charge does not take money


def test_the_ledger_is_compacted_and_a_torn_last_line_is_skipped(ledger: Path) -> None:
    one = Ledger(ledger)
    payment = one.setdefault("p1", {"payment_id": "p1", "vpa": "ravi@upi", "status": "PENDING", "gateway_ref": None,
                                    "requests": 1})
    one.save(payment)
    one.decide(payment, "APPROVED")
    one.close()
    with ledger.open("a") as f:
        f.write('{"payment_id": "p2", "sta')  # killed mid-write
    two = Ledger(ledger)
    two.close()
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [(p["payment_id"], p["status"]) for p in lines] == [("p1", "APPROVED")]


async def test_fault_modes_misbehave_for_their_window_and_charge_as_a_real_gateway_would(ledger: Path) -> None:
    """``make chaos``'s gateway faults: 503 charges nothing, a reset charges without an answer, a late
    answer charges after the caller's patience; the window ends and the gateway answers again."""
    async with TestClient(TestServer(make_app(0.0, ledger=Ledger(ledger), late_s=0.3))) as client:
        assert (await call(client, "POST", "/faults", {"mode": "sideways", "seconds": 1}))[0] == 400
        await call(client, "POST", "/faults", {"mode": "error", "seconds": 30})
        assert (await call(client, "POST", "/v1/payments/p1", CHARGE))[0] == 503
        assert (await call(client, "GET", "/v1/payments/p1"))[0] == 404, "an error charges nothing"

        await call(client, "POST", "/faults", {"mode": "reset", "seconds": 30})
        with pytest.raises(aiohttp.ClientError):
            await call(client, "POST", "/v1/payments/p2", CHARGE)
        assert (await call(client, "GET", "/v1/payments/p2"))[1]["status"] == "APPROVED", "charged, unheard"

        await call(client, "POST", "/faults", {"mode": "late", "seconds": 30})
        with pytest.raises(asyncio.TimeoutError):
            async with client.post("/v1/payments/p3", json=CHARGE, timeout=aiohttp.ClientTimeout(total=0.1)):
                pass
        await asyncio.sleep(0.4)
        assert (await call(client, "GET", "/v1/payments/p3"))[1]["status"] == "APPROVED", "approved after the caller left"

        _, ended = await call(client, "POST", "/faults", {"mode": "none", "seconds": 0})
        assert ended["shown"] == {"error": 1, "reset": 1, "late": 1}
        status, again = await call(client, "POST", "/v1/payments/p1", CHARGE)
        assert (status, again["status"]) == (200, "APPROVED"), "the same key is charged once the fault is over"


async def test_the_client_tells_a_voided_payment_from_a_cancel_with_no_answer(ledger: Path) -> None:
    """A cancel that timed out may have left the payment approved there (make chaos, seed 1): only the
    gateway's VOIDED lets the payment service give up on it."""
    async with started(ledger) as server:
        client = UpiClient(Settings(upi_gateway_url=str(server.make_url("")).rstrip("/")), Metrics("payment"))
        await client.start()
        try:
            assert await client.cancel("never-charged") == (GatewayAnswer.VOIDED, None)
            await call(server, "POST", "/v1/payments/p1", CHARGE)
            answer, ref = await client.cancel("p1")
            assert answer is GatewayAnswer.APPROVED and ref
        finally:
            await client.stop()
    unreachable = UpiClient(Settings(upi_gateway_url="http://127.0.0.1:9"), Metrics("payment"))
    await unreachable.start()
    try:
        assert await unreachable.cancel("p1") == (GatewayAnswer.TIMEOUT, None)
    finally:
        await unreachable.stop()
