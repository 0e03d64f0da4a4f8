"""Who the shopper is: signed tokens, server-chosen ids, sign-in codes, idempotency fingerprints.

Pure rules (no I/O): the gateway's views and its Redis store carry them out. Tokens
are JWTs signed with HS256 by PyJWT (a kept library, not hand-rolled crypto); the
claims are the shopper (``sub``), how he signed in (``kind``) and an expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EMAIL_PATTERN", "Shopper", "InvalidToken", "issue_token", "read_token", "new_user_id",
           "new_order_id", "new_signin_code", "code_digest", "codes_match", "normalize_email",
           "fingerprint", "signin_message", "GuestBody", "SignInBody", "CodeBody", "SignInCode"]

ALGORITHM = "HS256"
ISSUER = "megatron-gateway"
#: a mailbox our SMTP path can reach: ASCII (no SMTPUTF8), a dotted domain of DNS labels
EMAIL_PATTERN = (r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
                 r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
Kind = Literal["guest", "email"]


class InvalidToken(ValueError):
    """A token that is missing, malformed, forged, tampered with or expired."""


@dataclass(frozen=True)
class Shopper:
    """The shopper a token names."""

    user_id: str
    kind: Kind
    expires_at: datetime


def issue_token(secret: str, user_id: str, kind: Kind, now: datetime, ttl_s: int) -> tuple[str, datetime]:
    """A signed token for ``user_id`` and when it expires (whole seconds, UTC)."""
    expires = (now + timedelta(seconds=ttl_s)).replace(microsecond=0)
    claims = {"sub": user_id, "kind": kind, "iss": ISSUER, "iat": int(now.timestamp()), "exp": int(expires.timestamp()),
              "jti": secrets.token_hex(8)}  # each token its own, also two issued in one second
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def read_token(secret: str, token: str, now: datetime) -> Shopper:
    """The shopper of a token this gateway signed and that has not expired, else :class:`InvalidToken`."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "iss"], "verify_exp": False})
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
    if expires <= now:  # checked against the caller's clock, so tests and sweeps agree on "now"
        raise InvalidToken("the token has expired")
    if not isinstance(claims["sub"], str) or claims.get("kind") not in ("guest", "email"):
        raise InvalidToken("the token names no shopper")
    return Shopper(claims["sub"], claims["kind"], expires)


def new_user_id() -> str:
    """A shopper id the server chooses: random, so it says nothing about the person."""
    return f"u-{secrets.token_hex(8)}"


def new_order_id() -> str:
    """A random order id (128 bits): not derivable from the shopper or the client's key."""
    return secrets.token_hex(16)


def new_signin_code() -> str:
    """Six digits, drawn from the OS's secure random source."""
    return f"{secrets.randbelow(1_000_000):06d}"


def code_digest(secret: str, email: str, code: str) -> str:
    """What is stored of a code: an HMAC, so a read of Redis does not give the code away."""
    return hmac.new(secret.encode(), f"{email}\n{code}".encode(), hashlib.sha256).hexdigest()


def codes_match(stored: str, secret: str, email: str, code: str) -> bool:
    return hmac.compare_digest(stored, code_digest(secret, email, code))


def normalize_email(email: str) -> str:
    """One shopper per mailbox: case and surrounding blanks do not make another one."""
    return email.strip().lower()


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request an Idempotency-Key was first used for, as a digest of its canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


class GuestBody(BaseModel):
    """``POST /session`` with ``{}``: a new guest shopper."""

    model_config = ConfigDict(extra="forbid")


class SignInBody(BaseModel):
    """``POST /session`` with an email and the code mailed to it."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    code: str = Field(pattern=r"^[0-9]{6}$")


class CodeBody(BaseModel):
    """``POST /session/code``: where to mail a sign-in code."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)


class SignInCode(BaseModel):
    """What the gateway asks the notification service to mail (``POST /signin-codes``, internal)."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    code: str = Field(pattern=r"^[0-9]{6}$")
    valid_minutes: int = Field(ge=1)


def signin_message(command: SignInCode) -> tuple[str, str]:
    """Subject and text of the sign-in email."""
    subject = f"Your Megatron Store sign-in code: {command.code}"
    body = (f"Your sign-in code is {command.code}.\n\n"
            f"It works once, for {command.valid_minutes} minutes. If you did not ask to sign in, ignore this email:"
            " nobody can sign in without the code.\n\nMegatron Store")
    return subject, body
