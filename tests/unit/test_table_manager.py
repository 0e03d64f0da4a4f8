"""The table manager the services get: it registers the tables' channels without Faust's 1 s sleep."""

from __future__ import annotations

from unittest import mock

from config.app import create_app
from config.table_manager import TableManager


async def test_a_worker_registers_its_tables_without_sleeping_first() -> None:
    app = create_app("orders")
    manager = app.tables
    assert isinstance(manager, TableManager)
    steps: list[str] = []

    async def update_channels() -> None:
        steps.append("channels")

    async def sleep(seconds: float) -> None:  # Faust's own on_start: self.sleep(1.0)
        steps.append(f"slept {seconds}")

    recovery = mock.Mock(start=mock.AsyncMock(side_effect=lambda: steps.append("recovery")))
    with mock.patch.object(manager, "_update_channels", update_channels), \
            mock.patch.object(manager, "sleep", sleep), \
            mock.patch.object(type(manager), "recovery", mock.PropertyMock(return_value=recovery)):
        await manager.on_start()
    assert steps == ["channels", "recovery"]
