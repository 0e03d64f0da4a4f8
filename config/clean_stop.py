"""A worker's tables are kept across a restart only if it stopped cleanly; otherwise rebuilt from the changelogs.

RocksDB takes a table write at once and the changelog gets it when the broker acknowledges it. A
worker killed with writes in flight leaves its RocksDB ahead of its changelog, and Faust's recovery
then reads the changelog's tail (writes the broker took but whose acks the worker never processed)
over it: a key written again after that tail goes back, a key written only after it stays ahead.
The stock table keeps a SKU's level and its holds as separate keys, so the level went back while
the holds of the same commands stayed, and the replay took those commands for repeats (chaos seed 3
on 95b51c5: PIXEL-8 ended with reserved -1). Kafka Streams wipes its stores after an unclean
shutdown under exactly-once for the same reason. Here a clean stop (every write flushed, offsets
committed, no crash) leaves a marker beside the tables; a start without one deletes the tables, so
they are read back whole from their changelogs, a state the changelog really holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["MARKER", "drop_tables_after_unclean_stop", "mark_clean_stop"]

MARKER = "clean-stop"


def drop_tables_after_unclean_stop(datadir: Path, tabledir: Path) -> bool:
    """At start, before any table opens: unless the last stop was clean, delete the tables (True if
    there were any). The marker goes either way: from here on a stop is unclean until it is marked."""
    marker = datadir / MARKER
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    if clean or not tabledir.exists():
        return False
    shutil.rmtree(tabledir)
    return True


def mark_clean_stop(datadir: Path) -> None:
    """After a stop in which every write was flushed and the offsets committed."""
    datadir.mkdir(parents=True, exist_ok=True)
    (datadir / MARKER).touch()
