"""A Faust table of pydantic models, keyed by raw UTF-8 bytes, optionally mirrored to MySQL.

Keys are raw bytes identical to the record keys of the topic that writes the table,
so ``table_route`` sends a request to the worker that really owns the key. Values
are the model's JSON. Every write goes to the changelog and, if mirrored, to the
:class:`~tables.mirror.MySQLMirror` in the same call: there is one way to mirror.
A write can be awaited until the broker has it, for a writer that must not announce
a change a crash could still lose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, Iterator, TypeVar, overload

import faust
from faust.types import FutureMessage
from pydantic import BaseModel

from tables.mirror import MirrorSpec, MySQLMirror, mirror_of

if TYPE_CHECKING:
    from config.app import ServiceApp
    from tables.catalog import TableSpec

__all__ = ["ModelTable", "model_table"]

M = TypeVar("M", bound=BaseModel)
N = TypeVar("N", bound=BaseModel)
R = TypeVar("R", bound=Callable[[list[tuple[str, Any]]], Awaitable[None]])


class _Table(faust.Table):  # type: ignore[misc]
    """A Faust table that keeps the send of its latest changelog write (Faust's own write drops it)."""

    last_write: FutureMessage | None = None

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        self.last_write = super().send_changelog(*args, **kwargs)
        return self.last_write


class ModelTable(Generic[M]):
    """Typed access to one RocksDB-backed table, or to the entries of it whose keys ``where`` picks."""

    def __init__(self, app: faust.App | None, name: str, model: type[M], *, help: str,
                 mirror: tuple[MySQLMirror, MirrorSpec[M]] | None = None,
                 where: Callable[[str], bool] | None = None, table: Any = None) -> None:
        self.model = model
        self.mirror = mirror
        self.where = where
        self.primary = table is None  # False for a view of another model in a table declared before
        # bytes types make Faust pick the raw codec for keys and values (tables/base.py)
        if table is None:
            assert app is not None
            table = app.tables.add(_Table(app, name=name, key_type=bytes, value_type=bytes, help=help,
                                          beacon=app.tables.beacon))
        self.table = table
        self._on_recover: list[Callable[[list[tuple[str, M]]], Awaitable[None]]] = []
        if mirror is not None:
            self.on_recover(self._mirror_recovered)

    def view(self, model: type[N], where: Callable[[str], bool]) -> "ModelTable[N]":
        """Entries of another model in the same table (its keys picked by ``where``): written to the same
        changelog partition as this table's, in the order of the writes, so a crash keeps or drops them
        together with the writes before them."""
        return ModelTable(None, self.name, model, help="", where=where, table=self.table)

    def on_recover(self, callback: R) -> R:
        """Call ``callback`` with this table's entries after every recovery, before the worker reads its
        partitions again, in the order registered. The entries are read and decoded once per recovery
        for all of them: the orders table's three callbacks each decoding thousands of orders held a
        restarted worker for a second or more (``make chaos``'s resume phase)."""
        if not self._on_recover:
            self.table.on_recover(self._recovered)
        self._on_recover.append(callback)
        return callback

    async def _recovered(self) -> None:
        entries = list(self.items())
        for callback in self._on_recover:
            await callback(entries)

    async def _mirror_recovered(self, entries: list[tuple[str, M]]) -> None:
        """After recovery, mirror every entry again: rows buffered when a worker died are not lost.

        Cheap to repeat: the mirror keeps the newest version per key and MySQL keeps the newer row.
        """
        assert self.mirror is not None
        mirror, spec = self.mirror
        for _, value in entries:
            mirror.enqueue(spec, value)

    @property
    def name(self) -> str:
        return self.table.name

    def get(self, key: str) -> M | None:
        raw = self.table.get(key)
        return None if raw is None else self.model.model_validate_json(raw)

    def put(self, key: str, value: M) -> FutureMessage:
        """Store ``value`` at once (reads see it); the result is done when the broker acknowledged the
        changelog write. Await it where the write must be durable before anyone is told of it."""
        self.table[key] = value.model_dump_json().encode()
        if self.mirror is not None:
            mirror, spec = self.mirror
            mirror.enqueue(spec, value)
        written = self.table.last_write
        assert written is not None
        return written

    def delete(self, key: str) -> None:
        """Remove ``key`` (a tombstone on the changelog); not mirrored."""
        del self.table[key]

    def items(self) -> Iterator[tuple[str, M]]:
        """Entries of the partitions this worker owns (RocksDB reads are per partition)."""
        for key, raw in self.table.items():
            name = key.decode() if isinstance(key, bytes) else key
            if self.where is None or self.where(name):
                yield name, self.model.model_validate_json(raw)


@overload
def model_table(app: "ServiceApp", spec: "TableSpec[M]", /) -> ModelTable[M]: ...


@overload
def model_table(app: "ServiceApp", name: str, model: type[M], *, help: str,
                mirror: MirrorSpec[M] | None = None) -> ModelTable[M]: ...


def model_table(app: "ServiceApp", name: "str | TableSpec[M]", model: type[M] | None = None, *,
                help: str | None = None, mirror: MirrorSpec[M] | None = None) -> ModelTable[M]:
    """A RocksDB table of ``model`` on ``app``; mirrored to MySQL when ``mirror`` is given.

    Given a :class:`~tables.catalog.TableSpec` instead, the table is that catalog entry: the factories
    of ``tables/`` build theirs so, and a table cannot drift from what the catalog says of it."""
    where = None
    if not isinstance(name, str):
        name, model, help, mirror, where = name.name, name.model, name.help, name.mirror, name.keys
    if model is None or help is None:
        raise TypeError("model_table(app, name, model, help=...) needs a model and a help text")
    if mirror is None:
        return ModelTable(app, name, model, help=help, where=where)
    return ModelTable(app, name, model, help=help, mirror=(mirror_of(app, mirror.database), mirror), where=where)
