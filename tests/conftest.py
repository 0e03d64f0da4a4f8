"""Shared fixtures: one real platform per test session (Tansu, every worker, simulators).

Everything is isolated from ``make run`` and from other sessions: free ports, a
unique app id prefix (consumer groups), its own MySQL databases and Redis keys,
and a temporary data, log and mail folder.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from config.settings import SERVICES, Settings
from dev.broker import free_port
from dev.platform import Platform
from tables.schema import DATABASES, connect


def platform_env(tmp: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    env = {
        "KAFKA_BROKER": f"kafka://127.0.0.1:{free_port()}",
        "APP_ID_PREFIX": f"test-{tag}",
        "MYSQL_DB_PREFIX": f"t{tag}_",
        "REDIS_KEY_PREFIX": f"test-{tag}",
        "DATA_DIR": str(tmp / "data"),
        "LOG_DIR": str(tmp / "log"),
        "MAIL_DIR": str(tmp / "mail"),
        "SMTP_PORT": str(free_port()),
        "UPI_GATEWAY_URL": f"http://127.0.0.1:{free_port()}",
        "BROKER_SESSION_TIMEOUT": "6",
    }
    for service in SERVICES:
        env[f"{service.upper()}_URL"] = f"http://127.0.0.1:{free_port()}"
    return env


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform as real processes, started once per test session."""
    tmp = tmp_path_factory.mktemp("platform")
    p = Platform(env=platform_env(tmp), start_broker=True)
    try:
        p.start()
        yield p
    finally:
        p.stop()
        asyncio.run(_drop_databases(p.settings))


async def _drop_databases(settings: Settings) -> None:
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            for db in DATABASES:
                await cur.execute(f"DROP DATABASE IF EXISTS `{settings.database(db)}`")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def settings(platform: Platform) -> Settings:
    return platform.settings


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session
