"""The gateway's OpenAPI document (web/openapi.py) is valid OpenAPI 3.1 and stays true to the code.

No platform: the routes are read from the gateway app's web server as ``agents.gateway``
registers them at import, and the bodies are built with the functions the views answer with.
The same document against a running gateway: tests/integration/test_openapi.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import jsonschema_rs
import pytest

from domain import errors
from domain.cart import cart_body, price_cart
from domain.catalog import PRODUCTS
from domain.checkout import CheckoutBody, place_order
from domain.orders import OrderStatus, evolve
from domain.sessions import GuestBody, Shopper, SignInBody, issue_token
from streams.events import FailureReason, Line
from web.errors import error_body
from web.openapi import CHECKOUT_EXAMPLE, openapi_document
from web.order_stream import sse_event
from web.orders import order_body
from web.sessions import Session

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
#: what the gateway serves and the document leaves out, and why
NOT_DOCUMENTED = {
    ("GET", "/"): "the products page (HTML)",
    ("GET", "/checkout"): "the checkout page (HTML); POST /checkout is the API",
    ("GET", "/orders/{order_id}/confirmation"): "the confirmation page (HTML)",
    ("GET", "/static/{name}"): "the pages' scripts, styles and images",
}
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def validator(doc: dict[str, Any], schema: Any) -> jsonschema_rs.Validator:
    """A validator of ``schema`` whose ``#/components/...`` references resolve in the document."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"],
            "allOf": [schema]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def assert_valid(doc: dict[str, Any], schema: Any, instance: Any) -> None:
    errors_found = [f"{e.instance_path}: {e.message}" for e in validator(doc, schema).iter_errors(instance)]
    assert not errors_found, (errors_found, instance)


def response_schema(doc: dict[str, Any], method: str, path: str, status: str,
                    media_type: str = "application/json") -> Any:
    response = doc["paths"][path][method.lower()]["responses"][status]
    if "$ref" in response:
        response = resolve(doc, response["$ref"])
    return response["content"][media_type]["schema"]


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def walk(node: Any, at: str = "#") -> Iterator[tuple[str, Any]]:
    yield at, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{at}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{at}/{i}")


# -- a valid OpenAPI 3.1 document ---------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    # the OpenAPI Initiative's 3.1 schema, as schemathesis ships it (jsonschema-rs; no other validator installed)
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    assert doc["openapi"] == "3.1.0"
    problems = [f"{e.instance_path}: {e.message}" for e in OPENAPI_31_VALIDATOR.iter_errors(doc)]
    assert not problems, problems
    json.dumps(doc, allow_nan=False)  # plain JSON, as /openapi.json serves it


def test_every_schema_is_json_schema_2020_12(doc: dict[str, Any]) -> None:
    """The OpenAPI schema above does not look inside schemas: check each against the JSON Schema meta-schema."""
    schemas = dict(doc["components"]["schemas"])
    for where, node in walk(doc["paths"], "#/paths"):
        if isinstance(node, dict) and isinstance(node.get("schema"), dict):
            schemas[f"{where}/schema"] = node["schema"]
    for name, header in doc["components"]["headers"].items():
        schemas[f"#/components/headers/{name}/schema"] = header["schema"]
    for where, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(schema), (where, schema)
        validator(doc, schema)  # compiles: its patterns and references are good


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = [node["$ref"] for _, node in walk(doc) if isinstance(node, dict) and isinstance(node.get("$ref"), str)]
    assert refs
    for ref in refs:
        resolve(doc, ref)
    defined = set(doc["components"]["schemas"])
    used = {ref.rsplit("/", 1)[1] for ref in refs if ref.startswith("#/components/schemas/")}
    assert defined == used, f"schemas nobody uses: {defined - used}"


def test_operations_are_unique_and_their_path_parameters_declared(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for method, path, op in operations(doc):
        declared = {p["name"] for p in [*doc["paths"][path].get("parameters", []), *op.get("parameters", [])]
                    if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)
        for link in op["responses"].get("202", {}).get("links", {}).values():
            assert link["operationId"] in ids


def test_schemathesis_reads_every_operation(doc: dict[str, Any]) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(doc)
    labels = [result.ok().label for result in schema.get_all_operations()]
    assert sorted(labels) == sorted(f"{m} {p}" for m, p, _ in operations(doc))


def test_document_is_built_once() -> None:
    assert openapi_document() is openapi_document()


# -- kept true: routes ---------------------------------------------------------------------------------------


def gateway_routes() -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every route the gateway's web server has, as ``agents.gateway`` registers them.

    ``app.page`` adds each view at import (``faust.web.base.Web.add_view``: ``web.views`` and an aiohttp
    route per method the view implements); Faust's own blueprints (``/router``, ...) are added only when
    the worker starts its web server, and are left out here by the module of their views.
    """
    import agents.gateway

    web = agents.gateway.app.web
    ours = {path for path, view in web.views.items() if not type(view).__module__.startswith("faust.")}
    routes = {(route.method, route.resource.canonical) for route in web.web_app.router.routes()  # type: ignore
              if route.resource is not None}
    assert {path for _, path in routes} >= ours
    # aiohttp adds HEAD to every route (a GET without its body, or 405): not an operation of its own
    return {(method, path) for method, path in routes if path in ours and method != "HEAD"}


def test_every_route_is_documented_and_every_operation_is_a_route(doc: dict[str, Any]) -> None:
    routes = gateway_routes()
    documented = {(method, path) for method, path, _ in operations(doc)}
    assert set(NOT_DOCUMENTED) <= routes, "an exclusion names a route that no longer exists"
    assert routes - set(NOT_DOCUMENTED) - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "operations the gateway does not serve"
    assert not documented & set(NOT_DOCUMENTED)


def test_signed_in_operations_say_so(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        needs_token = path.startswith(("/cart", "/checkout", "/orders"))
        if needs_token:
            assert op["security"] == [{"bearerAuth": []}, {"cookieAuth": []}], (method, path)
            assert {"401", "429", "503"} <= set(op["responses"]), (method, path)
        else:
            assert op["security"] == [], (method, path)
        if path.startswith("/cart/"):
            assert "403" in op["responses"], (method, path)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["in"] == "cookie" and schemes["cookieAuth"]["name"] == "megatron_session"


def test_retry_after_on_every_rate_limit(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        if "429" in op["responses"]:
            response = op["responses"]["429"]
            response = resolve(doc, response["$ref"]) if "$ref" in response else response
            assert "Retry-After" in response["headers"], (method, path)
    assert doc["paths"]["/checkout"]["post"]["parameters"][0]["name"] == "Idempotency-Key"
    assert doc["paths"]["/checkout"]["post"]["parameters"][0]["required"] is True


# -- kept true: error codes ----------------------------------------------------------------------------------


def test_every_error_code_is_in_the_enum_and_no_other(doc: dict[str, Any]) -> None:
    enum = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    source = (ROOT / "domain" / "errors.py").read_text(encoding="utf-8")
    in_errors = set(re.findall(r'^    code = "(\w+)"', source, re.M))
    assert in_errors and in_errors <= set(enum), in_errors - set(enum)
    # answered by the web package: a class of the tree it names (raises or renders), or a code it writes itself
    web_source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "web").glob("*.py")
                           if p.name != "openapi.py")
    by_code: dict[str, set[str]] = {}
    for name in errors.__all__:
        by_code.setdefault(getattr(errors, name).code, set()).add(name)
    answered = [code for code in enum if f'"{code}"' in web_source
                or any(re.search(rf"\b{name}\b", web_source) for name in by_code.get(code, ()))]
    assert [code for code in enum if code not in answered] == [], "a code the web package never answers"
    assert len(enum) == len(set(enum))


@pytest.mark.parametrize("error", [getattr(errors, n) for n in errors.__all__], ids=lambda c: c.__name__)
def test_error_bodies_match(doc: dict[str, Any], error: type[errors.MegatronError]) -> None:
    error_schema = {"$ref": "#/components/schemas/Error"}
    assert_valid(doc, error_schema, error_body(error("it went wrong")))
    assert_valid(doc, error_schema, error_body(error("it went wrong", [{"field": "quantity", "problem": "too big"}])))
    assert_valid(doc, error_schema, error_body(error("it went wrong", {"header": "Idempotency-Key"})))


# -- kept true: the bodies the code builds match their schemas ------------------------------------------------


def test_cart_body_matches(doc: dict[str, Any]) -> None:
    schema = response_schema(doc, "GET", "/cart/{user_id}", "200")
    assert_valid(doc, schema, cart_body("u-1", []))
    assert_valid(doc, schema, cart_body("u-1", price_cart({"IPHONE-15": 2, "LAPTOP": 1})))
    for method in ("PUT", "DELETE"):
        assert response_schema(doc, method, "/cart/{user_id}/items/{sku}", "200") == schema


def test_products_match(doc: dict[str, Any]) -> None:
    body = [{"sku": p.sku, "name": p.name, "price_paise": p.price_paise, "available": p.initial_stock}
            for p in PRODUCTS]
    assert_valid(doc, response_schema(doc, "GET", "/products", "200"), body)


def test_session_body_matches(doc: dict[str, Any]) -> None:
    token, expires = issue_token("a-test-secret-of-at-least-32-bytes!", "u-0123456789abcdef", "guest", NOW, 3600)
    body = Session(token, Shopper("u-0123456789abcdef", "guest", expires)).body()
    assert_valid(doc, response_schema(doc, "POST", "/session", "201"), body)


def placed_order() -> Any:
    lines = price_cart({"IPHONE-15": 1, "REDMI-13C": 2})
    command = place_order("0123456789abcdef0123456789abcdef", "u-1", CheckoutBody.model_validate(CHECKOUT_EXAMPLE),
                          lines)
    order = evolve(None, command, NOW)
    assert order is not None
    return order


def test_order_bodies_match(doc: dict[str, Any]) -> None:
    schema = response_schema(doc, "GET", "/orders/{order_id}", "200")
    order = placed_order()
    failed = order.moved_to(OrderStatus.FAILED, NOW, FailureReason.CANCELLED).model_copy(update={"note": "asked"})
    old = order.model_copy(update={"shipping_address": None})
    for o in (order, failed, old):
        assert_valid(doc, schema, order_body(o))
    listed = {"user_id": "u-1", "orders": [order_body(order), order_body(failed)]}
    assert_valid(doc, response_schema(doc, "GET", "/orders", "200"), listed)
    accepted = {"order_id": order.order_id, "status": "CREATED"}
    assert_valid(doc, response_schema(doc, "POST", "/checkout", "202"), accepted)


def test_order_event_matches(doc: dict[str, Any]) -> None:
    """One event of the stream as schemathesis reads it: ``{event, id, data}``, the data an order."""
    order = placed_order()
    raw = sse_event(order_body(order), event="order", event_id=str(order.version)).decode()
    fields = dict(line.split(": ", 1) for line in raw.strip().splitlines())
    schema = response_schema(doc, "GET", "/orders/{order_id}/events", "200", "text/event-stream")
    assert_valid(doc, schema, fields)
    assert_valid(doc, resolve(doc, schema["$ref"])["properties"]["data"]["contentSchema"], json.loads(fields["data"]))


def test_health_bodies_match(doc: dict[str, Any]) -> None:
    body = {"service": "gateway", "ready": False,
            "checks": {"partitions_assigned_and_tables_recovered": True, "cart": True, "redis": False}}
    for status in ("200", "503"):
        assert_valid(doc, response_schema(doc, "GET", "/health", status), body)


# -- kept true: the request bodies are the models' ----------------------------------------------------------------


def request_schema(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]


def test_request_bodies_are_the_models(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert request_schema(doc, "POST", "/checkout")["schema"] == {"$ref": "#/components/schemas/CheckoutBody"}
    assert set(schemas["CheckoutBody"]["properties"]) == set(CheckoutBody.model_fields)
    assert set(schemas["CheckoutBody"]["required"]) == {n for n, f in CheckoutBody.model_fields.items()
                                                        if f.is_required()}
    assert set(schemas["ShippingAddress"]["required"]) == {"name", "line", "city", "state", "pincode", "phone"}


def test_request_examples_are_accepted(doc: dict[str, Any]) -> None:
    checkout = request_schema(doc, "POST", "/checkout")
    CheckoutBody.model_validate(checkout["example"])
    assert_valid(doc, checkout["schema"], checkout["example"])
    session = request_schema(doc, "POST", "/session")
    GuestBody.model_validate(session["examples"]["guest"]["value"])
    SignInBody.model_validate(session["examples"]["signIn"]["value"])
    for example in session["examples"].values():
        assert_valid(doc, session["schema"], example["value"])
    # oneOf: a guest body is not a sign-in body and the other way round
    assert not validator(doc, session["schema"]).is_valid({"email": "ravi@example.com"})
    put = request_schema(doc, "PUT", "/cart/{user_id}/items/{sku}")
    assert_valid(doc, put["schema"], put["example"])
    assert not validator(doc, put["schema"]).is_valid({"quantity": -1})


def test_line_fields_are_the_models() -> None:
    """The priced line of carts and orders is :class:`~streams.events.Line` and its total."""
    fields = set(openapi_document()["components"]["schemas"]["PricedLine"]["properties"])
    assert fields == {*Line.model_fields, "line_total_paise"}
