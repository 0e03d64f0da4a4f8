"""Shared fixtures: one real platform per test session (Apache Kafka, every worker, simulators).

Everything is isolated from ``make run`` and from other sessions: free ports (the broker's
too), a unique app id prefix (consumer groups), its own MySQL databases and Redis keys,
and a temporary broker log, data, log and mail folder. MariaDB and Redis are the ones at
the configured addresses; where none answers, private ones are started for the session.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest
from yarl import URL

from config.settings import Settings
from dev.broker import free_port
from dev.faults import TcpProxy
from dev.platform import Platform, isolated_env, start_stores
from dev.stores import stop_store
from tables.schema import drop_databases
from tests.helpers import Megatron


def platform_env(tmp: Path, redis_port: int, mysql_port: int) -> dict[str, str]:
    return {
        **isolated_env(tmp, "test"),
        # Redis and MySQL through proxies the failure tests can cut
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MYSQL_PORT": str(mysql_port),
        # short bounds so failure paths end within a test's patience
        "PAYMENT_DEADLINE_S": "4",
        "PAYMENT_RETRY_BASE_S": "0.5",
        "UPI_TIMEOUT_S": "1",
        "ORDER_DEADLINE_S": "20",
        "SWEEP_INTERVAL_S": "0.5",
        "BROKER_SESSION_TIMEOUT": "6",
    }


@dataclass
class Proxies:
    redis: TcpProxy
    mysql: TcpProxy


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """MariaDB and Redis at the default addresses: the machine's, or private ones for this session."""
    defaults = Settings()
    started = start_stores(defaults, tmp_path_factory.mktemp("stores"))
    yield defaults
    for proc in started:
        stop_store(proc)


@pytest.fixture(scope="session")
def proxies(stores: Settings) -> Iterator[Proxies]:
    """Cuttable TCP proxies in front of Redis and MariaDB."""
    redis_url = URL(stores.redis_url)
    p = Proxies(redis=TcpProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379, free_port()).start(),
                mysql=TcpProxy(stores.mysql_host, stores.mysql_port, free_port()).start())
    yield p
    p.redis.close()
    p.mysql.close()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, proxies: Proxies) -> Iterator[Platform]:
    """The whole platform as real processes, started once per test session."""
    tmp = tmp_path_factory.mktemp("platform")
    p = Platform(env=platform_env(tmp, proxies.redis.port, proxies.mysql.port), start_broker=True, own_stores=False)
    try:
        p.start()
        yield p
    finally:
        p.stop()
        asyncio.run(drop_databases(p.settings))


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
