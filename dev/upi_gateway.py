"""A small UPI payment gateway simulator (the external gateway, for local runs and tests).

``declined@...`` is declined, ``timeout@...`` never answers in time, any other
well-formed VPA is approved after ``UPI_SIM_DELAY_MS``. A payment is idempotent by
its id (the ``Idempotency-Key``): the same id gets the same answer and is charged once.

    POST /v1/payments/{payment_id}          charge (body: order_id, vpa, amount_paise)
    GET  /v1/payments/{payment_id}          status: APPROVED, DECLINED, PENDING, VOIDED or 404
    POST /v1/payments/{payment_id}/cancel   void a payment that has no answer yet
    POST /v1/payments/{payment_id}/refund   give an approved payment back
    GET  /v1/payments                       every payment (for invariant checks)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import uuid
from typing import Any

from aiohttp import web
from yarl import URL

from config.logs import configure_process_logging
from config.settings import get_settings
from domain.checkout import VPA_PATTERN
from domain.privacy import mask_vpa

__all__ = ["make_app"]

log = logging.getLogger("megatron.upi_gateway")


def make_app(delay_s: float, hang_s: float = 3600.0) -> web.Application:
    payments: dict[str, dict[str, Any]] = {}
    vpa_re = re.compile(VPA_PATTERN)

    async def charge(request: web.Request) -> web.Response:
        key = request.match_info["payment_id"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        vpa, amount = body.get("vpa", ""), body.get("amount_paise")
        if not isinstance(amount, int) or amount <= 0 or not vpa_re.match(vpa):
            return web.json_response({"error": "vpa and a positive amount_paise are required"}, status=400)
        payment = payments.get(key)
        if payment is not None and payment["status"] != "PENDING":
            return web.json_response(payment)  # the same key: the same answer, charged once
        payment = payments.setdefault(key, {"payment_id": key, "order_id": body.get("order_id"), "vpa": vpa,
                                            "amount_paise": amount, "status": "PENDING", "gateway_ref": None,
                                            "requests": 0})
        payment["requests"] += 1
        name = vpa.split("@", 1)[0].lower()
        await asyncio.sleep(hang_s if name == "timeout" else delay_s)
        if payment["status"] == "PENDING":
            payment["status"] = "DECLINED" if name == "declined" else "APPROVED"
            payment["gateway_ref"] = f"UPI{uuid.uuid4().hex[:12].upper()}"
            log.info("payment %s for order %s from %s: %s", key, payment["order_id"], mask_vpa(vpa),
                     payment["status"])
        return web.json_response(payment)

    async def show(request: web.Request) -> web.Response:
        payment = payments.get(request.match_info["payment_id"])
        if payment is None:
            return web.json_response({"status": "UNKNOWN"}, status=404)
        return web.json_response(payment)

    async def cancel(request: web.Request) -> web.Response:
        key = request.match_info["payment_id"]
        payment = payments.setdefault(key, {"payment_id": key, "status": "PENDING", "gateway_ref": None,
                                            "requests": 0})
        if payment["status"] == "PENDING":
            payment["status"] = "VOIDED"
        return web.json_response(payment)

    async def refund(request: web.Request) -> web.Response:
        payment = payments.get(request.match_info["payment_id"])
        if payment is None or payment["status"] not in ("APPROVED", "REFUNDED"):
            return web.json_response({"error": "only an approved payment can be refunded"}, status=409)
        payment["status"] = "REFUNDED"
        return web.json_response(payment)

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(list(payments.values()))

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "payments": len(payments)})

    app = web.Application()
    app.add_routes([web.post("/v1/payments/{payment_id}", charge), web.get("/v1/payments/{payment_id}", show),
                    web.post("/v1/payments/{payment_id}/cancel", cancel),
                    web.post("/v1/payments/{payment_id}/refund", refund), web.get("/v1/payments", listing),
                    web.get("/health", health)])
    return app


def main() -> None:
    s = get_settings()
    url = URL(s.upi_gateway_url)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=url.host)
    parser.add_argument("--port", type=int, default=url.port)
    args = parser.parse_args()
    configure_process_logging()  # one line per decided payment, the VPA masked; no access log
    web.run_app(make_app(s.upi_sim_delay_ms / 1000), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
