"""The notification service's view: accept a NotifyOrder onto the log, answer 202."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from domain.notifications import Sent
from streams.commands import NotifyOrder
from tables.model_table import ModelTable
from streams.topics import NOTIFICATION_COMMANDS
from web.base import ApiView

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_notification_views"]


def register_notification_views(app: "ServiceApp", sent: ModelTable[Sent]) -> None:
    @app.page("/notifications")
    class Notify(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            command = await self.body(request, NotifyOrder)
            await app.emit(NOTIFICATION_COMMANDS, command)
            return self.json({"order_id": command.order_id, "accepted": True}, status=202)

    @app.page("/notifications/{order_id}")
    class Delivered(ApiView):
        @app.table_route(table=sent.table, match_info="order_id")
        async def get(self, request: Request, order_id: str) -> Response:
            record = sent.get(order_id) or Sent()
            return self.json({"order_id": order_id, "sent": sorted(record.keys)})
