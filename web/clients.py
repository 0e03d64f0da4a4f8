"""Calls between services over HTTP, with timeouts and the API's errors on failure."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

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
            raise DependencyUnavailable(f"the {self.service} service failed",
                                        {"service": self.service, "status": r.status, "body": body})
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

    async def charge(self, payment_id: str, order_id: str, vpa: str, amount_paise: int) -> tuple[str, str | None]:
        """``(answer, gateway_ref)`` with answer APPROVED, DECLINED or TIMEOUT (no answer in time)."""
        s = self.app.settings
        timeout = aiohttp.ClientTimeout(total=s.upi_timeout_s)
        body = {"payment_id": payment_id, "order_id": order_id, "vpa": vpa, "amount_paise": amount_paise}
        try:
            async with self.app.http_client.post(
                f"{s.upi_gateway_url}/v1/payments", json=body, timeout=timeout,
                headers={"Idempotency-Key": payment_id},
            ) as r:
                data = await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return "TIMEOUT", None
        if r.status >= 500 or not isinstance(data, dict):
            return "TIMEOUT", None
        return str(data.get("status", "DECLINED")), data.get("gateway_ref")
