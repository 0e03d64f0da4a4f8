"""A small UPI payment gateway simulator (the external gateway, for local runs and tests).

``declined@...`` is declined, ``timeout@...`` never answers in time, any other
well-formed VPA is approved after ``UPI_SIM_DELAY_MS``. A payment is idempotent by
its id (the ``Idempotency-Key``): the same id gets the same answer and is charged once.

    POST /v1/payments/{payment_id}          charge (body: order_id, vpa, amount_paise)
    GET  /v1/payments/{payment_id}          status: APPROVED, DECLINED, PENDING, VOIDED or 404
    POST /v1/payments/{payment_id}/cancel   void a payment that has no answer yet
    POST /v1/payments/{payment_id}/refund   give an approved payment back
    GET  /v1/payments                       every payment (for invariant checks)
    POST /faults                            misbehave for a while (``make chaos``): body {mode, seconds}

The fault modes are a real gateway's bad minutes: ``error`` answers 503 without charging,
``reset`` charges and then drops the connection without an answer, ``late`` charges and
answers only after ``late_s`` (past the payment service's timeout, so the approval arrives
after it gave up on the call); ``none`` ends a fault early.

A real gateway does not forget its payments when it restarts, so neither does this one: its
ledger is a JSON-lines file (``DATA_DIR/upi-gateway.jsonl``, or ``--ledger``), every change
appended and flushed, so a killed simulator loses nothing the OS has. On start the newest line
per payment wins, the file is rewritten compacted, and a charge that was still waiting when the
process died is decided as it would have been (approved, or declined for ``declined@``): its
answer then reaches the platform late, by a status check, as a slow gateway's would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from aiohttp import web
from yarl import URL

from config.logs import configure_process_logging
from config.settings import get_settings
from domain.checkout import VPA_PATTERN
from domain.privacy import mask_vpa

__all__ = ["make_app", "Ledger"]

log = logging.getLogger("megatron.upi_gateway")


def decided(vpa: str) -> str | None:
    """What the simulator answers a VPA, by its name: None for ``timeout@`` (no answer in time)."""
    name = vpa.split("@", 1)[0].lower()
    return None if name == "timeout" else "DECLINED" if name == "declined" else "APPROVED"


class Ledger:
    """The simulator's payments by id, in memory and, given a path, in a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.payments: dict[str, dict[str, Any]] = {}
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.payments = dict(self._read(path))
            for payment in self.payments.values():
                if payment["status"] == "PENDING" and (answer := decided(payment.get("vpa") or "timeout@")):
                    self._decide(payment, answer)  # its charge died with the last process
            self._compact(path)
            self._file = path.open("a", encoding="utf-8")

    @staticmethod
    def _read(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        if not path.exists():
            return
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    payment = json.loads(line)
                except ValueError:  # the last line of a process killed mid-write
                    continue
                yield payment["payment_id"], payment

    def _compact(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for payment in self.payments.values():
                out.write(json.dumps(payment, separators=(",", ":")) + "\n")
        os.replace(tmp, path)

    def _decide(self, payment: dict[str, Any], status: str) -> None:
        payment["status"] = status
        payment["gateway_ref"] = f"UPI{uuid.uuid4().hex[:12].upper()}"

    def get(self, key: str) -> dict[str, Any] | None:
        return self.payments.get(key)

    def setdefault(self, key: str, payment: dict[str, Any]) -> dict[str, Any]:
        return self.payments.setdefault(key, payment)

    def save(self, payment: dict[str, Any]) -> None:
        """Keep ``payment`` as it is now: appended and flushed before the answer that tells of it."""
        if self._file is not None:
            self._file.write(json.dumps(payment, separators=(",", ":")) + "\n")
            self._file.flush()

    def decide(self, payment: dict[str, Any], status: str) -> None:
        self._decide(payment, status)
        self.save(payment)

    def __len__(self) -> int:
        return len(self.payments)

    def values(self) -> list[dict[str, Any]]:
        return list(self.payments.values())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


FAULT_MODES = ("none", "error", "reset", "late")


class Faults:
    """The fault the simulator is told to show, until when (monotonic seconds)."""

    def __init__(self) -> None:
        self.mode, self.until = "none", 0.0
        self.shown: dict[str, int] = {}

    def now(self) -> str:
        """The mode in force for a charge arriving now, counted."""
        mode = self.mode if time.monotonic() < self.until else "none"
        if mode != "none":
            self.shown[mode] = self.shown.get(mode, 0) + 1
        return mode


def make_app(delay_s: float, hang_s: float = 3600.0, ledger: Ledger | None = None,
             late_s: float = 5.0) -> web.Application:
    payments = ledger if ledger is not None else Ledger()
    vpa_re = re.compile(VPA_PATTERN)
    faults = Faults()

    async def charge(request: web.Request) -> web.Response:
        key = request.match_info["payment_id"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        vpa, amount = body.get("vpa", ""), body.get("amount_paise")
        if not isinstance(amount, int) or amount <= 0 or not vpa_re.match(vpa):
            return web.json_response({"error": "vpa and a positive amount_paise are required"}, status=400)
        fault = faults.now()
        if fault == "error":
            return web.json_response({"error": "gateway unavailable (simulated)"}, status=503)
        payment = payments.get(key)
        if payment is not None and payment["status"] != "PENDING":
            return _answer(request, payment, fault)  # the same key: the same answer, charged once
        payment = payments.setdefault(key, {"payment_id": key, "order_id": body.get("order_id"), "vpa": vpa,
                                            "amount_paise": amount, "status": "PENDING", "gateway_ref": None,
                                            "requests": 0})
        payment["requests"] += 1
        payments.save(payment)
        answer = decided(vpa)
        # shielded: a caller that stops waiting (its timeout) does not stop the charge, at a real gateway
        await asyncio.shield(decide_after(payment, answer, late_s if fault == "late" else delay_s if answer
                                          else hang_s))
        return _answer(request, payment, fault)

    async def decide_after(payment: dict[str, Any], answer: str | None, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        if payment["status"] == "PENDING" and answer:
            payments.decide(payment, answer)
            log.info("payment %s for order %s from %s: %s", payment["payment_id"], payment["order_id"],
                     mask_vpa(payment["vpa"]), payment["status"])

    def _answer(request: web.Request, payment: dict[str, Any], fault: str) -> web.StreamResponse:
        if fault == "reset" and request.transport is not None:
            request.transport.abort()  # decided, but the caller never hears it
        return web.json_response(payment)

    async def set_fault(request: web.Request) -> web.Response:
        body = await request.json()
        mode, seconds = body.get("mode"), body.get("seconds", 0)
        if mode not in FAULT_MODES or not isinstance(seconds, (int, float)) or seconds < 0:
            return web.json_response({"error": f"mode one of {', '.join(FAULT_MODES)}, seconds >= 0"}, status=400)
        faults.mode, faults.until = mode, time.monotonic() + seconds
        log.warning("fault %s for %.1fs", mode, seconds)
        return web.json_response({"mode": mode, "seconds": seconds, "shown": faults.shown})

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
            payments.save(payment)
        return web.json_response(payment)

    async def refund(request: web.Request) -> web.Response:
        payment = payments.get(request.match_info["payment_id"])
        if payment is None or payment["status"] not in ("APPROVED", "REFUNDED"):
            return web.json_response({"error": "only an approved payment can be refunded"}, status=409)
        if payment["status"] != "REFUNDED":
            payment["status"] = "REFUNDED"
            payments.save(payment)
        return web.json_response(payment)

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(payments.values())

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "payments": len(payments)})

    async def close(_: web.Application) -> None:
        payments.close()

    app = web.Application()
    app.on_cleanup.append(close)
    app.add_routes([web.post("/v1/payments/{payment_id}", charge), web.get("/v1/payments/{payment_id}", show),
                    web.post("/v1/payments/{payment_id}/cancel", cancel),
                    web.post("/v1/payments/{payment_id}/refund", refund), web.get("/v1/payments", listing),
                    web.post("/faults", set_fault), web.get("/health", health)])
    return app


def main() -> None:
    s = get_settings()
    url = URL(s.upi_gateway_url)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=url.host)
    parser.add_argument("--port", type=int, default=url.port)
    parser.add_argument("--ledger", type=Path, default=s.data_dir / "upi-gateway.jsonl",
                        help="the JSON-lines file the payments are kept in (default: %(default)s)")
    args = parser.parse_args()
    configure_process_logging()  # one line per decided payment, the VPA masked; no access log
    ledger = Ledger(args.ledger)
    log.info("ledger %s: %d payments", args.ledger, len(ledger.payments))
    app = make_app(s.upi_sim_delay_ms / 1000, ledger=ledger, late_s=s.upi_timeout_s + 2)  # past the caller's patience
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
