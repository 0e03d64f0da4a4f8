"""No personal data in clear in any log line of any process, after a full checkout and a sign-in.

The shopper's VPA, email, phone and address are distinctive strings; after his order is
final and both notifications went out, every log file of the platform (six workers, the
UPI simulator, the mail sink, the broker) is searched for each of them. The sign-in code
is a secret and must not be logged either.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import aiohttp
import pytest

from config.settings import Settings
from dev.mail_sink import read_mail
from tests.helpers import Shopper, eventually

pytestmark = pytest.mark.integration


async def test_a_checkout_leaves_no_personal_data_in_the_logs(http: aiohttp.ClientSession,
                                                               settings: Settings) -> None:
    tag = uuid.uuid4().hex[:6]
    vpa, email, phone = f"ravi{tag}@okaxis", f"ravi.{tag}@example.in", "+919876501234"
    address = {"name": f"Ravi Kumar{tag}", "line": f"{tag} Chandni Chowk Lane", "city": "New Delhi",
               "state": "Delhi", "pincode": "110006", "phone": "+919812309876"}
    shopper = Shopper(http, settings)
    assert (await shopper.set_line("IPHONE-15", 1))[0] == 200
    body = {"payment": {"method": "UPI", "vpa": vpa}, "shipping_address": address,
            "contact": {"email": email, "phone": phone}}
    status, placed = await shopper.call("POST", "/checkout", body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 202, placed
    order = await shopper.final_order(placed["order_id"])
    assert order["status"] == "CONFIRMED"
    await eventually(lambda: asyncio.to_thread(read_mail, settings.mail_dir, email), bool)
    # a failure path too: a declined payment logs its own lines
    assert (await shopper.set_line("LAPTOP", 1))[0] == 200
    status, declined = await shopper.call("POST", "/checkout", {**body, "payment": {"method": "UPI",
                                                                                   "vpa": "declined@upi"}},
                                          headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 202 and (await shopper.final_order(declined["order_id"]))["status"] == "FAILED"
    # and a sign-in by email
    signin = f"priya.{tag}@example.in"
    async with http.post(f"{settings.gateway_url}/session/code", json={"email": signin}) as r:
        assert r.status == 202
    mail = await eventually(lambda: asyncio.to_thread(read_mail, settings.mail_dir, signin), bool)
    code = re.findall(r"sign-in code is (\d{6})", mail[-1])[0]
    async with http.post(f"{settings.gateway_url}/session", json={"email": signin, "code": code}) as r:
        assert r.status == 201

    # the SMS went out (the dev sender logs it): the log is there and says so, masked
    logs = await eventually(lambda: asyncio.to_thread(_read_logs, settings), lambda t: "SMS to +91******1234" in t)
    secrets = [vpa, email, phone, phone[3:], address["name"], address["line"], address["phone"],
               address["phone"][3:], signin, f"code is {code}", f"code: {code}"]
    leaked = {s for s in secrets if s.lower() in logs.lower()}
    assert not leaked, f"in clear in the logs: {leaked}"
    assert order["order_id"] in logs, "the logs were read (the order is followed by its id)"


def _read_logs(settings: Settings) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(settings.log_dir.glob("*.log")))
