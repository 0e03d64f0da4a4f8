"""The table catalog as data: each Faust table's name, owning service, key, value model, mirror and help.

The twin of the topic catalog (:mod:`streams.topics`, which may not import ``tables/``):
the table factories (``tables/orders.py`` ...) build their tables from these entries, and
the bootstrap, ``megatron topics-check`` and ``megatron mirror-rebuild`` learn the changelog
topics here instead of importing every service's app. ``tests/unit/test_catalog.py`` holds
both catalogs to the agents as they are declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from pydantic import BaseModel

from config.settings import Settings
from domain.notifications import Sent
from domain.orders import Order
from domain.payment import PaymentState
from domain.stock import Reservation, StockLevel, is_hold_key
from tables.mirror import MirrorSpec
from tables.rows import ORDERS_MIRROR, PAYMENTS_MIRROR, STOCK_MIRROR

__all__ = ["TableSpec", "TABLES", "ORDERS", "STOCK", "RESERVATIONS", "PAYMENTS", "SENT", "MIRRORED",
           "tables_of", "changelog_topics"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class TableSpec(Generic[M]):
    """One RocksDB table of a service and, if it has one, its MySQL mirror."""

    name: str
    service: str  # the app that owns it (``config.settings.SERVICES``)
    key: str  # what a key is; its first part is the record key of the stream that writes the table
    model: type[M]
    help: str
    mirror: MirrorSpec[M] | None = None
    #: the keys whose values are ``model``, where the table keeps other entries too (the stock its holds)
    keys: Callable[[str], bool] | None = None

    def is_entry(self, key: str) -> bool:
        """Whether ``key`` is an entry of ``model``."""
        return self.keys is None or self.keys(key)

    def changelog(self, settings: Settings) -> str:
        """Faust's changelog topic of the table: ``<app id>-<table>-changelog`` (``faust/tables/base.py``),
        where the app id is ``<APP_ID_PREFIX>-<service>`` (``config.app.create_app``)."""
        return f"{settings.app_id_prefix}-{self.service}-{self.name}-changelog"


ORDERS: TableSpec[Order] = TableSpec(
    "orders", "orders", "order_id", Order, "Orders by order_id: status, lines, history.", ORDERS_MIRROR)
STOCK: TableSpec[StockLevel] = TableSpec(
    "stock", "inventory", "sku", StockLevel, "Units on hand and reserved, by SKU; beside each SKU what each order "
    "holds of it, keyed SKU/order_id (one changelog, so a crash keeps a command's level and hold together).",
    STOCK_MIRROR, keys=lambda key: not is_hold_key(key))
RESERVATIONS: TableSpec[Reservation] = TableSpec(
    "reservations", "inventory", "order_id", Reservation, "Per-SKU answers gathered per order_id.")
PAYMENTS: TableSpec[PaymentState] = TableSpec(
    "payments", "payment", "order_id", PaymentState, "Payment of each order: attempts and outcome.",
    PAYMENTS_MIRROR)
SENT: TableSpec[Sent] = TableSpec(
    "sent", "notification", "order_id", Sent, "Notifications delivered per order_id, by status and channel.")

#: in the order of ``config.settings.SERVICES``, each service's tables in the order it declares them
TABLES: tuple[TableSpec[Any], ...] = (ORDERS, STOCK, RESERVATIONS, PAYMENTS, SENT)
#: the tables mirrored to MySQL, what ``megatron mirror-rebuild`` rebuilds from
MIRRORED: tuple[TableSpec[Any], ...] = tuple(t for t in TABLES if t.mirror is not None)


def tables_of(service: str) -> tuple[TableSpec[Any], ...]:
    """The tables ``service`` owns."""
    return tuple(t for t in TABLES if t.service == service)


def changelog_topics(settings: Settings) -> list[str]:
    """Every table's changelog topic, in catalog order."""
    return [t.changelog(settings) for t in TABLES]
