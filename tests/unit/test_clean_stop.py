"""Tables after an unclean stop are rebuilt from their changelogs (``config.clean_stop``)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from config.app import create_app
from config.clean_stop import MARKER, drop_tables_after_unclean_stop, mark_clean_stop
from tables.stock import stock_table


def tables_in(tmp_path: Path) -> tuple[Path, Path]:
    appdir, tabledir = tmp_path / "v1", tmp_path / "v1" / "tables"
    (tabledir / "stock-1.db").mkdir(parents=True)
    (tabledir / "stock-1.db" / "CURRENT").write_text("MANIFEST-000001\n")
    return appdir, tabledir


def test_tables_left_by_a_killed_worker_are_dropped_and_a_clean_stop_keeps_them(tmp_path: Path) -> None:
    appdir, tabledir = tables_in(tmp_path)
    assert drop_tables_after_unclean_stop(appdir, tabledir) is True  # no marker: killed, or never stopped
    assert not tabledir.exists()

    appdir, tabledir = tables_in(tmp_path)
    mark_clean_stop(appdir)
    assert drop_tables_after_unclean_stop(appdir, tabledir) is False
    assert (tabledir / "stock-1.db" / "CURRENT").exists()
    assert not (appdir / MARKER).exists(), "the marker is used once: a crash after this start is unclean"
    assert drop_tables_after_unclean_stop(appdir, tabledir) is True


def test_a_first_start_has_nothing_to_drop(tmp_path: Path) -> None:
    assert drop_tables_after_unclean_stop(tmp_path / "v1", tmp_path / "v1" / "tables") is False


async def test_the_worker_drops_tables_at_start_and_marks_only_a_stop_without_a_crash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    app = create_app("inventory")
    stock_table(app)  # the service's table, as agents.inventory declares it
    appdir, tabledir = app.conf.appdir, app.conf.tabledir
    (tabledir / "stock-1.db").mkdir(parents=True)
    with mock.patch("faust.App.on_first_start", mock.AsyncMock()), \
            mock.patch("faust.App.on_shutdown", mock.AsyncMock()):
        await app.on_first_start()
        assert not tabledir.exists()
        app.crash_reason = RuntimeError("the producer gave up")
        await app.on_shutdown()
        assert not (appdir / MARKER).exists()
        app.crash_reason = None
        await app.on_shutdown()
        assert (appdir / MARKER).exists()
