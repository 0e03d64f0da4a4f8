"""API gateway: the shoppers' HTTP API and pages; it owns no topic and no table.

It checks who is asking (signed tokens, rate limits; its own state in Redis), reads
carts from the cart service and creates orders through the order service
over REST, as the flow says; everything after that is events between the others.
The confirmation page's live status is the order service's event stream, relayed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.services import service_client
from adapters.shoppers import ShopperStore
from config.app import create_app
from domain.errors import DependencyUnavailable
from web.gateway import product_list, register_gateway_views
from web.openapi import register_openapi_view
from web.order_stream import register_order_stream_relay
from web.pages import register_page_views
from web.ops import register_ops_views
from web.sessions import Identity

app = create_app("gateway")
DEPENDENCIES = ("cart", "orders", "inventory")
store = app.add_dependency(ShopperStore(app.settings))
services = service_client(app)
identity = Identity(app.settings, store)


async def health_check() -> dict[str, Any]:
    """Ready when every service the API calls answers its own health check."""

    async def ok(service: str) -> bool:
        try:
            status, _ = await services.request(service, "GET", "/health")
            return status == 200
        except Exception:
            return False

    async def redis() -> bool:
        try:
            return await store.ping()
        except DependencyUnavailable:
            return False

    results = await asyncio.gather(*(ok(s) for s in DEPENDENCIES), redis())
    return dict(zip((*DEPENDENCIES, "redis"), results))


app.health_check = health_check  # type: ignore[attr-defined]
register_ops_views(app)
register_gateway_views(app, store, identity, services)
register_page_views(app, identity, services, products=lambda: product_list(services))
register_order_stream_relay(app, identity, services)
register_openapi_view(app)
