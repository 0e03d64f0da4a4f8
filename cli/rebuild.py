"""``megatron mirror-rebuild``: the MySQL mirror rebuilt from the log into fresh databases, then compared.

Where it rebuilds from: the **changelog topics of the mirrored tables** of the table catalog
(``tables.catalog.MIRRORED``: ``<APP_ID_PREFIX>-orders-orders-changelog``, ``-inventory-stock-changelog``,
``-payment-payments-changelog``). A table is the fold of its changelog (the last value
per key; a tombstone deletes the key), so reading it gives every order, stock level and
payment exactly as the service stored it, with its own timestamps and ``version``. Those
states go through the same row mappers (``order_rows``, ``stock_rows``, ``payment_rows``)
and the same :class:`~tables.mirror.MySQLMirror` as the live mirror, into
``<PREFIX>_orders_db``, ``<PREFIX>_inventory_db``, ``<PREFIX>_payment_db``.

Why not fold the public events through ``domain.orders.evolve`` again: the services stamp
each change with their clock when they handle it (``created_at``, ``updated_at``, payment
attempts), which no event carries, and a payment's attempts and gateway answers are not on
any public topic; such a rebuild could only be compared with most columns ignored. From
the changelogs the comparison is exact, column for column, except one: ``stock.updated_at``
is stamped when the mirror row is made (``stock_rows``), not when the stock changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from cli.reader import LogReader
from config.settings import Settings
from domain.orders import Order
from tables.catalog import MIRRORED, ORDERS, TableSpec
from tables.mirror import MirrorSpec, MySQLMirror, Row
from tables.rows import order_rows
from tables.schema import DATABASES, connect, drop_databases, migrate

__all__ = ["SOURCES", "IGNORED", "Difference", "TableSummary", "Outcome", "target_settings", "table_states",
           "rebuild", "compare", "mirror_rebuild"]

M = TypeVar("M", bound=BaseModel)

#: Columns that differ between two correct mirrors, and why.
IGNORED: dict[tuple[str, str, str], str] = {
    ("inventory_db", "stock", "updated_at"): "stamped when the mirror row is made (tables/rows.py stock_rows), "
                                             "not when the stock changed",
}


def _order_and_item_rows(order: Order) -> list[Row]:
    """``order_rows`` gives the lines only with the first version (they never change): a rebuild
    from the last state asks the same mapper for the lines of version 1."""
    lines = [r for r in order_rows(order.model_copy(update={"version": 1})) if r.table == "order_items"]
    return order_rows(order) + (lines if order.version != 1 else [])


@dataclass(frozen=True)
class Source(Generic[M]):
    """A mirrored table of the catalog and how a rebuild maps its last states to rows."""

    table: TableSpec[M]
    spec: MirrorSpec[M]

    @property
    def model(self) -> type[M]:
        return self.table.model

    def changelog(self, settings: Settings) -> str:
        return self.table.changelog(settings)


def _rebuild_spec(table: TableSpec[Any]) -> MirrorSpec[Any]:
    """The live mirror's spec, but for the orders, whose lines a last state does not carry."""
    assert table.mirror is not None
    return MirrorSpec(table.mirror.database, _order_and_item_rows) if table is ORDERS else table.mirror


#: the mirrored tables of the table catalog (``tables.catalog.MIRRORED``), in its order
SOURCES: tuple[Source[Any], ...] = tuple(Source(t, _rebuild_spec(t)) for t in MIRRORED)


def target_settings(settings: Settings, prefix: str) -> Settings:
    """The live settings with the mirror databases renamed ``<prefix>_orders_db`` ..."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,40}", prefix or ""):
        raise ValueError(f"--into {prefix!r}: use 1 to 40 letters, digits or underscores (it names databases)")
    target = settings.model_copy(update={"mysql_db_prefix": f"{prefix}_"})
    if target.mysql_db_prefix == settings.mysql_db_prefix:
        raise ValueError(f"--into {prefix!r} names the live mirror's own databases; pick another prefix")
    return target


async def _existing(settings: Settings) -> list[str]:
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            names = [settings.database(db) for db in DATABASES]
            await cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name IN "
                              f"({', '.join(['%s'] * len(names))})", names)
            return sorted(row[0] for row in await cur.fetchall())
    finally:
        conn.close()


async def prepare(target: Settings, replace: bool) -> None:
    """Fresh target databases: refuse to write into existing ones unless ``replace`` drops them first."""
    existing = await _existing(target)
    if existing and not replace:
        raise ValueError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                         "pick another --into, or add --replace to drop and rebuild")
    if existing:
        await drop_databases(target)
    await migrate(target, DATABASES)


async def table_states(settings: Settings, source: Source[M]) -> dict[str, M]:
    """The table as its changelog says: the last value of every key; a tombstone deletes the key."""
    states: dict[str, bytes] = {}
    async with LogReader(settings, [source.changelog(settings)]) as reader:
        async for record in reader.records():
            key = (record.key or b"").decode()
            if record.value is None:
                states.pop(key, None)
            else:
                states[key] = record.value
    return {key: source.model.model_validate_json(value) for key, value in states.items() if source.table.is_entry(key)}


async def rebuild(settings: Settings, target: Settings, states: dict[str, dict[str, Any]]) -> None:
    """Write the table states (changelog name -> key -> state) through the live row mappers and mirror."""
    mirror = MySQLMirror(target, DATABASES)
    try:
        for source in SOURCES:
            for value in states[source.changelog(settings)].values():
                mirror.enqueue(source.spec, value)
                if mirror.backlog >= target.mirror_batch_size:
                    await mirror.flush()
        await mirror.flush()
    finally:
        await mirror.close()


# --- comparison ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """One column of one row that is not the same (``column`` is ``(row)`` when a side has no such row)."""

    table: str
    key: str
    column: str
    live: Any
    rebuilt: Any

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "column": self.column, "live": self.live, "rebuilt": self.rebuilt}


@dataclass(frozen=True)
class TableSummary:
    table: str
    live_rows: int
    rebuilt_rows: int
    differing_rows: int


@dataclass
class Outcome:
    into: str
    entries: dict[str, int] = field(default_factory=dict)  # changelog -> table entries
    tables: list[TableSummary] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "into": self.into, "databases": [f"{self.into}_{db}" for db in DATABASES],
            "changelog_entries": self.entries,
            "tables": [vars(t) for t in self.tables],
            "differences": [d.as_dict() for d in self.differences],
            "ignored": {f"{db}.{table}.{col}": why for (db, table, col), why in IGNORED.items()},
        }


def _plain(value: Any) -> Any:
    """A cell as a JSON-friendly value, identical for identical cells."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


async def _tables(cur: Any, database: str) -> dict[str, list[str]]:
    """Tables of ``database`` (but its migration record) and their primary key columns."""
    await cur.execute(
        "SELECT t.table_name, k.column_name FROM information_schema.tables t "
        "LEFT JOIN information_schema.key_column_usage k ON k.table_schema = t.table_schema "
        " AND k.table_name = t.table_name AND k.constraint_name = 'PRIMARY' "
        "WHERE t.table_schema = %s AND t.table_name <> 'schema_migrations' "
        "ORDER BY t.table_name, k.ordinal_position", (database,))
    tables: dict[str, list[str]] = {}
    for table, column in await cur.fetchall():
        tables.setdefault(table, [])
        if column is not None:
            tables[table].append(column)
    return tables


async def _rows(cur: Any, database: str, table: str, key: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    await cur.execute(f"SELECT * FROM `{database}`.`{table}`")
    columns = [d[0] for d in cur.description]
    rows = [dict(zip(columns, map(_plain, row))) for row in await cur.fetchall()]
    return {tuple(r[k] for k in key) if key else tuple(r.values()): r for r in rows}


async def compare(live: Settings, target: Settings) -> tuple[list[TableSummary], list[Difference]]:
    """Every table of the live mirror against its rebuilt twin, row by row, column by column."""
    summaries: list[TableSummary] = []
    differences: list[Difference] = []
    conn = await connect(live)
    try:
        async with conn.cursor() as cur:
            for db in DATABASES:
                for table, key in (await _tables(cur, live.database(db))).items():
                    old = await _rows(cur, live.database(db), table, key)
                    new = await _rows(cur, target.database(db), table, key)
                    found = _diff(f"{db}.{table}", key, old, new, {c for (d, t, c) in IGNORED if (d, t) == (db, table)})
                    differences += found
                    summaries.append(TableSummary(f"{db}.{table}", len(old), len(new),
                                                  len({d.key for d in found})))
    finally:
        conn.close()
    return summaries, differences


def _diff(name: str, key: list[str], live: dict[tuple[Any, ...], dict[str, Any]],
          rebuilt: dict[tuple[Any, ...], dict[str, Any]], ignored: set[str]) -> list[Difference]:
    out: list[Difference] = []
    for k in sorted(live.keys() | rebuilt.keys(), key=lambda t: tuple(map(str, t))):
        label = ", ".join(f"{c}={v}" for c, v in zip(key, k)) if key else str(k)
        a, b = live.get(k), rebuilt.get(k)
        if a is None or b is None:
            out.append(Difference(name, label, "(row)", "missing" if a is None else "present",
                                  "missing" if b is None else "present"))
            continue
        for column in sorted(a.keys() | b.keys()):
            if column not in ignored and a.get(column) != b.get(column):
                out.append(Difference(name, label, column, a.get(column), b.get(column)))
    return out


async def mirror_rebuild(settings: Settings, prefix: str, replace: bool = False) -> Outcome:
    """Rebuild into ``<prefix>_*`` databases from the changelogs and compare them with the live mirror.

    The log is read first (an unknown topic changes nothing), then the databases are made."""
    target = target_settings(settings, prefix)
    states = {source.changelog(settings): await table_states(settings, source) for source in SOURCES}
    await prepare(target, replace)
    await rebuild(settings, target, states)
    outcome = Outcome(prefix, {name: len(entries) for name, entries in states.items()})
    outcome.tables, outcome.differences = await compare(settings, target)
    return outcome
