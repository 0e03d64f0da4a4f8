"""The base of every JSON view: parse and validate bodies, render every error the same way; the
routed read of one table key."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import aiohttp

from faust.web import Request, Response, View
from faust.web.exceptions import WebError
from pydantic import BaseModel, ValidationError

from domain.errors import (BadRequest, DependencyUnavailable, InternalError, MegatronError, PayloadTooLarge,
                           ValidationFailed)
from web.errors import error_body, headers_of, status_of

if TYPE_CHECKING:
    from config.app import ServiceApp
    from tables.model_table import ModelTable

__all__ = ["ApiView", "read_body", "parse_json", "parse_model", "validation_details", "routed_read", "Read"]

log = logging.getLogger(__name__)
B = TypeVar("B", bound=BaseModel)
#: a routed read: the request and the path's parameters in, the JSON body out
Read = Callable[..., Awaitable[Any]]


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as ``[{field, problem}]`` a client can act on."""
    return [{"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["msg"]} for e in exc.errors()]


def parse_json(raw: bytes) -> Any:
    """A body as JSON (empty is ``None``), or 400."""
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise BadRequest("request body is not valid JSON", {"error": str(exc)}) from None


def parse_model(model: type[B], data: Any) -> B:
    """Decoded JSON as ``model``: 400 for anything but an object, and for every wrong or unknown field."""
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("request body is not valid", validation_details(exc)) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) before it is read when it says it is larger than ``limit``."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes", {"limit_bytes": limit})
    raw = await request.read()
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes", {"limit_bytes": limit})
    return raw


class ApiView(View):
    """A view whose errors, expected or not, come back as the API's JSON error body."""

    async def dispatch(self, request: Any) -> Any:
        try:
            return await super().dispatch(request)
        except MegatronError as exc:
            return self.error_response(exc)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:  # e.g. routed to a worker that just left
            return self.error_response(DependencyUnavailable("a dependency did not answer",
                                                             {"error": str(exc) or type(exc).__name__}))
        except Exception:
            if not getattr(self.app, "ready", True):  # still joining its group: it cannot route to an owner yet
                return self.error_response(DependencyUnavailable("this worker is starting; try again",
                                                                 {"worker": self.app.conf.id}))
            log.exception("unhandled error in %s %s", request.method, request.path)
            return self.error_response(InternalError("internal error"))

    async def on_request_error(self, request: Request, exc: WebError) -> Response:
        """One of Faust's own web errors (a routed read that found no owner, say), in the API's shape."""
        return self.json({"error": {"code": "http_error", "message": str(exc.detail), "details": {}}},
                         status=exc.code)

    def error_response(self, exc: MegatronError) -> Response:
        return self.json(error_body(exc), status=status_of(exc), headers=headers_of(exc))

    async def body(self, request: Request, model: type[B]) -> B:
        """The JSON body as ``model``, or a 400/413 that says what is wrong (unknown fields are refused)."""
        return parse_model(model, parse_json(await read_body(request, self.app.settings.max_body_bytes)))


def routed_read(app: "ServiceApp", path: str, table: "ModelTable[Any]", key: str) -> Callable[[Read], Read]:
    """Serve ``GET path`` with the decorated ``read(request, **path parameters)``, on the worker that owns
    the path's ``key`` in ``table``: any other worker forwards the request there (Faust's
    ``table_route``), since a RocksDB table answers only for its own partitions. ``read`` returns the
    JSON body or raises an error of the tree."""

    def register(read: Read) -> Read:
        class RoutedRead(ApiView):
            @app.table_route(table=table.table, match_info=key)
            async def get(self, request: Request, **params: str) -> Response:
                return self.json(await read(request, **params))

        RoutedRead.__doc__ = read.__doc__
        app.page(path, name=read.__name__)(RoutedRead)
        return read

    return register

