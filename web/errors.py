"""How the API answers an error of the tree (:mod:`domain.errors`): its HTTP status, headers and body.

The tree knows nothing of HTTP; this is the one place that does. Each class answers the
status of DESIGN.md's error table, found along its bases (so ``UnknownOrder`` is a 404 as
``NotFound`` is, and ``PayloadTooLarge`` a 413 though it is a ``BadRequest``); a
:class:`~domain.errors.Refused` passes on the status the other service answered; anything
else is a 500. :class:`web.base.ApiView` renders every one as
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import math
from typing import Any

from domain.errors import (BadRequest, Conflict, DependencyUnavailable, Forbidden, IdempotencyMismatch, MegatronError,
                           NotFound, PayloadTooLarge, RateLimited, Refused, Unauthorized)

__all__ = ["STATUSES", "INTERNAL_STATUS", "status_of", "headers_of", "error_body"]

#: the HTTP status of each class of the tree that has one of its own (DESIGN.md's error table)
STATUSES: dict[type[MegatronError], int] = {
    BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409, PayloadTooLarge: 413,
    IdempotencyMismatch: 422, RateLimited: 429, DependencyUnavailable: 503,
}
#: the status of an error that is none of those: something this code did not expect
INTERNAL_STATUS = 500
#: how the gateway asks for a token (RFC 6750)
AUTHENTICATE = 'Bearer realm="megatron"'


def status_of(exc: MegatronError) -> int:
    """The status ``exc`` is answered with: its own class's or its nearest base's, a refusal's as it came."""
    if isinstance(exc, Refused) and exc.status is not None:
        return exc.status
    return next((STATUSES[cls] for cls in type(exc).__mro__ if cls in STATUSES), INTERNAL_STATUS)


def headers_of(exc: MegatronError) -> dict[str, str]:
    """Headers the answer carries besides the body: when to try again, how to sign in."""
    headers: dict[str, str] = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = AUTHENTICATE
    return headers


def error_body(exc: MegatronError) -> dict[str, Any]:
    """The JSON of every error answer."""
    return {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
