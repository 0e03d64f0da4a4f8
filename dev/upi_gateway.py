"""A small UPI payment gateway simulator (the external gateway, for local runs and tests).

``declined@...`` is declined, ``timeout@...`` never answers in time, any other
well-formed VPA is approved after ``UPI_SIM_DELAY_MS``. Payments are idempotent by
``Idempotency-Key``: the same key gets the same answer and is charged once.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from typing import Any

from aiohttp import web
from yarl import URL

from config.settings import get_settings
from domain.checkout import VPA_PATTERN

__all__ = ["make_app"]


def make_app(delay_s: float, hang_s: float = 3600.0) -> web.Application:
    payments: dict[str, dict[str, Any]] = {}
    vpa_re = re.compile(VPA_PATTERN)

    async def create(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        key = request.headers.get("Idempotency-Key") or body.get("payment_id")
        vpa, amount = body.get("vpa", ""), body.get("amount_paise")
        if not key or not isinstance(amount, int) or amount <= 0 or not vpa_re.match(vpa):
            return web.json_response({"error": "payment_id, vpa and a positive amount_paise are required"},
                                     status=400)
        if key in payments:
            return web.json_response(payments[key])
        name = vpa.split("@", 1)[0].lower()
        if name == "timeout":
            await asyncio.sleep(hang_s)
        await asyncio.sleep(delay_s)
        status = "DECLINED" if name == "declined" else "APPROVED"
        payments[key] = {"payment_id": key, "status": status, "amount_paise": amount, "vpa": vpa,
                         "gateway_ref": f"UPI{uuid.uuid4().hex[:12].upper()}"}
        return web.json_response(payments[key])

    async def show(request: web.Request) -> web.Response:
        payment = payments.get(request.match_info["payment_id"])
        if payment is None:
            return web.json_response({"status": "UNKNOWN"}, status=404)
        return web.json_response(payment)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "payments": len(payments)})

    app = web.Application()
    app.add_routes([web.post("/v1/payments", create), web.get("/v1/payments/{payment_id}", show),
                    web.get("/health", health)])
    return app


def main() -> None:
    s = get_settings()
    url = URL(s.upi_gateway_url)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=url.host)
    parser.add_argument("--port", type=int, default=url.port)
    args = parser.parse_args()
    web.run_app(make_app(s.upi_sim_delay_ms / 1000), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
