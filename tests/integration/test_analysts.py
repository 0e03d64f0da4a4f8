"""The analysts' commands against the running platform, through the real ``megatron`` console script.

One mixed workload, in three phases around two instants ``t1`` and ``t2``: an order before,
four inside (two confirmed, one declined, one out of stock) and one after. ``replay`` must
return exactly the events whose ``occurred_at`` falls in ``[t1, t2)`` (the truth is a plain
read of every topic), ``report`` must count the four, and ``mirror-rebuild`` must find the
mirror equal to what the log rebuilds. None of them may leave a consumer group behind.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pyarrow.parquet as pq
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from config.kafka import bootstrap_servers, committed_offsets, producer
from config.settings import Settings
from domain.catalog import BY_SKU
from streams.topics import CATALOG
from tables.schema import drop_databases
from tests.helpers import Megatron, Shopper, eventually, query, read_topic
from tests.integration.test_failures import set_stock, settled_stock

pytestmark = pytest.mark.integration

PUBLIC = [t.name for t in CATALOG if t.public]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OUT_OF_STOCK_SKU = "GALAXY-S24"


@dataclass
class Workload:
    t1: datetime
    t2: datetime
    before: str  # order ids
    confirmed: list[str]
    declined: str
    out_of_stock: str
    after: str
    totals: dict[str, int]  # order id -> total_paise

    @property
    def inside(self) -> list[str]:
        return [*self.confirmed, self.declined, self.out_of_stock]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def parse_at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def buy(http: aiohttp.ClientSession, settings: Settings, sku: str, vpa: str, totals: dict[str, int]) -> str:
    """One shopper's checkout of one ``sku``, to its final status; returns the order id."""
    shopper = Shopper(http, settings)
    status, body = await shopper.set_line(sku, 1)
    assert status == 200, body
    status, placed = await shopper.checkout(vpa)
    assert status == 202, placed
    order = await shopper.final_order(placed["order_id"])
    totals[order["order_id"]] = order["total_paise"]
    return str(order["order_id"])


async def after_a_tick() -> datetime:
    """Now, with a millisecond of room on both sides, so no event shares the instant."""
    await asyncio.sleep(0.01)
    now = datetime.now(timezone.utc)
    await asyncio.sleep(0.01)
    return now


@pytest.fixture(scope="module")
async def workload(platform, settings: Settings) -> AsyncIterator[Workload]:  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        totals: dict[str, int] = {}
        stock_before = await settled_stock(settings, http, OUT_OF_STOCK_SKU)
        before = await buy(http, settings, "REDMI-13C", "ravi@okhdfc", totals)
        await set_stock(settings, http, OUT_OF_STOCK_SKU, 0)
        t1 = await after_a_tick()
        confirmed = list(await asyncio.gather(buy(http, settings, "REDMI-13C", "ravi@okhdfc", totals),
                                              buy(http, settings, "IPHONE-15", "anita@okaxis", totals)))
        declined = await buy(http, settings, "REDMI-13C", "declined@upi", totals)
        out_of_stock = await buy(http, settings, OUT_OF_STOCK_SKU, "ravi@okhdfc", totals)
        t2 = await after_a_tick()
        after = await buy(http, settings, "REDMI-13C", "ravi@okhdfc", totals)
        # the shelf as it was, for whoever comes next (the order above held nothing)
        await set_stock(settings, http, OUT_OF_STOCK_SKU, stock_before[OUT_OF_STOCK_SKU][0])
        yield Workload(t1, t2, before, confirmed, declined, out_of_stock, after, totals)


async def events_between(settings: Settings, since: datetime, until: datetime,
                         topics: list[str] = PUBLIC) -> list[dict[str, Any]]:
    """The truth: every event of ``topics`` with ``since <= occurred_at < until``, by a plain full read
    (records that are not events at all, from the dead-letter tests, are nobody's truth)."""
    found = []
    for topic in topics:
        found += [e for e in await read_topic(settings, topic)
                  if isinstance(e, dict) and isinstance(e.get("occurred_at"), str)
                  and since <= parse_at(e["occurred_at"]) < until]
    return found


async def replay_lines(megatron: Megatron, *args: str) -> list[dict[str, Any]]:
    code, out, err = await megatron.run("replay", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def ids(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["event_id"] for e in events)


# --- replay -----------------------------------------------------------------------------------

async def test_replay_time_range_returns_exactly_the_events_inside_it(workload: Workload, settings: Settings,
                                                                      megatron: Megatron) -> None:
    got = await replay_lines(megatron, "--since", iso(workload.t1), "--until", iso(workload.t2))
    truth = await events_between(settings, workload.t1, workload.t2)
    assert ids(got) == ids(truth)
    placed = {e["order_id"] for e in got if e["type"] == "OrderPlaced"}
    assert placed == set(workload.inside), "the orders before t1 and from t2 on are outside"
    assert len(got) == len({e["event_id"] for e in got}), "each event once"


async def test_replay_with_one_open_end(workload: Workload, settings: Settings, megatron: Megatron) -> None:
    since = await replay_lines(megatron, "order-events", "--since", iso(workload.t2))
    assert workload.after in {e["order_id"] for e in since if e["type"] == "OrderPlaced"}
    assert all(parse_at(e["occurred_at"]) >= workload.t2 for e in since)
    until = await replay_lines(megatron, "order-events", "--until", iso(workload.t1))
    assert ids(until) == ids(await events_between(settings, datetime.min.replace(tzinfo=timezone.utc), workload.t1,
                                                  ["order-events"]))


async def test_replay_filters_by_type_order_and_topic(workload: Workload, megatron: Megatron) -> None:
    order = workload.confirmed[0]
    only = await replay_lines(megatron, "--type", "OrderConfirmed", "--order", order)
    assert [(e["type"], e["order_id"]) for e in only] == [("OrderConfirmed", order)]
    story = await replay_lines(megatron, "--order", order)  # an order's story reads in time order
    assert [e["type"] for e in story] == ["OrderPlaced", "InventoryReserved", "PaymentConfirmed", "OrderConfirmed",
                                          "NotificationSent"]
    assert {e["order_id"] for e in story} == {order}
    assert [e["occurred_at"] for e in story] == sorted(e["occurred_at"] for e in story)
    assert story[0]["payment"]["vpa"] == "r***@okhdfc", "personal data is masked by default"
    clear = await replay_lines(megatron, "order-events", "--type", "OrderPlaced", "--order", order, "--unmask")
    assert [e["payment"]["vpa"] for e in clear] == ["ravi@okhdfc"], "and in clear when asked"
    failed = await replay_lines(megatron, "order-events", "--type", "OrderFailed", "--since", iso(workload.t1),
                                "--until", iso(workload.t2))
    assert sorted((e["order_id"], e["reason"]) for e in failed) == sorted(
        [(workload.declined, "PAYMENT_DECLINED"), (workload.out_of_stock, "OUT_OF_STOCK")])
    two = await replay_lines(megatron, "payment-events", "--order", workload.declined, "--order", workload.confirmed[1])
    assert sorted(e["type"] for e in two) == ["PaymentConfirmed", "PaymentFailed"]


async def test_parquet_and_json_lines_hold_the_same_events(workload: Workload, megatron: Megatron,
                                                           tmp_path: Path) -> None:
    window = ("--since", iso(workload.t1), "--until", iso(workload.t2))
    summary = await megatron.json("replay", *window, "--format", "parquet", "--output", str(tmp_path / "w.parquet"))
    await megatron.json("replay", *window, "--output", str(tmp_path / "w.jsonl"))
    stdout = await replay_lines(megatron, *window)
    lines = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    table = pq.read_table(tmp_path / "w.parquet")
    rows = table.to_pylist()
    assert summary["events"] == len(rows) == len(lines) == len(stdout) > 0
    assert [json.loads(r["event"]) for r in rows] == lines == stdout, "the same events, in the same order"
    for row in rows:  # the common fields as columns agree with the JSON of the event
        event = json.loads(row["event"])
        assert (row["event_id"], row["type"], row["order_id"], row["schema_version"]) == \
            (event["event_id"], event["type"], event["order_id"], event["schema_version"])
        assert row["occurred_at"] == parse_at(event["occurred_at"])
        assert row["topic"] in PUBLIC and row["offset"] >= 0
    assert set(table.column_names) >= {"event_id", "type", "order_id", "occurred_at", "schema_version", "event"}


async def test_replay_reads_a_recorded_older_event(settings: Settings, megatron: Megatron, tmp_path: Path) -> None:
    """A v0 NotificationSent (no channel: email was the only one) comes out as v1, in both formats.
    notification-events has no consuming service, so the old record disturbs nobody."""
    raw = (FIXTURES / "notification_sent_v0.json").read_bytes()
    order_id = json.loads(raw)["order_id"]
    p = producer(settings)
    await p.start()
    try:
        await p.send_and_wait("notification-events", key=order_id.encode(), value=raw)
    finally:
        await p.stop()
    got = await replay_lines(megatron, "notification-events", "--order", order_id, "--unmask")
    assert len(got) == 1
    assert (got[0]["schema_version"], got[0]["channel"], got[0]["recipient"]) == \
        (1, "email", "ravi@customers.megatron.store")
    await megatron.json("replay", "notification-events", "--order", order_id, "--unmask",
                        "--output", str(tmp_path / "old.parquet"))
    (row,) = pq.read_table(tmp_path / "old.parquet").to_pylist()
    assert row["schema_version"] == 1 and json.loads(row["event"]) == got[0]


async def list_groups(settings: Settings) -> set[str]:
    """Consumer groups the broker knows, including ones that only ever committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings))
    await admin.start()
    try:
        return {group for group, _ in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def test_analysts_leave_no_consumer_group_or_offset_behind(workload: Workload, settings: Settings,
                                                                 megatron: Megatron, tmp_path: Path) -> None:
    groups = await list_groups(settings)
    await replay_lines(megatron)
    await megatron.json("replay", "--output", str(tmp_path / "all.parquet"))
    await megatron.json("report")
    assert await list_groups(settings) == groups, "no group joined or created"
    prefix = settings.app_id_prefix
    for group in (f"{prefix}-megatron", f"{prefix}-replay", f"{prefix}-report", "megatron", "megatron-replay"):
        offsets = await committed_offsets(settings, group, PUBLIC)
        assert offsets and set(offsets.values()) == {0}, f"{group} committed {offsets}"


async def test_progress_bar_only_when_stderr_is_a_terminal(megatron: Megatron) -> None:
    code, out, err = await megatron.run("replay", "order-events")
    assert code == 0 and err == "", "no bar into a pipe or a log"
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "megatron"), "replay", "order-events",
            env={**os.environ, **megatron.env}, stdout=asyncio.subprocess.PIPE, stderr=slave)
        os.close(slave)
        out_bytes, _ = await asyncio.wait_for(proc.communicate(), 120)
        bar = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            bar += chunk
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"replay" in bar and "█".encode() in bar and b"records" in bar
    assert all(json.loads(line)["type"] for line in out_bytes.decode().splitlines()), "stdout holds events only"


# --- report ---------------------------------------------------------------------------------

def nearest_rank(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(1, math.ceil(p / 100 * len(values))) - 1]


async def test_report_numbers_match_the_workload(workload: Workload, settings: Settings, megatron: Megatron,
                                                 tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    r = await megatron.json("report", "--since", iso(workload.t1), "--until", iso(workload.t2), "--html", str(page))
    assert r["funnel"] == {"placed": 4, "reserved": 3, "paid": 2, "confirmed": 2}
    assert (r["failed"], r["in_progress"]) == (2, 0)
    assert r["failures"] == {"OUT_OF_STOCK": 1, "PAYMENT_DECLINED": 1}

    truth = await events_between(settings, workload.t1, workload.t2, ["order-events"])
    placed_at = {e["order_id"]: parse_at(e["occurred_at"]) for e in truth if e["type"] == "OrderPlaced"}
    confirmed = {e["order_id"]: e for e in truth if e["type"] == "OrderConfirmed"}
    took = [(parse_at(confirmed[o]["occurred_at"]) - placed_at[o]) / timedelta(milliseconds=1)
            for o in workload.confirmed]
    lat = r["placed_to_confirmed"]
    assert lat["orders"] == 2
    assert (lat["p50_ms"], lat["p95_ms"], lat["p99_ms"]) == pytest.approx(
        (nearest_rank(took, 50), nearest_rank(took, 95), nearest_rank(took, 99)))

    minutes = r["orders_per_minute"]
    assert sum(m["placed"] for m in minutes) == r["placed"] == 4
    assert r["confirmed"] == len(confirmed) == 2
    revenue = sum(workload.totals[o] for o in workload.confirmed)
    assert r["revenue_paise"] == sum(m["revenue_paise"] for m in minutes) == revenue
    assert revenue == BY_SKU["REDMI-13C"].price_paise + BY_SKU["IPHONE-15"].price_paise
    assert r["revenue"] == "₹88,899.00"
    for m in minutes:  # one row per minute, placed counted by the minute of OrderPlaced
        start = parse_at(m["minute"])
        assert m["placed"] == sum(start <= at < start + timedelta(minutes=1) for at in placed_at.values())

    html = page.read_text()
    assert html.count("<svg") == 5 and "<script" not in html and " src=" not in html and " href=" not in html
    assert "OUT_OF_STOCK" in html and "₹88,899.00" in html


async def test_report_table_on_the_terminal(workload: Workload, megatron: Megatron) -> None:
    code, out, err = await megatron.run("report", "--since", iso(workload.t1), "--until", iso(workload.t2))
    assert code == 0, err
    for text in ("Funnel", "placed", "confirmed", "PAYMENT_DECLINED", "OUT_OF_STOCK", "p95", "₹88,899.00"):
        assert text in out


# --- mirror-rebuild -------------------------------------------------------------------------

async def drop(settings: Settings, prefix: str) -> None:
    await drop_databases(settings.model_copy(update={"mysql_db_prefix": f"{prefix}_"}))


async def test_mirror_rebuild_after_a_mixed_workload_shows_no_difference(workload: Workload, settings: Settings,
                                                                         megatron: Megatron) -> None:
    prefix = f"rb{uuid.uuid4().hex[:8]}"
    try:
        async def rebuild() -> tuple[int, dict[str, Any], str]:
            code, out, err = await megatron.run("mirror-rebuild", "--into", prefix, "--replace", "--json")
            return code, json.loads(out.strip().splitlines()[-1]) if out.strip() else {}, err

        # the live mirror trails the tables by a flush interval: wait for a quiet moment
        code, result, err = await eventually(rebuild, lambda r: r[0] == 0, timeout=60, interval=1)
        assert result["differences"] == [] and err == ""
        tables = {t["table"]: t for t in result["tables"]}
        assert set(tables) == {"orders_db.orders", "orders_db.order_items", "inventory_db.stock",
                               "payment_db.payments"}
        assert all(t["live_rows"] == t["rebuilt_rows"] > 0 for t in tables.values())
        rebuilt = {r["order_id"]: (r["status"], r["reason"]) for r in
                   await query(settings, f"SELECT order_id, status, reason FROM `{prefix}_orders_db`.orders")}
        assert rebuilt[workload.confirmed[0]] == ("CONFIRMED", None)
        assert rebuilt[workload.declined] == ("FAILED", "PAYMENT_DECLINED")
        assert rebuilt[workload.out_of_stock] == ("FAILED", "OUT_OF_STOCK")
        assert list(result["ignored"]) == ["inventory_db.stock.updated_at"]

        # and a row that is wrong in the live mirror is found (one of this test's own orders, put back after)
        live = f"`{settings.database('orders_db')}`.orders"
        await query(settings, f"UPDATE {live} SET status = 'CREATED' WHERE order_id = %s", workload.declined)
        try:
            code, out, err = await megatron.run("mirror-rebuild", "--into", prefix, "--replace")
        finally:
            await query(settings, f"UPDATE {live} SET status = 'FAILED' WHERE order_id = %s", workload.declined)
        assert code == 1, (out, err)
        difference = [line for line in out.splitlines() if workload.declined in line]
        assert len(difference) == 1 and "status" in difference[0] and "CREATED" in difference[0] \
            and "FAILED" in difference[0]
    finally:
        await drop(settings, prefix)


# --- bad input ------------------------------------------------------------------------------

BAD = [
    ("replay", "no-such-topic"),
    ("replay", "--since", "yesterday"),
    ("replay", "--until", "2026-13-01T00:00:00Z"),
    ("replay", "--since", "2026-11-27T00:00:00Z", "--until", "2026-11-26T00:00:00Z"),
    ("replay", "--format", "xml"),
    ("replay", "--format", "parquet"),
    ("replay", "order-events", "--type", "PaymentConfirmed"),
    ("replay", "--output", "/no/such/dir/out.jsonl"),
    ("report", "--since", "last tuesday"),
    ("report", "--since", "2026-11-27", "--until", "2026-11-26"),
    ("report", "--html", "/no/such/dir/report.html"),
    ("mirror-rebuild",),
    ("mirror-rebuild", "--into", "bad-name"),
    ("mirror-rebuild", "--into", "x" * 41),
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a)[:60] for a in BAD])
async def test_bad_input_exits_non_zero_with_one_line(args: tuple[str, ...], megatron: Megatron) -> None:
    code, out, err = await megatron.run(*args)
    assert code != 0
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"megatron {args[0]}: "), err


async def test_mirror_rebuild_never_writes_into_the_live_mirror(settings: Settings, megatron: Megatron) -> None:
    live_prefix = settings.mysql_db_prefix.rstrip("_")
    before = await query(settings, f"SELECT COUNT(*) AS n FROM `{settings.database('orders_db')}`.orders")
    code, out, err = await megatron.run("mirror-rebuild", "--into", live_prefix, "--replace")
    assert code == 2 and out == "" and "live mirror" in err and len(err.strip().splitlines()) == 1
    assert await query(settings, f"SELECT COUNT(*) AS n FROM `{settings.database('orders_db')}`.orders") == before


async def test_no_broker_or_no_changelog_is_one_line_too(platform, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from dev.broker import free_port

    nowhere = Megatron({**platform.env, "KAFKA_BROKER": f"kafka://127.0.0.1:{free_port()}"})
    code, out, err = await nowhere.run("replay")
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith("megatron replay: cannot reach the broker at ")
    other = Megatron({**platform.env, "APP_ID_PREFIX": "no-such-app"})
    prefix = f"rb{uuid.uuid4().hex[:8]}"
    code, out, err = await other.run("mirror-rebuild", "--into", prefix)
    assert code == 2 and out == ""
    assert err.strip() == "megatron mirror-rebuild: no topic 'no-such-app-orders-orders-changelog' on " \
                          f"{platform.env['KAFKA_BROKER']}"
    made = await query(settings, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                       f"{prefix}%")
    assert made == [], "the log is read before any database is made"
