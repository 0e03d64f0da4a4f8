"""The one MySQL mirror: table changes buffered, then written as batched idempotent upserts.

Every mirrored table goes through :class:`MySQLMirror` (STYLE 3). A row replaces the
buffered row with the same primary key only if its ``version`` is newer, and the
upsert keeps the stored row when the stored ``version`` is newer or equal, so a
replay or a late flush never lets an older state overwrite a newer one. While MySQL
is down, rows wait in the buffer (newest per key) and are written when it is back;
the stream never waits for MySQL. A row MySQL refuses for what it holds (a ``CHECK``
constraint: negative stock) is logged as an error and dropped, not retried: retrying it
would hold every row of its batch back for ever, and the next version of it comes anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, TypeVar

import aiomysql
import pymysql
from mode import Service

from config.settings import Settings
from tables.schema import migrate

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["Row", "MirrorSpec", "MySQLMirror", "mirror_of"]

log = logging.getLogger(__name__)
M = TypeVar("M")

#: MariaDB's ER_CONSTRAINT_FAILED (a CHECK constraint), which pymysql raises as an OperationalError
CONSTRAINT_FAILED = 4025


def refused_content(exc: BaseException) -> bool:
    """MySQL refused the rows for what they hold, not because it is away: sending them again fails again."""
    if isinstance(exc, (pymysql.err.IntegrityError, pymysql.err.DataError)):
        return True
    return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] == CONSTRAINT_FAILED


@dataclass(frozen=True)
class Row:
    """One row of a mirror table; ``values`` holds every column including ``version``."""

    table: str
    key: tuple[str, ...]
    values: dict[str, Any]

    @property
    def ident(self) -> tuple[Any, ...]:
        return (self.table, *(self.values[k] for k in self.key))


@dataclass(frozen=True)
class MirrorSpec(Generic[M]):
    """How one Faust table maps to rows of one mirror database."""

    database: str
    rows: Callable[[M], Iterable[Row]]


@dataclass
class _Pending:
    database: str
    row: Row
    since: float = field(default_factory=time.monotonic)


def upsert_sql(database: str, row: Row, count: int) -> str:
    """Multi-row insert that only moves a stored row forward in ``version``."""
    cols = list(row.values)
    assign = [f"`{c}` = IF(VALUES(`version`) > `version`, VALUES(`{c}`), `{c}`)"
              for c in cols if c not in row.key and c != "version"]
    assign.append("`version` = GREATEST(`version`, VALUES(`version`))")  # last: the IFs read the old one
    values = ", ".join(["(" + ", ".join(["%s"] * len(cols)) + ")"] * count)
    return (f"INSERT INTO `{database}`.`{row.table}` ({', '.join(f'`{c}`' for c in cols)}) "
            f"VALUES {values} ON DUPLICATE KEY UPDATE {', '.join(assign)}")


class MySQLMirror(Service):
    """Buffers rows per database and flushes them on a size or time bound."""

    def __init__(self, settings: Settings, databases: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.databases = databases
        self._buffer: dict[tuple[str, tuple[Any, ...]], _Pending] = {}
        self._wake = asyncio.Event()
        self._pool: aiomysql.Pool | None = None
        self.rows_written = 0
        self.rows_refused = 0
        self.last_lag_s = 0.0
        self.lag_observer: Callable[[float], None] | None = None
        self.backlog_observer: Callable[[int], None] | None = None

    def enqueue(self, spec: MirrorSpec[M], value: M) -> None:
        """Buffer the rows of ``value``; called by a table write, never blocks."""
        for row in spec.rows(value):
            self._put(_Pending(spec.database, row))
        if len(self._buffer) >= self.settings.mirror_batch_size:
            self._wake.set()
        self._note_backlog()

    def _note_backlog(self) -> None:
        if self.backlog_observer is not None:
            self.backlog_observer(len(self._buffer))

    def _put(self, pending: _Pending) -> None:
        key = (pending.database, pending.row.ident)
        old = self._buffer.get(key)
        if old is None or pending.row.values["version"] >= old.row.values["version"]:
            if old is not None:
                pending.since = min(pending.since, old.since)
            self._buffer[key] = pending

    @property
    def backlog(self) -> int:
        """Rows not yet in MySQL."""
        return len(self._buffer)

    async def _ensure_pool(self) -> aiomysql.Pool:
        if self._pool is None:
            s = self.settings
            await migrate(s, self.databases)
            self._pool = await aiomysql.create_pool(
                host=s.mysql_host, port=s.mysql_port, user=s.mysql_user, password=s.mysql_password,
                autocommit=True, minsize=1, maxsize=2, connect_timeout=5, pool_recycle=300,
            )
        return self._pool

    async def flush(self) -> int:
        """Write everything buffered; on failure the rows go back to the buffer."""
        if not self._buffer:
            return 0
        batch, self._buffer = self._buffer, {}
        groups: dict[tuple[str, str, tuple[str, ...]], list[_Pending]] = {}
        for p in batch.values():
            groups.setdefault((p.database, p.row.table, tuple(p.row.values)), []).append(p)
        refused: list[_Pending] = []
        try:
            pool = await self._ensure_pool()
            async with pool.acquire() as conn, conn.cursor() as cur:
                for (database, _, _), items in groups.items():
                    refused += await self._write(cur, database, items)
        except Exception as exc:  # MySQL down or slow: keep every row, newest per key
            for p in batch.values():
                self._put(p)
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            raise MirrorUnavailable(str(exc)) from exc
        for p in refused:
            log.error("mirror: MySQL refused %s (version %s) of %s and it is not sent again: %s", p.row.ident,
                      p.row.values.get("version"), p.database, p.row.values)
        self.rows_refused += len(refused)
        refused_ids = {id(p) for p in refused}
        written = [p for p in batch.values() if id(p) not in refused_ids]
        now = time.monotonic()
        lags = [now - p.since for p in written]
        self.last_lag_s = max(lags, default=0.0)
        if self.lag_observer is not None:
            for lag in lags:
                self.lag_observer(lag)
        self.rows_written += len(written)
        self._note_backlog()
        return len(written)

    async def _write(self, cur: Any, database: str, items: list[_Pending]) -> list[_Pending]:
        """One upsert of ``items``; if MySQL refuses what they hold, one upsert each. Returns the refused."""
        try:
            await self._upsert(cur, database, items)
            return []
        except Exception as exc:
            if not refused_content(exc):
                raise
        if len(items) == 1:
            return items
        return [p for item in items for p in await self._write(cur, database, [item])]

    async def _upsert(self, cur: Any, database: str, items: list[_Pending]) -> None:
        sql = upsert_sql(self.settings.database(database), items[0].row, len(items))
        await asyncio.wait_for(cur.execute(sql, [v for p in items for v in p.row.values.values()]),
                               timeout=self.settings.http_timeout_s)

    @Service.task
    async def _flusher(self) -> None:
        interval = self.settings.mirror_flush_interval_ms / 1000
        backoff = interval
        while not self.should_stop:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
                backoff = interval
            except MirrorUnavailable as exc:
                backoff = min(max(backoff * 2, 0.5), 10.0)
                log.warning("mirror: MySQL unavailable, %d rows wait (retry in %.1fs): %s",
                            self.backlog, backoff, exc)

    async def on_stop(self) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=self.settings.http_timeout_s)
        except Exception as exc:
            log.error("mirror: %d rows not written at stop (the log keeps them): %s", self.backlog, exc)
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (the buffer is kept)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()
            await pool.wait_closed()


def mirror_of(app: "ServiceApp", database: str) -> MySQLMirror:
    """The worker's one mirror, started and stopped with ``app``, now also writing ``database``.

    Created on the first mirrored table, so a service without one opens no MySQL pool."""
    mirror: MySQLMirror | None = getattr(app, "mysql_mirror", None)
    if mirror is None:
        mirror = MySQLMirror(app.settings, ())
        mirror.lag_observer = app.metrics.mirror_lag.observe
        mirror.backlog_observer = app.metrics.mirror_backlog.set
        app.add_dependency(mirror)
        app.mysql_mirror = mirror  # type: ignore[attr-defined]
    if database not in mirror.databases:
        mirror.databases = (*mirror.databases, database)
    return mirror


class MirrorUnavailable(Exception):
    """MySQL could not take a flush; the rows stay buffered."""
