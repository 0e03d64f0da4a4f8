"""``GET /health`` and ``GET /metrics`` on every worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust.web import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from web.base import ApiView

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["register_ops_views"]


def register_ops_views(app: "ServiceApp") -> None:
    """Readiness and metrics views; a service may add its own health check as ``app.health_check``."""

    @app.page("/health")
    class Health(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            checks: dict[str, Any] = {"partitions_assigned_and_tables_recovered": app.ready}
            extra = getattr(app, "health_check", None)
            if extra is not None:
                checks.update(await extra())
            ok = all(v is True for v in checks.values())
            return self.json({"service": app.service_name, "ready": ok, "checks": checks,
                              "startup_s": app.startup.phases()}, status=200 if ok else 503)

    @app.page("/metrics")
    class Metrics(ApiView):
        async def get(self, request: Request, **kwargs: Any) -> Response:
            app.metrics.refresh(app.consumer_lags())
            # aiohttp wants the charset apart from the content type, so set the header whole
            return self.bytes(generate_latest(app.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
