"""Operators' commands: see what is wrong and mend it, always through events to the owners."""

from __future__ import annotations

import json
import sys

from faust.cli import AppCommand, argument, option

from cli import dlq, ops
from cli.app import app, command
from domain.privacy import mask_record

__all__: list[str] = []


def _print(self: AppCommand, rows: list[dict], headers: list[str], title: str) -> None:
    """A table, or with ``--json`` the rows as JSON objects with their real types."""
    if self.json:
        self.say(json.dumps([{h: r.get(h) for h in headers} for r in rows], default=str))
        return
    self.say(self.tabulate([[str(r.get(h, "")) for h in headers] for r in rows], headers=headers, title=title,
                           wrap_last_row=False))


@command(argument("order_id"),
         option("--unmask", is_flag=True, default=False,
                help="Show personal data (VPA, shipping address, note) in clear, e.g. to call the shopper back."))
async def order_show(self: AppCommand, order_id: str, unmask: bool) -> None:
    """Status, reason, history, payment attempts, stock holds and notifications of one order.
    Personal data is masked as in the logs unless --unmask: a terminal's scrollback is a log too."""
    d = await ops.order_details(app.settings, order_id)
    if not unmask:
        d = mask_record(d)
    if self.json:
        self.say(json.dumps(d, default=str))
        return
    o = d["order"]
    self.say(f"order {o['order_id']}  user {o['user_id']}  {o['status']}"
             + (f" ({o['reason']})" if o["reason"] else "") + (f"  note: {o.get('note')}" if o.get("note") else "")
             + f"  total {o['total_paise']} paise")
    _print(self, o["history"], ["status", "at"], "History")
    _print(self, o["items"], ["sku", "name", "quantity", "line_total_paise"], "Lines")
    attempts = (d["payment"] or {}).get("attempts", [])
    _print(self, attempts, ["number", "status", "gateway_ref", "at"],
           f"Payment {(d['payment'] or {}).get('payment_id', '(none)')}: {(d['payment'] or {}).get('status', '-')}")
    _print(self, d["holds"], ["sku", "quantity", "state"], "Stock holds")
    _print(self, [{"sent": s} for s in d["notifications"]], ["sent"], "Notifications")


@command(option("--older-than", default="5m", show_default=True, help="Age, e.g. 90s, 5m, 2h."))
async def orders_stuck(self: AppCommand, older_than: str) -> None:
    """Orders with no final status after that long (read from the MySQL mirror)."""
    rows = await ops.stuck_orders(app.settings, ops.parse_duration(older_than))
    _print(self, rows, ["order_id", "user_id", "status", "total_paise", "created_at"], f"Stuck > {older_than}")


@command(argument("order_id"), option("--reason", required=True, help="Why (kept on the order)."))
async def order_cancel(self: AppCommand, order_id: str, reason: str) -> None:
    """Fail a non-final order (reason CANCELLED) with compensation, through its owner."""
    order = await ops.cancel_order(app.settings, order_id, reason)
    _print(self, [order], ["order_id", "status", "reason", "note"], "Cancelled")
    if order["status"] != "FAILED":
        print(f"megatron order-cancel: order {order_id} ended {order['status']} before the cancel", file=sys.stderr)
        raise SystemExit(1)


@command(argument("sku", required=False))
async def stock_show(self: AppCommand, sku: str | None) -> None:
    """On hand, reserved and available per SKU (or one SKU)."""
    _print(self, await ops.stock(app.settings, sku), ["sku", "on_hand", "reserved", "available"], "Stock")


@command(argument("sku"), option("--on-hand", type=int, required=True, help="Units on the shelf."))
async def stock_set(self: AppCommand, sku: str, on_hand: int) -> None:
    """Set a SKU's on-hand count through its owner, so a restock never races a reservation."""
    _print(self, [await ops.set_stock(app.settings, sku, on_hand)], ["sku", "on_hand", "reserved", "available"],
           "Stock set")


@command(option("--create", is_flag=True, default=False, help="Create the missing topics."))
async def topics_check(self: AppCommand, create: bool) -> None:
    """Every catalog and internal topic exists with the partitions the apps expect."""
    rows = await ops.check_topics(app.settings, create)
    _print(self, rows, ["topic", "expected", "actual", "state", "config"], "Topics")
    bad = [r["topic"] for r in rows if r["state"] not in ("ok", "created")]
    if bad:
        print(f"megatron topics-check: {len(bad)} topics missing or wrong ({', '.join(bad[:3])}"
              f"{', ...' if len(bad) > 3 else ''}); --create makes the missing ones", file=sys.stderr)
        raise SystemExit(1)


@command(option("--topic", default=None, help="Only this topic's dead letters (e.g. order-events)."))
async def dlq_list(self: AppCommand, topic: str | None) -> None:
    """List records the agents could not read, with the error and where they came from."""
    letters = await dlq.list_dead_letters(app.settings, dlq.dlq_topics(topic))
    rows = [(l.topic, l.partition, l.offset, l.service, l.key or "", l.failed_at, l.error.splitlines()[0][:80])
            for l in letters]
    self.say(self.tabulate(rows, headers=["topic", "partition", "offset", "service", "key", "failed_at", "error"],
                           title="Dead letters"))


@command(option("--topic", default=None, help="Only this topic's dead letters."),
         option("--dry-run", is_flag=True, default=False, help="Show what would be sent, send nothing."))
async def dlq_redrive(self: AppCommand, topic: str | None, dry_run: bool) -> None:
    """Send dead letters back to their source topic (each source record once); progress is remembered."""
    done = await dlq.redrive(app.settings, dlq.dlq_topics(topic), dry_run=dry_run)
    rows = [(d.letter.topic, d.letter.partition, d.letter.offset, d.letter.key or "",
             "sent" if d.sent else ("would send" if dry_run else "duplicate")) for d in done]
    self.say(self.tabulate(rows, headers=["topic", "partition", "offset", "key", "result"],
                           title="Re-driven" if not dry_run else "Would re-drive"))
