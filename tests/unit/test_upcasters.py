"""Every schema_version ever written is still read: recorded older events come out in today's shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cli.reader import Record
from cli.replay import Replayed, decode, open_writer
from streams.events import Address, Contact, NotificationSent, OrderPlaced
from streams.schema import SCHEMA, DeadLetter
from streams.topics import BY_NAME
from streams.upcasters import UPCASTERS, upcast, upcaster
from tests.unit.test_schema import FakeMessage, placed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def recorded(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_recorded_v0_order_placed_lacks_what_v1_requires() -> None:
    """The fixture really is old: today's model alone refuses it."""
    raw = json.loads(recorded("order_placed_v0.json"))
    assert "schema_version" not in raw and "contact" not in raw
    with pytest.raises(ValueError):
        OrderPlaced.model_validate(raw)


def test_v0_order_placed_is_upcast_to_today_with_the_default_contact_and_no_address() -> None:
    """v0 -> v1 (the default contact) -> v2 (no address known)."""
    raw = json.loads(recorded("order_placed_v0.json"))
    event = decode(BY_NAME["order-events"], recorded("order_placed_v0.json"))
    assert isinstance(event, OrderPlaced)
    assert event.schema_version == 2
    assert event.contact == Contact(email="ravi@customers.megatron.store", phone=None)
    assert event.shipping_address is None
    assert (event.event_id, event.order_id, event.total_paise) == (raw["event_id"], raw["order_id"], raw["total_paise"])
    assert event.occurred_at.isoformat() == "2026-09-14T06:31:07.412906+00:00"


def test_recorded_v1_order_placed_has_no_shipping_address() -> None:
    """The fixture really is v1: a contact, but no address."""
    raw = json.loads(recorded("order_placed_v1.json"))
    assert raw["schema_version"] == 1 and "contact" in raw and "shipping_address" not in raw


def test_v1_order_placed_is_upcast_to_v2_with_a_null_address() -> None:
    """An order placed before the checkout carried an address: the address is unknown, not guessed."""
    raw = json.loads(recorded("order_placed_v1.json"))
    up = upcast(raw)
    assert up == {**raw, "shipping_address": None, "schema_version": 2}
    event = decode(BY_NAME["order-events"], recorded("order_placed_v1.json"))
    assert isinstance(event, OrderPlaced)
    assert (event.schema_version, event.shipping_address) == (2, None)
    assert event.contact == Contact(email="ravi@example.com", phone="+919812345678"), "v1's own fields are kept"
    assert (event.event_id, event.order_id, event.user_id) == (raw["event_id"], raw["order_id"], raw["user_id"])


def test_a_v2_order_placed_keeps_its_address() -> None:
    address = Address(name="Ravi Kumar", line="12 MG Road, Karol Bagh", city="New Delhi", state="Delhi",
                      pincode="110005", phone="+919812345678")
    event = placed().model_copy(update={"shipping_address": address})
    assert event.schema_version == 2
    raw = json.loads(event.model_dump_json())
    assert raw["shipping_address"] == {"name": "Ravi Kumar", "line": "12 MG Road, Karol Bagh", "city": "New Delhi",
                                       "state": "Delhi", "pincode": "110005", "phone": "+919812345678"}
    assert upcast(raw) == raw
    assert decode(BY_NAME["order-events"], event.model_dump_json().encode()) == event


def test_v0_notification_was_an_email() -> None:
    event = decode(BY_NAME["notification-events"], recorded("notification_sent_v0.json"))
    assert isinstance(event, NotificationSent)
    assert (event.channel, event.schema_version, event.recipient) == ("email", 1, "ravi@customers.megatron.store")


def test_the_services_read_the_old_record_too() -> None:
    """The one Faust schema calls the same upcasters: an agent gets the event, not a dead letter."""
    for name in ("order_placed_v0.json", "order_placed_v1.json"):
        out = SCHEMA.loads_value(None, FakeMessage(topic="order-events", value=recorded(name)))  # type: ignore[arg-type]
        assert isinstance(out, OrderPlaced) and out.schema_version == 2 and out.shipping_address is None, name
    assert out.contact.email == "ravi@example.com"


def test_todays_events_pass_unchanged() -> None:
    event = placed()
    raw = json.loads(event.model_dump_json())
    assert upcast(raw) == raw
    assert decode(BY_NAME["order-events"], event.model_dump_json().encode()) == event


def test_a_v0_record_that_already_has_the_field_keeps_it() -> None:
    raw = json.loads(placed().model_dump_json())
    del raw["schema_version"]
    assert upcast(raw)["contact"] == {"email": "ravi@example.com", "phone": None}


def test_what_is_not_an_event_is_left_for_validation_to_refuse() -> None:
    for junk in ([1, 2], "text", 7, None, {"type": "OrderPlaced", "schema_version": "zero"}):
        assert upcast(junk) == junk
    out = SCHEMA.loads_value(None, FakeMessage(topic="order-events", value=b'{"type": "OrderPlaced"}'))  # type: ignore[arg-type]
    assert isinstance(out, DeadLetter)


def test_steps_chain_version_by_version() -> None:
    """A v0 record passes every registered step in turn, each seeing the version before it."""
    seen: list[int] = []

    def step(version: int) -> Any:
        def fun(raw: dict[str, Any]) -> dict[str, Any]:
            seen.append(raw["schema_version"] if "schema_version" in raw else 0)
            return {**raw, f"v{version + 1}": True}
        return fun

    try:
        for v in (0, 1, 2):
            upcaster("ChainTest", v)(step(v))
        out = upcast({"type": "ChainTest"})
        assert seen == [0, 1, 2]
        assert out == {"type": "ChainTest", "v1": True, "v2": True, "v3": True, "schema_version": 3}
        with pytest.raises(ValueError):
            upcaster("ChainTest", 1)(step(1))  # one step per version
    finally:
        for v in (0, 1, 2):
            UPCASTERS.pop(("ChainTest", v), None)


def test_replaying_the_recorded_event_writes_it_in_todays_shape(tmp_path: Path) -> None:
    """What ``megatron replay`` writes for the old record: JSON Lines and Parquet, both today's v2."""
    record = Record("order-events", 2, 41, 1789367467413, b"0b9d7e3c6a5f4e2d8c1b0a9f8e7d6c5b",
                    recorded("order_placed_v0.json"))
    item = Replayed(record, decode(BY_NAME["order-events"], record.value or b""))
    for fmt in ("jsonl", "parquet"):
        with open_writer(fmt, str(tmp_path / f"out.{fmt}"), None) as writer:  # type: ignore[arg-type]
            writer.write(item)
    line = json.loads((tmp_path / "out.jsonl").read_text())
    assert line["schema_version"] == 2 and line["contact"]["email"] == "ravi@customers.megatron.store"
    assert line["shipping_address"] is None
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["topic"], row["partition"], row["offset"], row["type"], row["schema_version"]) == \
        ("order-events", 2, 41, "OrderPlaced", 2)
    assert json.loads(row["event"]) == line
    assert row["occurred_at"].isoformat() == "2026-09-14T06:31:07.412906+00:00"
    assert not list(tmp_path.glob(".*.part")), "no temporary file is left behind"
