"""What a ModelTable hands the callbacks that run after each recovery."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tables.model_table import ModelTable

decoded: list[bytes] = []


class Item(BaseModel):
    n: int

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> "Item":
        decoded.append(json_data)
        return super().model_validate_json(json_data, **kwargs)


class Partitions(dict):  # type: ignore[type-arg]
    """The surface of a Faust table a ModelTable over an existing table uses: entries and on_recover."""

    name = "items"

    def __init__(self, entries: dict[bytes, bytes]) -> None:
        super().__init__(entries)
        self.callbacks: list[Any] = []

    def on_recover(self, fn: Any) -> Any:
        self.callbacks.append(fn)
        return fn


async def test_every_recovery_callback_gets_the_entries_decoded_once_in_the_order_registered() -> None:
    raw = Partitions({b"a": b'{"n": 1}', b"b": b'{"n": 2}'})
    table = ModelTable(None, "items", Item, help="", table=raw)
    seen: list[tuple[str, list[tuple[str, int]]]] = []

    @table.on_recover
    async def first(entries: list[tuple[str, Item]]) -> None:
        seen.append(("first", [(k, v.n) for k, v in entries]))

    async def second(entries: list[tuple[str, Item]]) -> None:
        seen.append(("second", [(k, v.n) for k, v in entries]))

    table.on_recover(second)
    assert first is not None and len(raw.callbacks) == 1  # one Faust callback, one read of the partitions
    decoded.clear()
    await raw.callbacks[0]()
    assert seen == [("first", [("a", 1), ("b", 2)]), ("second", [("a", 1), ("b", 2)])]
    assert sorted(decoded) == [b'{"n": 1}', b'{"n": 2}']
