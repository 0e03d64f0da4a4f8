"""Shared fixtures: one real platform per test session (Tansu, every worker, simulators).

Everything is isolated from ``make run`` and from other sessions: free ports, a
unique app id prefix (consumer groups), its own MySQL databases and Redis keys,
and a temporary data, log and mail folder.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from config.settings import SERVICES, Settings
from dev.broker import free_port
from dev.faults import TcpProxy
from dev.platform import Platform
from tables.schema import DATABASES, connect
from tests.helpers import Megatron


def platform_env(tmp: Path, redis_port: int, mysql_port: int) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    env = {
        # Redis and MySQL through proxies the failure tests can cut
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MYSQL_PORT": str(mysql_port),
        # short bounds so failure paths end within a test's patience
        "PAYMENT_DEADLINE_S": "4",
        "PAYMENT_RETRY_BASE_S": "0.5",
        "UPI_TIMEOUT_S": "1",
        "ORDER_DEADLINE_S": "20",
        "SWEEP_INTERVAL_S": "0.5",
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


@dataclass
class Proxies:
    redis: TcpProxy
    mysql: TcpProxy


@pytest.fixture(scope="session")
def proxies() -> Iterator[Proxies]:
    """Cuttable TCP proxies in front of the machine's Redis and MariaDB."""
    p = Proxies(redis=TcpProxy("127.0.0.1", 6379, free_port()).start(),
                mysql=TcpProxy("127.0.0.1", 3306, free_port()).start())
    yield p
    p.redis.close()
    p.mysql.close()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, proxies: Proxies) -> Iterator[Platform]:
    """The whole platform as real processes, started once per test session."""
    tmp = tmp_path_factory.mktemp("platform")
    p = Platform(env=platform_env(tmp, proxies.redis.port, proxies.mysql.port), start_broker=True)
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


@pytest.fixture(scope="session")
def megatron(platform: Platform) -> Megatron:
    """The ``megatron`` command line, pointed at the test platform."""
    return Megatron(platform.env)
