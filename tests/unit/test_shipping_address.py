"""The delivery address end to end without a broker: checked at checkout, kept by the order,
announced in OrderPlaced, mirrored, answered by GET /orders/{id}, shown and mailed."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain.address import INDIAN_STATES, address_lines, state_named
from domain.checkout import CheckoutBody, ShippingAddress, place_order
from domain.notifications import compose
from domain.orders import Order, OrderStatus, decide, evolve
from streams.commands import NotifyOrder
from streams.events import Address, FailureReason, Line, OrderPlaced
from tables.orders import SHIP_COLUMNS, order_rows
from web.orders import order_body
from web.pages import confirmation_page

#: the shape others rely on (DESIGN.md POST /checkout, GET /orders/{order_id})
RAVI = {"name": "Ravi Kumar", "line": "12 MG Road, Karol Bagh", "city": "New Delhi", "state": "Delhi",
        "pincode": "110005", "phone": "+919812345678"}
LINES = [Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=79_900_00, quantity=1)]
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
CHECKOUT_HTML = Path(__file__).resolve().parents[2] / "web" / "templates" / "checkout.html"


def address(**over: Any) -> dict[str, Any]:
    return {**RAVI, **over}


def body(shipping_address: Any = RAVI) -> dict[str, Any]:
    return {"payment": {"method": "UPI", "vpa": "ravi@okhdfc"}, "shipping_address": shipping_address}


def placed_order(shipping_address: dict[str, Any] | None = RAVI) -> Order:
    command = place_order("o1", "ravi", CheckoutBody.model_validate(body()), LINES)
    command = command.model_copy(update={
        "shipping_address": Address(**shipping_address) if shipping_address else None})
    order = evolve(None, command, NOW)
    assert order is not None
    return order


# --- the states ---------------------------------------------------------------------------------------------

def test_the_states_are_india_s_28_states_and_8_union_territories() -> None:
    assert len(INDIAN_STATES) == len(set(INDIAN_STATES)) == 36
    assert {"Delhi", "Maharashtra", "Tamil Nadu", "Ladakh", "Dadra and Nagar Haveli and Daman and Diu"} <= \
        set(INDIAN_STATES)


def test_a_state_is_found_whatever_its_case_and_spacing_but_not_misspelt() -> None:
    assert state_named("  tamil   NADU ") == "Tamil Nadu"
    assert state_named("Dilli") is None and state_named("") is None and state_named("Delhi NCR") is None


def test_the_checkout_page_offers_exactly_the_states() -> None:
    """The page's <select> is written out in the template; it must list the constant, in its order."""
    html = CHECKOUT_HTML.read_text(encoding="utf-8")
    select = re.search(r'<select id="state" name="state"[^>]*\brequired\b[^>]*>(.*?)</select>', html, re.S)
    assert select, "a required <select> named state"
    # an option without value= submits its text
    values = [attr.split('"')[1] if attr else text.strip()
              for attr, text in re.findall(r'<option( value="[^"]*")?>([^<]*)</option>', select[1])]
    assert values[0] == "", "the first option is the empty 'choose' one, so required means chosen"
    assert tuple(values[1:]) == INDIAN_STATES


# --- ShippingAddress ----------------------------------------------------------------------------------------

def test_a_good_address_validates_stripped_and_with_the_country_code() -> None:
    parsed = ShippingAddress.model_validate(address(
        name="  Ravi  Kumar ", line="12 MG Road,\n  Karol Bagh ", city=" New Delhi", state="delhi", phone="9812345678"))
    assert parsed.model_dump() == RAVI
    assert ShippingAddress.model_validate(RAVI).model_dump() == RAVI, "the normal form is kept as it is"


def test_a_name_in_any_script_is_a_name() -> None:
    assert ShippingAddress.model_validate(address(name="रवि कुमार", city="नई दिल्ली")).name == "रवि कुमार"


@pytest.mark.parametrize("pincode", ["011005", "11005", "1100055", "11OO05", "110 005", "", 110005])
def test_a_bad_pin_code_is_refused(pincode: Any) -> None:
    with pytest.raises(ValidationError) as err:
        ShippingAddress.model_validate(address(pincode=pincode))
    assert [e["loc"] for e in err.value.errors()] == [("pincode",)]


@pytest.mark.parametrize("phone", ["5812345678", "981234567", "98123456789", "+9198123456", "+449812345678",
                                   "919812345678", "98123 45678", "+91-9812345678", ""])
def test_a_bad_mobile_number_is_refused(phone: str) -> None:
    with pytest.raises(ValidationError) as err:
        ShippingAddress.model_validate(address(phone=phone))
    assert [e["loc"] for e in err.value.errors()] == [("phone",)]


@pytest.mark.parametrize("state", ["Dilli", "New Delhi", "Bombay", "Orissa", "DL", "", "   "])
def test_an_unknown_state_is_refused(state: str) -> None:
    with pytest.raises(ValidationError) as err:
        ShippingAddress.model_validate(address(state=state))
    assert [e["loc"] for e in err.value.errors()] == [("state",)]
    assert "state or union territory" in err.value.errors()[0]["msg"]


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        ShippingAddress.model_validate(address(landmark="near the temple"))
    assert err.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("field", sorted(RAVI))
def test_every_field_is_required(field: str) -> None:
    given = {k: v for k, v in RAVI.items() if k != field}
    with pytest.raises(ValidationError) as err:
        ShippingAddress.model_validate(given)
    assert [(e["loc"], e["type"]) for e in err.value.errors()] == [((field,), "missing")]


@pytest.mark.parametrize(("field", "longest"), [("name", 100), ("line", 300), ("city", 60)])
def test_text_fields_have_their_length(field: str, longest: int) -> None:
    assert len(getattr(ShippingAddress.model_validate(address(**{field: "a" * longest})), field)) == longest
    for bad in ("a" * (longest + 1), "", "  \n "):
        with pytest.raises(ValidationError):
            ShippingAddress.model_validate(address(**{field: bad}))


def test_control_characters_are_refused() -> None:
    with pytest.raises(ValidationError):
        ShippingAddress.model_validate(address(line="12 MG Road\x00"))


def test_the_checkout_needs_an_address() -> None:
    with pytest.raises(ValidationError) as err:
        CheckoutBody.model_validate({"payment": {"method": "UPI", "vpa": "ravi@okhdfc"}})
    assert [(e["loc"], e["type"]) for e in err.value.errors()] == [(("shipping_address",), "missing")]
    with pytest.raises(ValidationError) as err:
        CheckoutBody.model_validate(body(address(phone="12345")))
    assert err.value.errors()[0]["loc"] == ("shipping_address", "phone")
    with pytest.raises(ValidationError):
        CheckoutBody.model_validate(body(None))


# --- the command, the order, the event ----------------------------------------------------------------------

def test_place_order_carries_the_checked_address_as_the_order_s_model() -> None:
    cmd = place_order("o1", "ravi", CheckoutBody.model_validate(body(address(phone="9812345678", state="DELHI"))),
                      LINES)
    assert type(cmd.shipping_address) is Address and cmd.shipping_address.model_dump() == RAVI
    assert cmd.model_dump(mode="json")["shipping_address"] == RAVI


def test_the_order_keeps_its_address_and_announces_it() -> None:
    order = placed_order()
    assert order.shipping_address == Address(**RAVI)
    (event,) = decide(None, order)
    assert isinstance(event, OrderPlaced) and event.shipping_address == Address(**RAVI)
    assert event.schema_version == 2
    later = order.moved_to(OrderStatus.FAILED, NOW, FailureReason.PAYMENT_DECLINED)
    assert later.shipping_address == order.shipping_address


def test_an_order_stored_before_the_address_reads_without_one() -> None:
    """The orders table's changelog holds orders written before the field existed."""
    old = placed_order().model_dump(mode="json")
    del old["shipping_address"]
    assert Order.model_validate(old).shipping_address is None


# --- the mirror row and the API ------------------------------------------------------------------------------

def test_the_orders_row_carries_the_address_one_column_per_field() -> None:
    (row,) = [r for r in order_rows(placed_order()) if r.table == "orders"]
    assert {c: row.values[c] for c in SHIP_COLUMNS} == {
        "ship_name": "Ravi Kumar", "ship_line": "12 MG Road, Karol Bagh", "ship_city": "New Delhi",
        "ship_state": "Delhi", "ship_pincode": "110005", "ship_phone": "+919812345678"}
    assert list(row.values)[-1] == "version"


def test_an_order_without_an_address_has_null_columns() -> None:
    (row,) = [r for r in order_rows(placed_order(None)) if r.table == "orders"]
    assert all(row.values[c] is None for c in SHIP_COLUMNS)
    assert set(row.values) == set(next(r for r in order_rows(placed_order()) if r.table == "orders").values), \
        "the same columns either way, so the mirror writes them in one batch"


def test_the_migration_adds_every_ship_column() -> None:
    sql = (Path(__file__).resolve().parents[2] / "tables" / "migrations" / "orders_db"
           / "0002_orders_shipping_address.sql").read_text()
    assert set(re.findall(r"ADD COLUMN (\w+)", sql)) == set(SHIP_COLUMNS)


def test_the_order_s_json_has_the_address_or_null() -> None:
    assert order_body(placed_order())["shipping_address"] == RAVI
    assert order_body(placed_order(None))["shipping_address"] is None


# --- the confirmation page and the email --------------------------------------------------------------------

def page_order(shipping_address: dict[str, Any] | None) -> dict[str, Any]:
    return {**order_body(placed_order(shipping_address)), "status": "CONFIRMED"}


def test_the_confirmation_page_says_where_it_goes_escaped() -> None:
    html = confirmation_page(page_order(address(name="Ravi <b>Kumar</b>", line="12 MG Road & Sons")))
    section = re.search(r'<section class="panel delivery"[^>]*>(.*?)</section>', html, re.S)
    assert section and "hidden" not in section[0].split(">")[0]
    assert "Delivering to" in section[1]
    assert "Ravi &lt;b&gt;Kumar&lt;/b&gt;" in section[1] and "<b>" not in section[1]
    assert "12 MG Road &amp; Sons" in section[1] and "New Delhi, Delhi 110005" in section[1]


def test_the_confirmation_page_of_an_order_without_an_address_hides_the_panel() -> None:
    html = confirmation_page(page_order(None))
    assert re.search(r'<section class="panel delivery"[^>]* hidden>', html)


def notify(status: str = "CONFIRMED", shipping_address: dict[str, Any] | None = RAVI) -> NotifyOrder:
    return NotifyOrder(order_id="0b9d7e3c6a5f4e2d", user_id="ravi", status=status,  # type: ignore[arg-type]
                       reason=FailureReason.PAYMENT_DECLINED if status == "FAILED" else None, total_paise=79_900_00,
                       items=tuple(LINES), contact={"email": "ravi@example.com", "phone": "+919812345678"},
                       shipping_address=Address(**shipping_address) if shipping_address else None)


def test_a_confirmed_order_s_email_says_where_it_is_delivered() -> None:
    _, body_text, sms = compose(notify())
    assert ("Delivering to:\n  Ravi Kumar\n  12 MG Road, Karol Bagh\n  New Delhi, Delhi 110005\n"
            "  Phone +919812345678\n") in body_text
    assert body_text.endswith("Megatron Store")
    assert "Karol Bagh" not in sms, "the SMS stays short"


def test_a_failed_order_s_email_and_an_old_order_s_email_name_no_address() -> None:
    for command in (notify("FAILED"), notify(shipping_address=None)):
        _, body_text, _ = compose(command)
        assert "Delivering to" not in body_text and "Karol Bagh" not in body_text
        assert body_text.endswith("\n\nMegatron Store")


def test_address_lines_are_what_a_parcel_label_says() -> None:
    assert address_lines(RAVI) == ["Ravi Kumar", "12 MG Road, Karol Bagh", "New Delhi, Delhi 110005",
                                   "Phone +919812345678"]


async def test_the_order_service_asks_to_notify_with_the_address(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Any) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    import agents.orders as orders

    order = placed_order().moved_to(OrderStatus.CONFIRMED, NOW)
    sent = orders.notification(order)  # what the relay posts, on every try
    path = orders.relay._post.args[0]
    assert path == "/notifications" and sent["shipping_address"] == RAVI
    assert NotifyOrder.model_validate(sent).shipping_address == Address(**RAVI)
