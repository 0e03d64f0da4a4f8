"""The catalog schema (streams/schema.py) and the topic catalog (streams/topics.py).

A record that does not validate must come back as a DeadLetter (with the error and the
original bytes), never raise inside the agent, which would ack and lose it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from streams.events import (
    Contact, InventoryFailed, Line, OrderConfirmed, OrderPlaced, Payment, PaymentFailed, FailureReason,
)
from streams.schema import SCHEMA, CatalogSchema, DeadLetter
from streams.topics import BY_NAME, CATALOG

ORDER_ID = "order-42"


@dataclass
class FakeMessage:
    """Just the attributes of a Faust message the schema reads."""

    topic: str
    value: bytes | None
    key: bytes | None = ORDER_ID.encode()
    partition: int = 3
    offset: int = 17


def placed() -> OrderPlaced:
    return OrderPlaced(
        order_id=ORDER_ID, user_id="ravi",
        items=(Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1),),
        total_paise=79_900_00, payment=Payment(vpa="ravi@okhdfc"), contact=Contact(email="ravi@example.com"))


def load(topic: str, value: bytes | None, key: bytes | None = ORDER_ID.encode()) -> Any:
    return SCHEMA.loads_value(None, FakeMessage(topic=topic, value=value, key=key))  # type: ignore[arg-type]


def dump(value: Any) -> Any:
    data, headers = SCHEMA.dumps_value(None, value, headers={"h": "1"})  # type: ignore[arg-type]
    assert headers == {"h": "1"}
    return data


def test_valid_order_placed_validates_to_the_model() -> None:
    """A well-formed record on its catalog topic comes out as the typed event, field for field."""
    event = placed()
    out = load("order-events", event.model_dump_json().encode())
    assert isinstance(out, OrderPlaced)
    assert out == event


def test_valid_event_picks_the_type_by_discriminator() -> None:
    """The topic's union chooses the model by ``type``."""
    out = load("inventory-events", json.dumps(
        {"type": "InventoryFailed", "order_id": ORDER_ID, "short_skus": ["LAPTOP"]}).encode())
    assert isinstance(out, InventoryFailed) and out.short_skus == ("LAPTOP",)


def assert_dead_letter(out: Any, topic: str, raw: bytes | None, error_part: str) -> DeadLetter:
    assert isinstance(out, DeadLetter), out
    assert out.topic == topic and out.partition == 3 and out.offset == 17
    assert out.key == ORDER_ID and out.order_id == ORDER_ID
    assert out.value == (raw or b"").decode(errors="replace")
    assert error_part in out.error
    assert out.failed_at
    return out


def test_garbage_bytes_become_a_dead_letter() -> None:
    """Bytes that are not JSON (not even UTF-8) are parked with the original bytes."""
    raw = b"\xff\xfe not json {"
    out = assert_dead_letter(load("order-events", raw), "order-events", raw, "")
    assert out.error  # says why
    assert "\ufffd" in out.value  # decoded leniently, not dropped


def test_truncated_json_becomes_a_dead_letter() -> None:
    """A half-written record is parked, not raised."""
    raw = placed().model_dump_json().encode()[:40]
    assert_dead_letter(load("order-events", raw), "order-events", raw, "")


def test_wrong_type_for_the_topic_becomes_a_dead_letter() -> None:
    """A valid event on the wrong topic (PaymentFailed on order-events) does not validate there."""
    raw = PaymentFailed(order_id=ORDER_ID, payment_id="p", amount_paise=1,
                        reason=FailureReason.PAYMENT_DECLINED).model_dump_json().encode()
    assert_dead_letter(load("order-events", raw), "order-events", raw, "PaymentFailed")


def test_wrong_field_type_becomes_a_dead_letter() -> None:
    """A field of the wrong type (total_paise as text) is a validation error, parked."""
    data = json.loads(placed().model_dump_json())
    data["total_paise"] = "a lot"
    raw = json.dumps(data).encode()
    assert_dead_letter(load("order-events", raw), "order-events", raw, "total_paise")


def test_unknown_field_becomes_a_dead_letter() -> None:
    """Events forbid unknown fields; a producer adding one without a schema_version bump is caught."""
    data = json.loads(placed().model_dump_json())
    data["surprise"] = 1
    raw = json.dumps(data).encode()
    assert_dead_letter(load("order-events", raw), "order-events", raw, "surprise")


def test_unknown_topic_becomes_a_dead_letter() -> None:
    """A topic not in the catalog cannot be validated; it is parked naming the topic."""
    raw = placed().model_dump_json().encode()
    assert_dead_letter(load("no-such-topic", raw), "no-such-topic", raw, "no-such-topic")


def test_tombstone_becomes_a_dead_letter() -> None:
    """A null value (tombstone) is not an event."""
    assert_dead_letter(load("order-events", None), "order-events", None, "")


def test_dead_letter_without_key() -> None:
    """A keyless record still dead-letters; order_id is empty rather than an error."""
    out = load("order-events", b"nope", key=None)
    assert isinstance(out, DeadLetter) and out.key is None and out.order_id == ""


def test_deeply_nested_json_becomes_a_dead_letter() -> None:
    """Any undecodable record, however odd, must be parked rather than raised."""
    raw = b"[" * 100_000
    assert isinstance(load("order-events", raw), DeadLetter)


def test_dumps_value_round_trips_a_model() -> None:
    """What the schema writes, it reads back as the same event."""
    event = OrderConfirmed(order_id=ORDER_ID, user_id="ravi", items=placed().items, total_paise=79_900_00)
    data = dump(event)
    assert isinstance(data, bytes)
    assert json.loads(data)["type"] == "OrderConfirmed"
    assert load("order-events", data) == event


def test_dumps_value_passes_non_models_through() -> None:
    """Raw bytes (e.g. a DLQ redrive) go out untouched."""
    assert dump(b"raw") == b"raw"


def test_keys_are_raw_utf8_both_ways() -> None:
    """Keys are plain UTF-8 bytes, not JSON, so table_route and partitioning agree."""
    schema = CatalogSchema()
    encoded, _ = schema.dumps_key(None, ORDER_ID, headers=None)  # type: ignore[arg-type]
    assert encoded == ORDER_ID.encode()
    assert schema.loads_key(None, FakeMessage(topic="order-events", value=b"", key=encoded)) == ORDER_ID  # type: ignore[arg-type]


# --- the topic catalog --------------------------------------------------------------------------------------

DESIGN_CATALOG: dict[str, set[str]] = {
    "order-events": {"OrderPlaced", "OrderConfirmed", "OrderFailed"},
    "inventory-events": {"InventoryReserved", "InventoryFailed", "InventoryReleased"},
    "payment-events": {"PaymentConfirmed", "PaymentFailed"},
    "notification-events": {"NotificationSent", "NotificationFailed"},
}


@pytest.mark.parametrize("topic", sorted(DESIGN_CATALOG))
def test_public_topic_carries_exactly_the_design_event_types(topic: str) -> None:
    """DESIGN.md's topic catalog is a public contract analysts replay against."""
    spec = BY_NAME[topic]
    assert spec.public
    assert spec.key == "order_id"
    assert set(spec.event_types) == DESIGN_CATALOG[topic]


def test_public_topics_are_exactly_the_design_catalog() -> None:
    """No extra public topic, none missing; internal ones stay internal."""
    assert {t.name for t in CATALOG if t.public} == set(DESIGN_CATALOG)


def test_topic_names_are_unique() -> None:
    """BY_NAME would silently drop a duplicate."""
    assert len(BY_NAME) == len(CATALOG)


def test_every_command_and_event_type_is_carried_by_exactly_one_topic() -> None:
    """A type no topic declares is dead-lettered by its reader (GatewayAnswered once was, on
    payment-commands, which declared only RetryPayment): each message class with a ``type`` is
    in the catalog of exactly one topic."""
    import inspect

    import streams.commands as commands
    import streams.events as events
    from streams.events import Message

    declared: dict[str, list[str]] = {}
    for spec in CATALOG:
        for type_name in spec.event_types:
            declared.setdefault(type_name, []).append(spec.name)
    classes = {cls.model_fields["type"].default for module in (commands, events)
               for _, cls in inspect.getmembers(module, inspect.isclass)
               if issubclass(cls, Message) and "type" in cls.model_fields
               and isinstance(cls.model_fields["type"].default, str)}
    assert classes, "no message classes found"
    missing = sorted(t for t in classes if t not in declared)
    assert not missing, f"types no topic carries: {missing}"
    assert {t: names for t, names in declared.items() if len(names) > 1} == {}
