"""Personal data is masked in every log line and, unless asked otherwise, in what analysts replay."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from adapters.senders import LogSmsSender
from cli.reader import Record
from cli.replay import Replayed, masked_json, open_writer
from config.logs import PersonalDataFilter, event_logger, install_personal_data_filter, log_event
from config.settings import Settings
from domain.privacy import (mask_address, mask_email, mask_phone, mask_pincode, mask_record, mask_recipient,
                            mask_text, mask_vpa)
from streams.events import Contact, Line, NotificationFailed, NotificationSent, OrderPlaced, Payment

ADDRESS = {"name": "Ravi Kumar", "line": "12 MG Road, Flat 4B", "city": "New Delhi", "state": "Delhi",
           "pincode": "110001", "phone": "+919812345678"}


# --- the masked forms ------------------------------------------------------------------------

@pytest.mark.parametrize(("clear", "masked"), [
    ("ravi@okaxis", "r***@okaxis"),
    ("9812345678@ybl", "9***@ybl"),
    ("r@upi", "r***@upi"),
    ("not-a-vpa", "***"),
    ("", ""),
])
def test_a_vpa_keeps_its_first_character_and_bank_handle(clear: str, masked: str) -> None:
    assert mask_vpa(clear) == masked


def test_an_email_keeps_its_first_character_and_domain() -> None:
    assert mask_email("ravi.kumar@customers.megatron.store") == "r***@customers.megatron.store"
    assert mask_email("@nobody") == "***"


@pytest.mark.parametrize(("clear", "masked"), [
    ("+919812345678", "+91******5678"),
    ("+91 98123 45678", "+91******5678"),
    ("9812345678", "******5678"),
    ("+14155551234", "+1******1234"),
    ("1234", "***"),
    ("", ""),
])
def test_a_phone_keeps_its_country_code_and_last_four_digits(clear: str, masked: str) -> None:
    assert mask_phone(clear) == masked


def test_an_address_keeps_city_state_and_the_pin_codes_district() -> None:
    assert mask_address(ADDRESS) == {"name": "***", "line": "***", "city": "New Delhi", "state": "Delhi",
                                     "pincode": "110***", "phone": "***"}
    assert mask_address({"landmark": "near the temple", "phone": None}) == {"landmark": "***", "phone": None}, \
        "a key added later is personal until said otherwise; nothing given stays nothing"
    assert mask_address(None) is None
    assert mask_pincode(110001) == "110***"


def test_a_recipient_is_masked_as_an_email_or_a_phone() -> None:
    assert mask_recipient("ravi@customers.megatron.store") == "r***@customers.megatron.store"
    assert mask_recipient("+919812345678") == "+91******5678"


# --- free text (log lines) -------------------------------------------------------------------

def test_free_text_masks_every_address_and_phone_in_it() -> None:
    text = ("order 7426d0d6: email to ravi@customers.megatron.store failed: {'ravi@customers.megatron.store': "
            "(550, b'no such user')}; SMS to +919812345678, call 9812345678 or +91 98123 45678; "
            'body {"vpa": "anita@okaxis"}.')
    masked = mask_text(text)
    for clear in ("ravi@", "anita@", "9812345678", "98123 45678"):
        assert clear not in masked
    assert masked.count("r***@customers.megatron.store") == 2 and '"a***@okaxis"' in masked
    assert masked.count("+91******5678") == 2 and "call ******5678" in masked
    assert masked.endswith('"a***@okaxis"}.'), "punctuation after an address is not taken for it"
    assert mask_text(masked) == masked, "masking twice changes nothing"


@pytest.mark.parametrize("line", [
    "order 7426d0d6dc5357f8b6a326f057924230 CONFIRMED",
    "order 1234567890123456789012345678abcd INVENTORY_RESERVED",  # a hex id that starts with digits
    "cart u-1234567890123456: lines ['IPHONE-15', 'GALAXY-S24'] not removed",
    "cart user-ab12: lines ['LAPTOP']",
    "dead letter from order-events[3]@1234567890: 1 validation error for OrderPlaced",
    "payment 9f0c payment ref UPI1234567890AB, retry at 2026-11-26 10:21:40.840473+00:00",
    "delivery positions after seek: order-events[0]=12 order-events[1]=1234567",
    "mirror lag 1732615300.123456 s, 1 2 3 4 5 6 7 8 9 10 11",
    "  File \"agents/orders.py\", line 40, in <module>\n    @app.agent(app.catalog_topic(ORDER_COMMANDS))",
    "topic=order-events partition=1 offset=12 type=OrderPlaced ms=0.84",
])
def test_free_text_leaves_ids_skus_offsets_and_times_readable(line: str) -> None:
    assert mask_text(line) == line


# --- records: what replay and order-show mask ------------------------------------------------

def placed(**extra: Any) -> OrderPlaced:
    return OrderPlaced(order_id="7426d0d6dc5357f8b6a326f057924230", user_id="u-1f2e3d4c5b6a7980",
                       items=(Line(sku="IPHONE-15", name="iPhone 15", unit_price_paise=7990000, quantity=1),),
                       total_paise=7990000, payment=Payment(vpa="ravi@okhdfc"),
                       contact=Contact(email="ravi@example.com", phone="+919812345678"), **extra)


def test_a_record_has_its_personal_fields_masked_wherever_they_are_nested() -> None:
    data = {**placed().model_dump(mode="json"), "shipping_address": ADDRESS}  # the field another change adds
    masked = mask_record(data)
    assert masked["payment"] == {"method": "UPI", "vpa": "r***@okhdfc"}
    assert masked["contact"] == {"email": "r***@example.com", "phone": "+91******5678"}
    assert masked["shipping_address"] == mask_address(ADDRESS)
    kept = {k: v for k, v in masked.items() if k not in ("payment", "contact", "shipping_address")}
    assert kept == {k: v for k, v in data.items() if k not in ("payment", "contact", "shipping_address")}, \
        "ids, user, SKUs, names of products and amounts stay as they are"
    assert data["payment"]["vpa"] == "ravi@okhdfc", "the input is not changed"
    assert mask_record({**data, "shipping_address": None})["shipping_address"] is None


def test_notifications_and_an_operators_view_are_masked_too() -> None:
    sent = mask_record(NotificationSent(order_id="o1", channel="sms", recipient="+919812345678",
                                        status="CONFIRMED").model_dump(mode="json"))
    assert sent["recipient"] == "+91******5678" and sent["status"] == "CONFIRMED"
    failed = mask_record(NotificationFailed(order_id="o1", channel="email", recipient="ravi@example.com",
                                            error="{'ravi@example.com': (550, b'5.1.1 unknown')}").model_dump())
    assert failed["recipient"] == "r***@example.com" and "ravi@" not in failed["error"]
    shown = mask_record({"order": {"order_id": "o1", "note": "customer called from 9812345678",
                                   "history": [{"status": "CREATED"}]},
                         "payment": {"vpa": "ravi@okhdfc", "attempts": [{"number": 1}]},
                         "notifications": ["CONFIRMED:email"]})
    assert shown == {"order": {"order_id": "o1", "note": "customer called from ******5678",
                               "history": [{"status": "CREATED"}]},
                     "payment": {"vpa": "r***@okhdfc", "attempts": [{"number": 1}]},
                     "notifications": ["CONFIRMED:email"]}


def test_replay_writes_masked_json_in_every_format_and_clear_when_unmasked(tmp_path: Path) -> None:
    event = placed()
    record = Record("order-events", 0, 7, 1789367467413, event.order_id.encode(), event.model_dump_json().encode())
    for masked in (True, False):
        item = Replayed(record, event, masked=masked)
        for fmt in ("jsonl", "parquet"):
            with open_writer(fmt, str(tmp_path / f"out.{fmt}"), io.StringIO()) as writer:
                writer.write(item)
        line = json.loads((tmp_path / "out.jsonl").read_text())
        (row,) = pq.read_table(tmp_path / "out.parquet").to_pylist()
        assert json.loads(row["event"]) == line
        vpa, email, phone = line["payment"]["vpa"], line["contact"]["email"], line["contact"]["phone"]
        if masked:
            assert (vpa, email, phone) == ("r***@okhdfc", "r***@example.com", "+91******5678")
            assert "ravi" not in (tmp_path / "out.jsonl").read_text()
        else:
            assert (vpa, email, phone) == ("ravi@okhdfc", "ravi@example.com", "+919812345678")
            assert (tmp_path / "out.jsonl").read_text() == event.model_dump_json() + "\n", "exactly as dumped"
    assert masked_json(event).startswith('{"event_id":'), "the models' compact JSON, masked"


# --- the logging filter ------------------------------------------------------------------------

def emitted(logger: logging.Logger, fmt: str = "%(message)s") -> tuple[logging.Handler, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(fmt))
    logger.addHandler(handler)
    return handler, out


def test_the_filter_masks_message_args_and_traceback_of_any_logger() -> None:
    root = logging.getLogger()
    handler, out = emitted(root)
    try:
        install_personal_data_filter()
        install_personal_data_filter()  # once is enough, twice does no harm
        assert sum(isinstance(f, PersonalDataFilter) for f in handler.filters) == 1
        lib = logging.getLogger("some.library")  # propagates to the root handler
        lib.warning("refused %s for %r", "ravi@example.com", {"phone": "+919812345678"})
        try:
            raise ValueError("bad vpa anita@okaxis")
        except ValueError:
            lib.exception("order %s failed", "7426d0d6dc5357f8b6a326f057924230")
        lib.warning("order %s of user-ab12: IPHONE-15 from order-events[0]@12", "7426d0d6dc5357f8b6a326f057924230")
    finally:
        root.removeHandler(handler)
    text = out.getvalue()
    assert "ravi@" not in text and "9812345678" not in text and "anita@" not in text
    assert "refused r***@example.com for {'phone': '+91******5678'}" in text
    assert "ValueError: bad vpa a***@okaxis" in text, "the traceback is masked too"
    assert "order 7426d0d6dc5357f8b6a326f057924230 of user-ab12: IPHONE-15 from order-events[0]@12" in text


def test_the_event_log_writes_ids_never_the_payload_and_is_filtered() -> None:
    logger = event_logger("privacy-test", "json")
    assert all(any(isinstance(f, PersonalDataFilter) for f in h.filters) for h in logger.handlers)
    handler, out = emitted(logger)
    handler.setFormatter(logger.handlers[0].formatter)
    handler.addFilter(PersonalDataFilter())
    try:
        log_event(logger, "orders", "order-events", 1, 12, placed(), 0.00084)
        logger.info("checkout", extra={"fields": {"order_id": "o1", "user_id": "u-1f2e3d4c5b6a7980",
                                                  "contact": "ravi@example.com"}})
    finally:
        logger.removeHandler(handler)
    handled, checkout = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(handled) == {"ts", "level", "msg", "service", "topic", "partition", "offset", "type", "order_id",
                            "event_id", "ms"}
    assert (handled["type"], handled["order_id"], handled["offset"]) == (
        "OrderPlaced", "7426d0d6dc5357f8b6a326f057924230", 12)
    assert checkout["contact"] == "r***@example.com" and checkout["user_id"] == "u-1f2e3d4c5b6a7980"


async def test_the_development_sms_sender_logs_the_number_masked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="megatron.sms"):
        await LogSmsSender(Settings()).send("+919812345678", "Your order 7426d0d6 is confirmed. Total ₹79,900.00.")
    assert [r.getMessage() for r in caplog.records] == [
        "SMS to +91******5678: Your order 7426d0d6 is confirmed. Total ₹79,900.00."]


async def test_the_upi_simulator_logs_each_decision_with_the_vpa_masked(caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from dev.upi_gateway import make_app

    async with TestClient(TestServer(make_app(0.0))) as client:
        with caplog.at_level(logging.INFO, logger="megatron.upi_gateway"):
            r = await client.post("/v1/payments/p1", json={"order_id": "o1", "vpa": "declined@upi",
                                                            "amount_paise": 100})
            assert (await r.json())["status"] == "DECLINED"
    assert [r.getMessage() for r in caplog.records] == ["payment p1 for order o1 from d***@upi: DECLINED"]


async def test_the_mail_sink_logs_the_recipient_masked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from dev.mail_sink import MailDir

    envelope = SimpleNamespace(rcpt_tos=["ravi@customers.megatron.store"], original_content=b"Subject: hi\r\n\r\nhi",
                               content=b"")
    with caplog.at_level(logging.INFO, logger="megatron.mail_sink"):
        assert (await MailDir(tmp_path).handle_DATA(None, None, envelope)).startswith("250")
    assert [r.getMessage() for r in caplog.records] == ["message for r***@customers.megatron.store stored"]
    assert len(list(tmp_path.glob("*.eml"))) == 1


async def test_a_faust_worker_has_the_filter_on_the_root_handlers_it_configured(tmp_path: Path) -> None:
    """``faust ... worker`` replaces the root handlers (mode's ``setup_logging``) before it starts the
    app; the app's first start puts the filter on the new ones."""
    from mode.utils.logging import setup_logging

    from config.app import create_app
    from config.settings import Settings

    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        app = create_app("payment", Settings(data_dir=tmp_path, app_id_prefix="privacy-test"))
        setup_logging(loglevel="info", logfile=str(tmp_path / "worker.log"))  # what the worker does first
        assert root.handlers and not any(f for h in root.handlers for f in h.filters), "a fresh handler"
        await app.on_first_start()
        assert all(any(isinstance(f, PersonalDataFilter) for f in h.filters) for h in root.handlers)
        logging.getLogger("agents.payment").info("charging %s", "ravi@okhdfc")
        for h in root.handlers:
            h.flush()
        assert "charging r***@okhdfc" in (tmp_path / "worker.log").read_text()
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:] = saved
        root.setLevel(level)
