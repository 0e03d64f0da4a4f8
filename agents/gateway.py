"""API gateway: the shoppers' HTTP API and pages; it owns no topic and no table.

It reads carts from the cart service and creates orders through the order service
over REST, as the flow says; everything after that is events between the others.
The confirmation page's live status is the order service's event stream, relayed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from config.app import create_app
from web.clients import ServiceClient
from web.gateway import product_list, register_gateway_views
from web.pages import register_page_views

app = create_app("gateway")
DEPENDENCIES = ("cart", "orders", "inventory")


async def health_check() -> dict[str, Any]:
    """Ready when every service the API calls answers its own health check."""

    async def ok(service: str) -> bool:
        try:
            status, _ = await ServiceClient(app, service).request("GET", "/health")
            return status == 200
        except Exception:
            return False

    results = await asyncio.gather(*(ok(s) for s in DEPENDENCIES))
    return dict(zip(DEPENDENCIES, results))


app.health_check = health_check  # type: ignore[attr-defined]
register_gateway_views(app)
register_page_views(app, products=lambda: product_list(app))
