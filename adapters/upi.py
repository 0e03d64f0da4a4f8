"""The external UPI payment gateway: its HTTP client, and the calls run off the payment agent's path.

:class:`UpiClient` speaks the gateway's API (the payment id is the idempotency key of
every call) on a session of its own, each call bounded by ``UPI_TIMEOUT_S`` and timed
into the worker's metrics.

:class:`GatewayCalls` runs the calls the payment decider asks for (``domain.payment``'s
:class:`~domain.payment.GatewayCall` effects) as background tasks, at most
``PAYMENT_CALLS_IN_FLIGHT`` at once, so a silent gateway holds a slot for its own order
and never the partition. Each call's outcome is handed to ``answered`` as a
:class:`~streams.commands.GatewayAnswered`, which the payment service sends keyed by the
order, so it is folded in the partition that owns the payment. Nothing here writes state:
a call lost with this worker (a crash, a stop) is made again by the owner's retry sweep,
under the same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from mode import Service

from adapters.http import NO_ANSWER, HttpClient
from config.metrics import Metrics
from config.settings import Settings
from domain.errors import DependencyUnavailable, Refused
from domain.payment import AskStatus, Cancel, Charge, GatewayAnswer, GatewayCall, Refund
from streams.commands import GatewayAnswered

__all__ = ["UpiClient", "GatewayCalls", "RefundRefused"]

log = logging.getLogger(__name__)

#: tries to hand one answer on (the broker away for a moment); after that the sweep makes the call again
ANSWER_TRIES = 5


class RefundRefused(Refused):
    """The gateway answered a refund and said no (it holds no approved payment under that id)."""

    def __init__(self, payment_id: str, status: int, body: Any) -> None:
        super().__init__(f"refund of {payment_id} refused", {"payment_id": payment_id, "body": body},
                         code="refund_refused", status=status)


class UpiClient(HttpClient):
    """The UPI gateway's API on a session of its own; every call bounded by ``UPI_TIMEOUT_S``."""

    what = "UPI client"

    def __init__(self, settings: Settings, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(settings.upi_timeout_s, **kwargs)
        self.settings = settings
        self.metrics = metrics

    async def _call(self, call: str, method: str, payment_id: str, action: str = "",
                    json: Any = None) -> tuple[int, Any]:
        """``(status, body)`` of one timed call; no answer (timeout, refused, 5xx) counts as a gateway error."""
        url = f"{self.settings.upi_gateway_url}/v1/payments/{payment_id}{action}"
        started = time.perf_counter()
        try:
            async with self.session.request(method, url, json=json, headers={"Idempotency-Key": payment_id}) as r:
                result = r.status, await r.json(content_type=None)
        except NO_ANSWER:
            self.metrics.gateway_errors(call).inc()
            raise
        finally:
            self.metrics.gateway_seconds(call).observe(time.perf_counter() - started)
        if result[0] >= 500:
            self.metrics.gateway_errors(call).inc()
        return result

    async def _answer(self, call: str, method: str, payment_id: str, action: str = "",
                      json: Any = None) -> tuple[GatewayAnswer, str | None]:
        """The payment's status in the gateway's answer; no answer, an unknown payment or a 5xx is TIMEOUT."""
        try:
            status, data = await self._call(call, method, payment_id, action, json)
        except NO_ANSWER:
            return GatewayAnswer.TIMEOUT, None
        if status >= 500 or not isinstance(data, dict):
            return GatewayAnswer.TIMEOUT, None
        answer = data.get("status")
        if answer in (GatewayAnswer.APPROVED.value, GatewayAnswer.DECLINED.value, GatewayAnswer.VOIDED.value):
            return GatewayAnswer(answer), data.get("gateway_ref")
        return GatewayAnswer.TIMEOUT, None

    async def charge(self, payment_id: str, order_id: str, vpa: str,
                     amount_paise: int) -> tuple[GatewayAnswer, str | None]:
        """APPROVED, DECLINED or TIMEOUT (no answer in time), with the gateway's reference."""
        body = {"payment_id": payment_id, "order_id": order_id, "vpa": vpa, "amount_paise": amount_paise}
        return await self._answer("charge", "POST", payment_id, json=body)

    async def status(self, payment_id: str) -> tuple[GatewayAnswer, str | None]:
        """What the gateway knows of the payment; unknown or unreachable is TIMEOUT."""
        return await self._answer("status", "GET", payment_id)

    async def cancel(self, payment_id: str) -> tuple[GatewayAnswer, str | None]:
        """Void a payment we gave up on, so a late approval cannot happen. The answer is the payment as it
        stands then: APPROVED or DECLINED if the gateway had decided first, VOIDED if it had not, TIMEOUT
        if the gateway did not answer (then nothing is known: the payment may stand approved)."""
        return await self._answer("cancel", "POST", payment_id, "/cancel")

    async def refund(self, payment_id: str) -> None:
        """Give an approved payment back; :class:`RefundRefused` if the gateway says no,
        :class:`~domain.errors.DependencyUnavailable` if it does not answer."""
        try:
            status, data = await self._call("refund", "POST", payment_id, "/refund")
        except NO_ANSWER as exc:
            raise DependencyUnavailable("the UPI gateway cannot be reached",
                                        {"payment_id": payment_id, "error": str(exc) or type(exc).__name__}) from None
        if status >= 500:
            raise DependencyUnavailable("the UPI gateway failed", {"payment_id": payment_id, "status": status})
        if status >= 400:
            raise RefundRefused(payment_id, status, data)

    async def carry_out(self, call: GatewayCall) -> GatewayAnswered:
        """Make ``call`` and say how it went, as the command its payment's owner folds in."""
        ref: str | None = None
        if isinstance(call, Charge):
            answer, ref = await self.charge(call.payment_id, call.order_id, call.vpa, call.amount_paise)
        elif isinstance(call, AskStatus):
            answer, ref = await self.status(call.payment_id)
        elif isinstance(call, Cancel):
            answer, ref = await self.cancel(call.payment_id)
        elif isinstance(call, Refund):
            try:
                await self.refund(call.payment_id)
                answer = GatewayAnswer.APPROVED
            except (RefundRefused, DependencyUnavailable) as exc:
                log.warning("payment %s: refund not done yet (%s), will retry", call.payment_id, exc)
                answer = GatewayAnswer.DECLINED if isinstance(exc, RefundRefused) else GatewayAnswer.TIMEOUT
        else:
            raise TypeError(f"not a gateway call: {call!r}")
        return GatewayAnswered(order_id=call.order_id, call=call.kind.value, number=call.number,
                               answer=answer.value, gateway_ref=ref)


class GatewayCalls(Service):
    """Gateway calls in the background, at most ``PAYMENT_CALLS_IN_FLIGHT`` at once; each answer to ``answered``.

    At most one call per order is kept: a new one for an order supersedes the one still running
    (the payment awaits only its newest call, so the older answer would be dropped anyway).
    """

    def __init__(self, client: UpiClient, answered: Callable[[GatewayAnswered], Awaitable[None]], *,
                 calls_in_flight: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self._answered = answered
        self._slots = asyncio.Semaphore(calls_in_flight)
        self._running: dict[str, asyncio.Task[None]] = {}

    def on_init_dependencies(self) -> list[Service]:
        """The HTTP client starts before the calls and stops after them."""
        return [self.client]

    @property
    def in_flight(self) -> int:
        """Calls started and not answered yet (waiting for a slot included)."""
        return len(self._running)

    def submit(self, call: GatewayCall) -> None:
        """Make ``call`` in the background; returns at once."""
        previous = self._running.get(call.order_id)
        if previous is not None:
            previous.cancel()
        task = asyncio.ensure_future(self._run(call))
        self._running[call.order_id] = task
        task.add_done_callback(lambda done: self._forget(call.order_id, done))

    def _forget(self, order_id: str, task: "asyncio.Task[None]") -> None:
        if self._running.get(order_id) is task:
            del self._running[order_id]

    async def _run(self, call: GatewayCall) -> None:
        try:
            async with self._slots:
                answer = await self.client.carry_out(call)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug, not the gateway: no answer, so the retry sweep calls again
            log.exception("payment of order %s: %s call failed", call.order_id, call.kind.value)
            return
        for attempt in range(1, ANSWER_TRIES + 1):
            try:
                await self._answered(answer)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == ANSWER_TRIES:
                    log.warning("payment of order %s: %s answer not handed on (%s); the retry sweep calls again",
                                call.order_id, call.kind.value, exc)
                    return
                await asyncio.sleep(0.1 * 2 ** attempt)

    async def on_stop(self) -> None:
        """Calls in flight end with the worker; the payments they were for are due again in the table."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
