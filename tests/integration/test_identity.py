"""Shopper identity at the gateway: sessions, tokens, ownership, Idempotency-Key and rate limits.

Every call goes through the real gateway of the session platform; a test shopper's
token is signed with the platform's secret (``tests.helpers.Shopper``), and the
session endpoints are tested here as a client uses them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import jwt
import pytest

from config.settings import Settings
from dev.mail_sink import read_mail
from domain.sessions import issue_token
from tests.helpers import Shopper, eventually

pytestmark = pytest.mark.integration


def assert_error(status: int, body: Any, expected: int, code: str | None = None) -> None:
    assert status == expected, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert code is None or body["error"]["code"] == code, body


async def raw_call(http: aiohttp.ClientSession, settings: Settings, method: str, path: str,
                   headers: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any, Any]:
    async with http.request(method, settings.gateway_url + path, headers=headers, json=body) as r:
        text = await r.text()
        try:
            data = json.loads(text)
        except ValueError:
            data = text
        return r.status, data, r.headers


@pytest.fixture(scope="module")
async def ravis_order(settings: Settings) -> dict[str, Any]:
    """Ravi's confirmed order, placed once for the ownership matrix."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        ravi = Shopper(http, settings)
        assert (await ravi.set_line("IPHONE-15", 1))[0] == 200
        placed = await ravi.checkout_until_accepted("ravi@okaxis", uuid.uuid4().hex)
        order = await ravi.final_order(placed["order_id"])
        assert (await ravi.set_line("LAPTOP", 1))[0] == 200  # his cart is not empty for the matrix
        return {"ravi": (ravi.user_id, ravi.token), "order_id": order["order_id"], "status": order["status"]}


def ravi(http: aiohttp.ClientSession, settings: Settings, order: dict[str, Any]) -> Shopper:
    shopper = Shopper(http, settings)
    shopper.user_id, shopper.token = order["ravi"]
    return shopper


# --- the two-shopper matrix -----------------------------------------------------------------

CROSS_CALLS = [
    # (method, path template, body, status another shopper gets)
    ("GET", "/cart/{user}", None, 403),
    ("PUT", "/cart/{user}/items/IPHONE-15", {"quantity": 3}, 403),
    ("DELETE", "/cart/{user}/items/LAPTOP", None, 403),
    ("GET", "/orders/{order}", None, 404),
    ("GET", "/orders/{order}/events", None, 404),
]


@pytest.mark.parametrize("method,template,body,refused", CROSS_CALLS)
async def test_another_shopper_is_refused(http: aiohttp.ClientSession, settings: Settings,
                                          ravis_order: dict[str, Any], method: str, template: str, body: Any,
                                          refused: int) -> None:
    priya = Shopper(http, settings)
    path = template.format(user=ravis_order["ravi"][0], order=ravis_order["order_id"])
    status, answer = await priya.call(method, path, body)
    assert_error(status, answer, refused, "forbidden" if refused == 403 else "unknown_order")
    # the owner's same call works, and Priya changed nothing of his
    owner = ravi(http, settings, ravis_order)
    if method == "GET" and not path.endswith("/events"):
        status, mine = await owner.call(method, path)
        assert status == 200, mine
    _, cart = await owner.call("GET", f"/cart/{owner.user_id}")
    assert [(i["sku"], i["quantity"]) for i in cart["items"]] == [("LAPTOP", 1)]


async def test_the_owner_gets_his_order_stream_and_page(http: aiohttp.ClientSession, settings: Settings,
                                                        ravis_order: dict[str, Any]) -> None:
    owner = ravi(http, settings, ravis_order)
    oid = ravis_order["order_id"]
    async with http.get(f"{settings.gateway_url}/orders/{oid}/events",
                        headers={"Authorization": f"Bearer {owner.token}"}) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        assert oid in (await r.content.read()).decode()  # the order is final: the stream ends
    cookie = {"Cookie": f"megatron_session={owner.token}"}
    status, page, _ = await raw_call(http, settings, "GET", f"/orders/{oid}/confirmation", cookie)
    assert status == 200 and oid in page


async def test_another_shoppers_confirmation_page_is_not_found(http: aiohttp.ClientSession, settings: Settings,
                                                               ravis_order: dict[str, Any]) -> None:
    priya = Shopper(http, settings)
    status, page, _ = await raw_call(http, settings, "GET", f"/orders/{ravis_order['order_id']}/confirmation",
                                     {"Cookie": f"megatron_session={priya.token}"})
    assert status == 404 and ravis_order["order_id"] not in page and "ravi" not in page.lower()
    # and a visitor with no session at all: a new guest, who does not own it either
    status, page, headers = await raw_call(http, settings, "GET", f"/orders/{ravis_order['order_id']}/confirmation")
    assert status == 404


async def test_checkout_for_another_shopper_is_forbidden(http: aiohttp.ClientSession, settings: Settings,
                                                         ravis_order: dict[str, Any]) -> None:
    priya = Shopper(http, settings)
    assert (await priya.set_line("IPHONE-15", 1))[0] == 200
    body = priya.checkout_body("priya@okhdfc", user_id=ravis_order["ravi"][0])
    status, answer = await priya.call("POST", "/checkout", body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert_error(status, answer, 403, "forbidden")
    owner = ravi(http, settings, ravis_order)
    _, cart = await owner.call("GET", f"/cart/{owner.user_id}")
    assert [i["sku"] for i in cart["items"]] == ["LAPTOP"], "Ravi's cart was not checked out"


async def test_orders_lists_only_the_shoppers_own(http: aiohttp.ClientSession, settings: Settings,
                                                  ravis_order: dict[str, Any]) -> None:
    owner = ravi(http, settings, ravis_order)
    status, mine = await owner.call("GET", "/orders")
    assert status == 200 and mine["user_id"] == owner.user_id
    assert [o["order_id"] for o in mine["orders"]] == [ravis_order["order_id"]]
    assert mine["orders"][0]["shipping_address"]["pincode"] == "110005"
    priya = Shopper(http, settings)
    status, hers = await priya.call("GET", "/orders")
    assert status == 200 and hers["orders"] == []


async def test_orders_are_listed_newest_first(http: aiohttp.ClientSession, settings: Settings) -> None:
    shopper = Shopper(http, settings)
    placed = []
    for vpa in ("first@okhdfc", "second@okhdfc"):
        assert (await shopper.set_line("PIXEL-8", 1))[0] == 200
        placed.append((await shopper.checkout_until_accepted(vpa, uuid.uuid4().hex))["order_id"])
        await eventually(lambda: shopper.call("GET", f"/cart/{shopper.user_id}"), lambda r: not r[1]["items"])
    _, listed = await shopper.call("GET", "/orders")
    assert [o["order_id"] for o in listed["orders"]] == placed[::-1]


async def test_order_ids_are_random(http: aiohttp.ClientSession, settings: Settings) -> None:
    """Two shoppers using one key get two unrelated 128-bit ids: nothing derives them from the key."""
    key = "same-key"
    ids = []
    for _ in range(2):
        s = Shopper(http, settings)
        assert (await s.set_line("IPHONE-15", 1))[0] == 200
        ids.append((await s.checkout_until_accepted("anu@okhdfc", key))["order_id"])
    assert ids[0] != ids[1] and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


# --- tokens -------------------------------------------------------------------------------------


def _tampered(token: str, user_id: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = user_id
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


async def test_bad_tokens_are_401(http: aiohttp.ClientSession, settings: Settings,
                                  ravis_order: dict[str, Any]) -> None:
    victim, now = ravis_order["ravi"][0], datetime.now(timezone.utc)
    me = Shopper(http, settings)
    bad = {
        "missing": "",
        "garbage": "not-a-token",
        "forged": issue_token("x" * 40, victim, "guest", now, 3600)[0],
        "tampered": _tampered(me.token, victim),
        "expired": issue_token(settings.session_secret, victim, "guest", now - timedelta(hours=2), 3600)[0],
        "unsigned": jwt.encode({"sub": victim, "kind": "guest", "iss": "megatron-gateway",
                                "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 3600}, None,
                               algorithm="none"),
    }
    for name, token in bad.items():
        for method, path in (("GET", f"/cart/{victim}"), ("GET", "/orders"),
                             ("GET", f"/orders/{ravis_order['order_id']}")):
            status, body = await me.call(method, path, token=token)
            assert_error(status, body, 401, "unauthorized")
        status, body, headers = await raw_call(http, settings, "POST", "/checkout",
                                               {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"} if token
                                               else {"Idempotency-Key": "k"}, me.checkout_body())
        assert status == 401 and "Bearer" in headers.get("WWW-Authenticate", ""), (name, body)
    status, body, _ = await raw_call(http, settings, "GET", "/orders", {"Authorization": f"Basic {me.token}"})
    assert status == 401


async def test_guest_session(http: aiohttp.ClientSession, settings: Settings) -> None:
    status, one, headers = await raw_call(http, settings, "POST", "/session", body={})
    assert status == 201 and set(one) == {"token", "user_id", "expires_at"}, one
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Lax" in headers["Set-Cookie"]
    _, two, _ = await raw_call(http, settings, "POST", "/session", body={})
    assert one["user_id"] != two["user_id"], "each guest is a new shopper chosen by the server"
    status, cart, _ = await raw_call(http, settings, "GET", f"/cart/{one['user_id']}",
                                     {"Authorization": f"Bearer {one['token']}"})
    assert status == 200 and cart["user_id"] == one["user_id"]
    status, body, _ = await raw_call(http, settings, "POST", "/session", body={"user_id": "ravi"})
    assert_error(status, body, 400, "validation_failed")


async def _code(settings: Settings, email: str, seen: int) -> str:
    mail = await eventually(lambda: asyncio.to_thread(read_mail, settings.mail_dir, email), lambda m: len(m) > seen)
    return re.findall(r"sign-in code is (\d{6})", mail[-1])[0]


async def test_sign_in_by_email_is_the_same_shopper_on_every_device(http: aiohttp.ClientSession,
                                                                      settings: Settings) -> None:
    email = f"ravi.{uuid.uuid4().hex[:6]}@example.in"
    sessions = []
    for device in range(2):
        status, body, _ = await raw_call(http, settings, "POST", "/session/code", body={"email": email})
        assert status == 202, body
        code = await _code(settings, email, device)
        status, session, _ = await raw_call(http, settings, "POST", "/session", body={"email": email, "code": code})
        assert status == 201, session
        sessions.append(session)
        # single use: the same code again is refused
        status, again, _ = await raw_call(http, settings, "POST", "/session", body={"email": email, "code": code})
        assert_error(status, again, 401, "unauthorized")
    assert sessions[0]["user_id"] == sessions[1]["user_id"]
    assert sessions[0]["token"] != sessions[1]["token"]


async def test_a_sign_in_code_dies_after_too_many_wrong_tries(http: aiohttp.ClientSession,
                                                              settings: Settings) -> None:
    email = f"guess.{uuid.uuid4().hex[:6]}@example.in"
    assert (await raw_call(http, settings, "POST", "/session/code", body={"email": email}))[0] == 202
    code = await _code(settings, email, 0)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(settings.signin_code_attempts):
        status, body, _ = await raw_call(http, settings, "POST", "/session", body={"email": email, "code": wrong})
        assert_error(status, body, 401, "unauthorized")
    status, body, _ = await raw_call(http, settings, "POST", "/session", body={"email": email, "code": code})
    assert_error(status, body, 401, "unauthorized")


# --- Idempotency-Key ----------------------------------------------------------------------------


async def test_same_key_same_body_answers_the_first_result(http: aiohttp.ClientSession, settings: Settings) -> None:
    shopper = Shopper(http, settings)
    assert (await shopper.set_line("IPHONE-15", 1))[0] == 200
    key = uuid.uuid4().hex
    first = await shopper.checkout_until_accepted("ravi@okhdfc", key)
    await shopper.final_order(first["order_id"])
    status, again = await shopper.checkout("ravi@okhdfc", key)
    assert status == 202 and again == first
    status, other = await shopper.checkout("someone@okhdfc", key)
    assert_error(status, other, 422, "idempotency_key_reused")
    # the key is the shopper's: another shopper with the same key is another request
    priya = Shopper(http, settings)
    assert (await priya.set_line("LAPTOP", 1))[0] == 200
    status, hers = await priya.checkout("ravi@okhdfc", key)
    assert status == 202 and hers["order_id"] != first["order_id"]


async def test_fifty_concurrent_checkouts_with_one_key_make_one_order(http: aiohttp.ClientSession,
                                                                      settings: Settings) -> None:
    shopper = Shopper(http, settings)
    assert (await shopper.set_line("IPHONE-15", 1))[0] == 200
    key = uuid.uuid4().hex
    answers = await asyncio.gather(*(shopper.checkout("ravi@okhdfc", key) for _ in range(50)))
    statuses = {status for status, _ in answers}
    # past the shopper's rate limit (RATE_LIMIT_SHOPPER) some are refused before they reach the key
    assert statuses <= {202, 409, 429}, answers
    assert all(b["error"]["code"] == "rate_limited" for status, b in answers if status == 429)
    assert sum(status in (202, 409) for status, _ in answers) >= 10, "enough of them raced for the key"
    in_flight = [body for status, body in answers if status == 409]
    assert all(b["error"]["code"] == "idempotency_key_in_flight" for b in in_flight)
    order_ids = {body["order_id"] for status, body in answers if status == 202}
    assert len(order_ids) == 1, answers
    _, listed = await eventually(lambda: shopper.call("GET", "/orders"), lambda r: r[0] == 200)  # past the limit
    assert [o["order_id"] for o in listed["orders"]] == list(order_ids)
    # the ones told 409 retry and get the same order
    status, retried = await eventually(lambda: shopper.checkout("ravi@okhdfc", key), lambda r: r[0] not in (409, 429))
    assert status == 202 and retried["order_id"] in order_ids


# --- rate limits ------------------------------------------------------------------------------


async def test_a_burst_meets_429_and_normal_use_does_not(http: aiohttp.ClientSession, settings: Settings) -> None:
    calm = Shopper(http, settings)
    for _ in range(10):  # a shopper clicking around
        status, body = await calm.call("GET", f"/cart/{calm.user_id}")
        assert status == 200, body
        await asyncio.sleep(0.15)
    burst = Shopper(http, settings)
    per_second = int(settings.rate_limit_shopper.split("/")[0])
    answers = []

    async def one() -> None:
        async with http.get(f"{settings.gateway_url}/cart/{burst.user_id}",
                            headers={"Authorization": f"Bearer {burst.token}"}) as r:
            answers.append((r.status, r.headers.get("Retry-After"), await r.json(content_type=None)))

    await asyncio.gather(*(one() for _ in range(3 * per_second)))
    limited = [a for a in answers if a[0] == 429]
    assert limited and {a[0] for a in answers} <= {200, 429}, answers
    for _, retry_after, body in limited:
        assert retry_after is not None and int(retry_after) >= 1
        assert_error(429, body, 429, "rate_limited")
    # the limit is the burst shopper's, not everyone's
    assert (await calm.call("GET", f"/cart/{calm.user_id}"))[0] == 200


async def test_sign_in_codes_are_limited_per_email(http: aiohttp.ClientSession, settings: Settings) -> None:
    email = f"flood.{uuid.uuid4().hex[:6]}@example.in"
    allowed = int(settings.rate_limit_signin.split("/")[0])
    statuses = []
    for _ in range(allowed + 1):
        status, body, headers = await raw_call(http, settings, "POST", "/session/code", body={"email": email})
        statuses.append(status)
    assert statuses == [202] * allowed + [429], statuses
    assert int(headers["Retry-After"]) >= 1 and body["error"]["code"] == "rate_limited"


# --- the pages' session ------------------------------------------------------------------------


async def test_a_first_visit_gets_a_guest_cookie_and_keeps_it(http: aiohttp.ClientSession, settings: Settings) -> None:
    status, page, headers = await raw_call(http, settings, "GET", "/")
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    token = re.search(r"megatron_session=([^;]+)", cookie)[1]  # type: ignore[index]
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    assert f'data-user-id="{user_id}"' in page
    # the next page with that cookie is the same shopper, and no new cookie is set
    status, page, headers = await raw_call(http, settings, "GET", "/checkout",
                                           {"Cookie": f"megatron_session={token}"})
    assert status == 200 and f'data-user-id="{user_id}"' in page and "Set-Cookie" not in headers
    # and the cookie works for the API, as the pages' scripts use it
    status, cart, _ = await raw_call(http, settings, "GET", f"/cart/{user_id}", {"Cookie": f"megatron_session={token}"})
    assert status == 200 and cart["user_id"] == user_id
