"""Who is asking, at the gateway: the token (Bearer header or the pages' cookie), and the rate limits.

Every cart, checkout and order call goes through :meth:`Identity.shopper`; the public ones
(products, sessions) through :meth:`Identity.limit_address`. The pages get a guest
session on their first visit as an HttpOnly, SameSite=Lax cookie: Lax so a link from the
confirmation email still carries it, while another site's POST or fetch does not.
"""

from __future__ import annotations

from datetime import datetime, timezone
from http.cookies import SimpleCookie
from urllib.parse import quote
from typing import TYPE_CHECKING, Any

from faust.web import Request
from yarl import URL

from adapters.services import ServiceCalls
from adapters.shoppers import ShopperStore
from domain.errors import Forbidden, RateLimited, Unauthorized, UnknownOrder
from domain.sessions import InvalidToken, Kind, Shopper, issue_token, new_user_id, read_token

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["COOKIE", "Identity", "Session", "owned_order"]

COOKIE = "megatron_session"


class Session:
    """A token just issued: what ``POST /session`` answers and the cookie the pages keep."""

    def __init__(self, token: str, shopper: Shopper) -> None:
        self.token = token
        self.shopper = shopper

    def body(self) -> dict[str, str]:
        return {"token": self.token, "user_id": self.shopper.user_id,
                "expires_at": self.shopper.expires_at.isoformat().replace("+00:00", "Z")}


class Identity:
    """The gateway's checks of the caller, on its Redis store."""

    def __init__(self, settings: "Settings", store: ShopperStore) -> None:
        self.settings = settings
        self.store = store
        self._secure = URL(settings.gateway_url).scheme == "https"

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    @staticmethod
    def address(request: Request) -> str:
        """The client's address as the gateway's socket sees it (a proxy in front must be the one limited)."""
        return request.remote or "unknown"

    async def _limit(self, spec: str, what: str, *identity: str) -> None:
        retry_after = await self.store.over_limit(spec, *identity)
        if retry_after is not None:
            raise RateLimited(f"too many requests; try again in {max(1, round(retry_after))} s",
                              {"limit": what}, retry_after_s=retry_after)

    async def limit_address(self, request: Request, spec: str | None = None, what: str = "address") -> None:
        await self._limit(spec or self.settings.rate_limit_address, what, what, self.address(request))

    async def limit_signin(self, email: str) -> None:
        await self._limit(self.settings.rate_limit_signin, "signin_email", "signin", email)

    def token_of(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("the Authorization header must be `Bearer <token>`")
            return token.strip()
        return request.cookies.get(COOKIE) or None

    def shopper_of(self, request: Request) -> Shopper:
        """The shopper of the request's token, or 401."""
        token = self.token_of(request)
        if token is None:
            raise Unauthorized("sign in first: POST /session gives a token for the Authorization header")
        try:
            return read_token(self.settings.session_secret, token, self.now())
        except InvalidToken as exc:
            raise Unauthorized("the token is not valid; sign in again", {"reason": str(exc)}) from None

    async def shopper(self, request: Request, user_id: str | None = None) -> Shopper:
        """The authenticated shopper within his limits; ``user_id`` from a path must be his (else 403)."""
        await self.limit_address(request)
        shopper = self.shopper_of(request)
        await self._limit(self.settings.rate_limit_shopper, "shopper", "shopper", shopper.user_id)
        if user_id is not None and user_id != shopper.user_id:
            raise Forbidden("this is another shopper's cart", {"user_id": user_id})
        return shopper

    def issue(self, user_id: str, kind: Kind) -> Session:
        token, expires = issue_token(self.settings.session_secret, user_id, kind, self.now(),
                                     self.settings.session_ttl_s)
        return Session(token, Shopper(user_id, kind, expires))

    def guest(self) -> Session:
        return self.issue(new_user_id(), "guest")

    def page_shopper(self, request: Request) -> tuple[Shopper, dict[str, str]]:
        """The pages' shopper: the cookie's, or a new guest with the cookie to set."""
        try:
            return self.shopper_of(request), {}
        except Unauthorized:
            session = self.guest()
            return session.shopper, {"Set-Cookie": self.cookie(session)}

    def cookie(self, session: Session) -> str:
        morsel = SimpleCookie()
        morsel[COOKIE] = session.token
        c = morsel[COOKIE]
        c["path"] = "/"
        c["httponly"] = True
        c["samesite"] = "Lax"
        c["max-age"] = str(self.settings.session_ttl_s)
        if self._secure:
            c["secure"] = True
        return c.OutputString()


async def owned_order(orders: ServiceCalls, order_id: str, user_id: str) -> dict[str, Any]:
    """The order if it is ``user_id``'s; another shopper's is as unknown as one that does not exist."""
    status, body = await orders.request("GET", f"/orders/{quote(order_id, safe='')}")
    if status == 200 and body.get("user_id") == user_id:
        return dict(body)
    raise UnknownOrder(f"no order {order_id}", {"order_id": order_id})
