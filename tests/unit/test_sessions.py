"""Tokens, ids, codes and fingerprints (domain/sessions.py) and the production guard on the secret."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt
import pytest
from pydantic import ValidationError

from config.settings import DEV_SESSION_SECRET, Settings
from domain.sessions import (InvalidToken, code_digest, codes_match, fingerprint, issue_token, new_order_id,
                             new_signin_code, new_user_id, normalize_email, read_token)

SECRET = "s" * 40
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)


def test_a_token_names_its_shopper_until_it_expires() -> None:
    token, expires = issue_token(SECRET, "u-1", "guest", NOW, 3600)
    shopper = read_token(SECRET, token, NOW + timedelta(minutes=59))
    assert (shopper.user_id, shopper.kind, shopper.expires_at) == ("u-1", "guest", expires)
    assert expires == NOW + timedelta(hours=1)
    with pytest.raises(InvalidToken):
        read_token(SECRET, token, NOW + timedelta(hours=1))


@pytest.mark.parametrize("make", [
    lambda: issue_token("x" * 40, "u-1", "guest", NOW, 3600)[0],  # another key
    lambda: issue_token(SECRET, "u-1", "guest", NOW, 3600)[0][:-2] + "AA",  # signature changed
    lambda: jwt.encode({"sub": "u-1", "kind": "guest", "iss": "megatron-gateway", "iat": 1,
                        "exp": 4_000_000_000}, None, algorithm="none"),  # unsigned
    lambda: jwt.encode({"sub": "u-1", "kind": "guest", "iat": 1, "exp": 4_000_000_000}, SECRET,
                       algorithm="HS256"),  # no issuer
    lambda: jwt.encode({"sub": "u-1", "kind": "admin", "iss": "megatron-gateway", "iat": 1,
                        "exp": 4_000_000_000}, SECRET, algorithm="HS256"),  # unknown kind
    lambda: "not.a.token",
    lambda: "",
])
def test_tokens_not_signed_here_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidToken):
        read_token(SECRET, make(), NOW)


def test_ids_are_random_and_safe_in_paths() -> None:
    users = {new_user_id() for _ in range(1000)}
    orders = {new_order_id() for _ in range(1000)}
    assert len(users) == 1000 and len(orders) == 1000
    assert all(o.isalnum() and len(o) == 32 for o in orders)


def test_codes_are_six_digits_and_stored_only_as_digests() -> None:
    code = new_signin_code()
    assert len(code) == 6 and code.isdigit()
    digest = code_digest(SECRET, "ravi@example.in", code)
    assert code not in digest
    assert codes_match(digest, SECRET, "ravi@example.in", code)
    assert not codes_match(digest, SECRET, "priya@example.in", code)
    assert not codes_match(digest, "y" * 40, "ravi@example.in", code)


def test_one_mailbox_is_one_shopper() -> None:
    assert normalize_email("  Ravi@Example.IN ") == normalize_email("ravi@example.in")


def test_fingerprint_is_of_the_request_not_its_key_order() -> None:
    a = fingerprint("POST", "/checkout", {"payment": {"vpa": "a@upi", "method": "UPI"}, "x": 1})
    b = fingerprint("POST", "/checkout", {"x": 1, "payment": {"method": "UPI", "vpa": "a@upi"}})
    assert a == b
    assert a != fingerprint("POST", "/checkout", {"x": 2, "payment": {"method": "UPI", "vpa": "a@upi"}})


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="SESSION_SECRET"):
        Settings(environment="production")
    assert Settings(environment="production", session_secret="p" * 48).session_secret == "p" * 48
    assert Settings().session_secret == DEV_SESSION_SECRET  # development keeps working out of the box
    with pytest.raises(ValidationError):
        Settings(session_secret="short")
