"""The running gateway against its OpenAPI document: served as built, and answering as it says (schemathesis).

schemathesis runs as its command line in a subprocess, with a config file written here and
this module as its hooks module (the hooks at the end, registered only in that subprocess):
every request carries the token of one of ``SHOPPERS`` shoppers in turn, so that each stays
within the gateway's per-shopper rate limit; ``{user_id}`` and the checkout's ``user_id`` are
that shopper's (but one time in ``FOREIGN_USER_EVERY``: they stay generated, and are 403), and
an order created by a checkout is read with the token of the shopper who created it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.settings import Settings
from domain.address import INDIAN_STATES
from domain.catalog import PRODUCTS
from tests.helpers import Shopper
from web.openapi import openapi_document

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: where the subprocess finds the shoppers: JSON ``[{"user_id", "token"}]``
SHOPPERS_ENV = "MEGATRON_OPENAPI_SHOPPERS"
SHOPPERS = 10
#: all requests together (schemathesis' limiter): 10 a second per shopper, half the gateway's default limit
RATE_LIMIT = "100/s"
#: one request in this many keeps its generated ``{user_id}`` (another shopper's: 403)
FOREIGN_USER_EVERY = 10
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
RUN_TIMEOUT_S = 240


async def test_served_document_is_the_document(http: aiohttp.ClientSession, settings: Settings) -> None:
    async with http.get(settings.gateway_url + "/openapi.json") as r:
        assert r.status == 200 and r.content_type == "application/json"
        assert await r.json() == openapi_document()


def toml_value(value: Any) -> str:
    """A TOML value of a string, number, bool, list or inline table (JSON strings are TOML strings)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def toml(config: dict[str, Any]) -> str:
    """Top-level keys, then one ``[table]`` per dict of dicts or scalars (enough for this config)."""
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for table, values in config.items():
        if isinstance(values, dict):
            lines.append(f"\n[{table}]")
            lines.extend(f"{json.dumps(k)} = {toml_value(v)}" for k, v in values.items())
    return "\n".join(lines) + "\n"


async def test_gateway_answers_as_documented(http: aiohttp.ClientSession, settings: Settings,
                                             tmp_path: Path) -> None:
    shoppers = [Shopper(http, settings) for _ in range(SHOPPERS)]
    for shopper in shoppers:  # a cart to check out, for the checkouts that are valid
        status, body = await shopper.set_line(PRODUCTS[0].sku, 1)
        assert status == 200, body
    config = {
        "base-url": settings.gateway_url,
        "seed": 20240501,
        "hooks": __name__,
        # one worker: Hypothesis' ast.parse in two threads at once trips CPython 3.11 ("AST constructor
        # recursion depth mismatch"), an error of the run, not of the gateway
        "workers": 1,
        "rate-limit": RATE_LIMIT,
        "request-timeout": 15,
        "max-stream-events": 5,
        "generation": {"max-examples": 25, "database": "none"},
        "cache": {"directory": str(tmp_path / "cache")},  # its crash files (`st replay`), not in the checkout
        "dictionaries": {"skus": {"values": [p.sku for p in PRODUCTS]}, "states": {"values": list(INDIAN_STATES)},
                         "quantities": {"values": list(range(settings.max_line_quantity + 1))}},
        # mostly real SKUs, states and quantities in the line limit (the schemas do not say which: the
        # catalog, the state list and the limit are checked by the code), so carts change and checkouts
        # go through, not only 400 unknown_sku and validation_failed
        "parameters": {"path.sku": {"dictionary": "skus", "probability": 0.8},
                       "body.quantity": {"dictionary": "quantities", "probability": 0.7},
                       "body.shipping_address.state": {"dictionary": "states", "probability": 0.8}},
    }
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(toml(config), encoding="utf-8")
    command = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config_file), "--no-color",
               "run", f"{settings.gateway_url}/openapi.json", "--checks", ",".join(CHECKS),
               "--phases", "examples,coverage,fuzzing,stateful", "--suppress-health-check", "all",
               "--report", "har", "--report-dir", str(tmp_path / "report")]  # every request and answer, to look at
    env = {**os.environ, SHOPPERS_ENV: json.dumps([{"user_id": s.user_id, "token": s.token} for s in shoppers])}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise AssertionError(f"schemathesis ran over {RUN_TIMEOUT_S}s:\n{out.decode()[-20000:]}") from None
    report = out.decode()
    print(f"schemathesis took {time.monotonic() - started:.0f}s\n{report[-6000:]}")
    assert proc.returncode == 0, f"requests and answers in {tmp_path / 'report'}\n{report[-20000:]}"


# -- schemathesis' hooks (this module is its hooks module; nothing here runs under pytest) ---------------------

if os.environ.get(SHOPPERS_ENV):
    import schemathesis

    _SHOPPERS: list[dict[str, str]] = json.loads(os.environ[SHOPPERS_ENV])
    _CALLS = itertools.count()
    #: order id -> the shopper whose checkout created it, so his token reads it (another's is 404)
    _ORDERED_BY: dict[str, dict[str, str]] = {}

    @schemathesis.hook
    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        """A shopper's token on every call, in turns; his id as ``{user_id}`` (most of the time)."""
        call = next(_CALLS)
        path = case.path_parameters or {}
        shopper = _ORDERED_BY.get(str(path.get("order_id"))) or _SHOPPERS[call % len(_SHOPPERS)]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {shopper['token']}"}
        if call % FOREIGN_USER_EVERY == 0:
            return
        if "user_id" in path:
            case.path_parameters = {**path, "user_id": shopper["user_id"]}
        body = case.body
        if (case.operation.path == "/checkout" and isinstance(body, dict) and "user_id" in body
                and isinstance(body["user_id"], (str, type(None)))):
            case.body = {**body, "user_id": shopper["user_id"]}  # the checkout's optional user_id

    @schemathesis.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        if case.operation.path == "/checkout" and response.status_code == 202:
            token = response.request.headers.get("Authorization", "").removeprefix("Bearer ")
            by = [s for s in _SHOPPERS if s["token"] == token]
            if by:
                _ORDERED_BY[str(response.json()["order_id"])] = by[0]
