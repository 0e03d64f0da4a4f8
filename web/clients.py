"""Calls between services over HTTP, with timeouts and the API's errors on failure."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from domain.payment import GatewayAnswer
from web.errors import ApiError, DependencyUnavailable

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["ServiceClient", "DownstreamError", "UpiClient"]


class DownstreamError(ApiError):
    """A 4xx from another service, passed on to the caller with its status and body."""

    def __init__(self, status: int, body: Any) -> None:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(err.get("message", f"HTTP {status}"), err.get("details"))
        self.code = status
        self.error_code = err.get("code", "downstream_error")


class ServiceClient:
    """JSON over HTTP to one service, on the worker's shared aiohttp session."""

    def __init__(self, app: "ServiceApp", service: str) -> None:
        self.app = app
        self.service = service

    @property
    def base(self) -> str:
        return self.app.settings.service_url(self.service)

    async def request(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        """``(status, body)``; 5xx, timeouts and refused connections raise 503."""
        timeout = aiohttp.ClientTimeout(total=self.app.settings.http_timeout_s)
        try:
            async with self.app.http_client.request(method, self.base + path, json=json, timeout=timeout) as r:
                body = await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise DependencyUnavailable(f"the {self.service} service cannot be reached",
                                        {"service": self.service, "error": str(exc) or type(exc).__name__}) from None
        if r.status >= 500:
            # its body stays out of the answer: it can hold internal paths and a shopper's data
            raise DependencyUnavailable(f"the {self.service} service failed", {"service": self.service,
                                                                              "status": r.status})
        return r.status, body

    async def get(self, path: str) -> Any:
        return self._ok(*await self.request("GET", path))

    async def post(self, path: str, json: Any) -> Any:
        return self._ok(*await self.request("POST", path, json))

    async def put(self, path: str, json: Any) -> Any:
        return self._ok(*await self.request("PUT", path, json))

    async def delete(self, path: str) -> Any:
        return self._ok(*await self.request("DELETE", path))

    @staticmethod
    def _ok(status: int, body: Any) -> Any:
        if status >= 400:
            raise DownstreamError(status, body)
        return body


class UpiClient:
    """The external UPI payment gateway; the payment id is the idempotency key of every call."""

    def __init__(self, app: "ServiceApp") -> None:
        self.app = app

    async def _call(self, method: str, payment_id: str, action: str = "", json: Any = None) -> tuple[int, Any]:
        """One timed call; no answer (timeout, refused, 5xx) is counted as a gateway error."""
        s = self.app.settings
        call = action.strip("/") or ("charge" if method == "POST" else "status")
        url = f"{s.upi_gateway_url}/v1/payments/{payment_id}{action}"
        started = time.perf_counter()
        try:
            async with self.app.http_client.request(method, url, json=json, headers={"Idempotency-Key": payment_id},
                                                    timeout=aiohttp.ClientTimeout(total=s.upi_timeout_s)) as r:
                result = r.status, await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            self.app.metrics.gateway_errors(call).inc()
            raise
        finally:
            self.app.metrics.gateway_seconds(call).observe(time.perf_counter() - started)
        if result[0] >= 500:
            self.app.metrics.gateway_errors(call).inc()
        return result

    @staticmethod
    def _answer(status: int, data: Any) -> tuple[GatewayAnswer, str | None]:
        if status >= 500 or not isinstance(data, dict):
            return GatewayAnswer.TIMEOUT, None
        answer = data.get("status")
        if answer == "APPROVED":
            return GatewayAnswer.APPROVED, data.get("gateway_ref")
        if answer == "DECLINED":
            return GatewayAnswer.DECLINED, data.get("gateway_ref")
        return GatewayAnswer.TIMEOUT, None

    async def charge(self, payment_id: str, order_id: str, vpa: str,
                     amount_paise: int) -> tuple[GatewayAnswer, str | None]:
        """APPROVED, DECLINED or TIMEOUT (no answer in time), with the gateway's reference."""
        body = {"payment_id": payment_id, "order_id": order_id, "vpa": vpa, "amount_paise": amount_paise}
        try:
            status, data = await self._call("POST", payment_id, json=body)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return GatewayAnswer.TIMEOUT, None
        return self._answer(status, data)

    async def status(self, payment_id: str) -> tuple[GatewayAnswer, str | None]:
        """What the gateway knows of the payment; unknown or unreachable is TIMEOUT."""
        try:
            status, data = await self._call("GET", payment_id)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return GatewayAnswer.TIMEOUT, None
        return self._answer(status, data)

    async def refund(self, payment_id: str) -> None:
        """Give an approved payment back; raises if the gateway cannot be reached (the event is retried)."""
        status, data = await self._call("POST", payment_id, "/refund")
        if status >= 400:
            raise RuntimeError(f"refund of {payment_id} refused: {status} {data}")

    async def cancel(self, payment_id: str) -> None:
        """Void a payment we gave up on, so a late approval cannot happen (best effort)."""
        try:
            await self._call("POST", payment_id, "/cancel")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            pass
