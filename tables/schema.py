"""Versioned DDL for the mirror databases: files under ``tables/migrations/<db>/``, applied once each.

Each database records what it has applied in ``schema_migrations``, so running
this again (every ``make run``, every mirror start) changes nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import aiomysql

from config.settings import Settings

__all__ = ["MIGRATIONS", "DATABASES", "migrate", "connect", "drop_databases"]

MIGRATIONS = Path(__file__).parent / "migrations"
DATABASES: tuple[str, ...] = ("orders_db", "inventory_db", "payment_db")


async def connect(settings: Settings) -> aiomysql.Connection:
    """One autocommit connection to the mirror's server, no database selected."""
    return await aiomysql.connect(
        host=settings.mysql_host, port=settings.mysql_port, user=settings.mysql_user,
        password=settings.mysql_password, autocommit=True, connect_timeout=5,
    )


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(settings: Settings, databases: tuple[str, ...] = DATABASES) -> list[str]:
    """Create the databases and apply missing migrations; returns what was applied."""
    applied: list[str] = []
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute("SET SESSION sql_notes = 0")  # "already exists" is the point of IF NOT EXISTS
            for logical in databases:
                db = settings.database(logical)
                await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}`")
                await cur.execute(
                    f"CREATE TABLE IF NOT EXISTS `{db}`.schema_migrations ("
                    " name VARCHAR(255) NOT NULL PRIMARY KEY,"
                    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))")
                await cur.execute(f"SELECT name FROM `{db}`.schema_migrations")
                done = {row[0] for row in await cur.fetchall()}
                for path in sorted((MIGRATIONS / logical).glob("*.sql")):
                    if path.name in done:
                        continue
                    await cur.execute(f"USE `{db}`")
                    for statement in _statements(path.read_text()):
                        await cur.execute(statement)
                    await cur.execute(f"INSERT IGNORE INTO `{db}`.schema_migrations (name) VALUES (%s)",
                                      (path.name,))
                    applied.append(f"{db}/{path.name}")
    finally:
        conn.close()
    return applied


async def drop_databases(settings: Settings, databases: tuple[str, ...] = DATABASES) -> None:
    """Drop this deployment's mirror databases (tests, bench runs and rebuilds clean up with it)."""
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            with warnings.catch_warnings():  # "IF EXISTS" of one that does not: a note, not news
                warnings.simplefilter("ignore")
                for logical in databases:
                    await cur.execute(f"DROP DATABASE IF EXISTS `{settings.database(logical)}`")
    finally:
        conn.close()
