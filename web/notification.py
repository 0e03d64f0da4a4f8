"""The notification service's view: accept a NotifyOrder onto the log, answer 202."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response

from streams.commands import NotifyOrder
from streams.topics import NOTIFICATION_COMMANDS
from web.base import ApiView

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_notification_views"]


def register_notification_views(app: "ServiceApp") -> None:
    @app.page("/notifications")
    class Notify(ApiView):
        async def post(self, request: Request, **kwargs: Any) -> Response:
            command = await self.body(request, NotifyOrder)
            await app.emit(NOTIFICATION_COMMANDS, command)
            return self.json({"order_id": command.order_id, "accepted": True}, status=202)
