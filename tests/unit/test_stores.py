"""Private MariaDB and Redis (``dev/stores.py``): started from the installed server binaries when
nothing answers, they let the configured account in over TCP, keep their data across a restart,
and stay out of the way of a server that already answers.

Always on free ports and in temporary dirs (never 3306/6379: the machine's own servers may be
there). The tests that start servers are ``integration``; they skip when the binaries are not
installed, except in CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pymysql
import pytest
import redis

import dev.stores as stores
from config.settings import Settings
from dev.broker import free_port
from dev.stores import StoreUnavailable, ensure_mysql, ensure_redis, find_binary, stop_store


PACKAGES = {"mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server", "redis-server": "redis-server"}


def need(*binaries: str) -> None:
    """Skip without the server binaries on a developer's machine; in CI they must be there."""
    missing = [name for name in binaries if find_binary(name) is None]
    if missing:
        packages = " ".join(sorted({PACKAGES[name] for name in missing}))
        why = f"not installed: {', '.join(missing)} (apt-get install -y {packages})"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def query(settings: Settings, sql: str, *, host: str | None = None, database: str | None = None) -> list[Any]:
    """Run one statement as the configured account over TCP and return its rows."""
    conn = pymysql.connect(host=host or settings.mysql_host, port=settings.mysql_port, user=settings.mysql_user,
                           password=settings.mysql_password, database=database, connect_timeout=5,
                           read_timeout=30, autocommit=True)
    with conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


# --- MariaDB -------------------------------------------------------------------------------------


@dataclass
class PrivateMariaDB:
    """One data dir and port for the module; at most one server on them at a time."""

    data_dir: Path
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    running_as: Settings | None = None

    def settings(self, user: str = "root", password: str = "") -> Settings:
        return Settings(mysql_host="127.0.0.1", mysql_port=self.port, mysql_user=user, mysql_password=password)

    def start(self, settings: Settings | None = None) -> Settings:
        """The server for ``settings`` (root, no password by default), started if it is not the running one."""
        settings = settings or self.settings()
        if self.proc is not None and self.proc.poll() is None and self.running_as == settings:
            return settings
        self.stop()
        proc = ensure_mysql(settings, self.data_dir, self.log)
        assert proc is not None, "nothing answered on the free port, so a private MariaDB should have started"
        self.proc, self.running_as = proc, settings
        return settings

    def stop(self) -> None:
        if self.proc is not None:
            stop_store(self.proc)
            assert self.proc.returncode is not None
            self.proc = None


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    """The data dir is initialised once for the module (that takes seconds); tests restart on it."""
    need("mariadbd", "mariadb-install-db")
    base = tmp_path_factory.mktemp("mariadb")
    db = PrivateMariaDB(data_dir=base / "data", log=base / "mariadb.log", port=free_port())
    yield db
    db.stop()


@pytest.mark.integration
def test_private_mariadb_lets_root_in_over_tcp(mariadb: PrivateMariaDB) -> None:
    settings = mariadb.start()
    (user, datadir, version), = query(settings, "SELECT CURRENT_USER(), @@datadir, VERSION()")
    assert user.startswith("root@")
    assert Path(datadir) == mariadb.data_dir  # ours, not a server elsewhere on the machine
    assert "MariaDB" in version
    assert (mariadb.data_dir / "mysqld.sock").is_socket()


@pytest.mark.integration
def test_ensure_mysql_leaves_an_answering_server_alone(mariadb: PrivateMariaDB, tmp_path: Path) -> None:
    settings = mariadb.start()
    assert ensure_mysql(settings, tmp_path / "other", tmp_path / "other.log") is None
    assert not (tmp_path / "other").exists()
    assert mariadb.proc is not None and mariadb.proc.poll() is None


@pytest.mark.integration
def test_private_mariadb_keeps_its_data_across_a_restart(mariadb: PrivateMariaDB) -> None:
    settings = mariadb.start()
    query(settings, "CREATE DATABASE IF NOT EXISTS keep_db")
    query(settings, "CREATE OR REPLACE TABLE keep_db.orders (order_id VARCHAR(40) PRIMARY KEY, status VARCHAR(20))")
    query(settings, "INSERT INTO keep_db.orders VALUES ('ravi-1', 'CONFIRMED')")

    mariadb.stop()
    with pytest.raises(pymysql.OperationalError):
        query(settings, "SELECT 1")  # really gone, not still answering
    mariadb.start(settings)

    assert query(settings, "SELECT order_id, status FROM orders", database="keep_db") == [("ravi-1", "CONFIRMED")]


@pytest.mark.integration
def test_private_mariadb_creates_the_configured_account(mariadb: PrivateMariaDB) -> None:
    shop = mariadb.settings(user="shop", password="it's s3cret")
    mariadb.stop()
    mariadb.start(shop)

    for host in ("127.0.0.1", "localhost"):
        assert query(shop, "SELECT CURRENT_USER()", host=host)[0][0].startswith("shop@")
    query(shop, "CREATE DATABASE shop_probe_db")  # every privilege, as root has
    query(shop, "DROP DATABASE shop_probe_db")
    with pytest.raises(pymysql.OperationalError) as denied:
        query(mariadb.settings(user="shop", password="wrong"), "SELECT 1")
    assert denied.value.args[0] == 1045
    assert query(mariadb.settings(), "SELECT CURRENT_USER()")[0][0].startswith("root@")  # root untouched

    mariadb.stop()
    mariadb.start(shop)  # the account exists now: a second start is no different
    assert query(shop, "SELECT CURRENT_USER()")[0][0].startswith("shop@")


@pytest.mark.integration
def test_private_mariadb_with_a_root_password(mariadb: PrivateMariaDB) -> None:
    root = mariadb.settings(password="r00t pw")
    mariadb.stop()
    try:
        mariadb.start(root)
        assert query(root, "SELECT CURRENT_USER()")[0][0].startswith("root@")
        mariadb.stop()
        mariadb.start(root)  # root's socket login now needs that password too
        assert query(root, "SELECT 1") == [(1,)]
    finally:
        if mariadb.proc is not None:  # back to the default account for the other tests
            for host in ("127.0.0.1", "::1", "localhost"):
                query(root, f"ALTER USER 'root'@'{host}' IDENTIFIED BY ''")
    mariadb.stop()
    mariadb.start()
    assert query(mariadb.settings(), "SELECT 1") == [(1,)]


# --- Redis ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_private_redis_keeps_a_cart_across_a_restart(tmp_path: Path) -> None:
    need("redis-server")
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings, data, log = Settings(redis_url=url), tmp_path / "redis", tmp_path / "redis.log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        first = ensure_redis(settings, data, log)
        assert first is not None
        procs.append(first)
        with redis.Redis.from_url(url) as client:
            assert client.ping()
            client.hset("megatron:cart:ravi", mapping={"IPHONE15": 1, "LAPTOP": 1})
            assert client.config_get("dir")["dir"] == str(data)
        assert ensure_redis(settings, tmp_path / "other", log) is None  # it answers: left alone
        assert not (tmp_path / "other").exists()

        stop_store(first)
        assert first.returncode is not None
        with pytest.raises(redis.ConnectionError), redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            client.ping()

        second = ensure_redis(settings, data, log)
        assert second is not None
        procs.append(second)
        with redis.Redis.from_url(url) as client:
            assert client.hgetall("megatron:cart:ravi") == {b"IPHONE15": b"1", b"LAPTOP": b"1"}
            assert client.config_get("appendonly")["appendonly"] == "yes"
    finally:
        for proc in procs:
            stop_store(proc)


@pytest.mark.integration
def test_private_redis_takes_the_password_of_its_url(tmp_path: Path) -> None:
    need("redis-server")
    port = free_port()
    url = f"redis://:c%40rt@127.0.0.1:{port}/0"
    proc = ensure_redis(Settings(redis_url=url), tmp_path / "redis", tmp_path / "redis.log")
    assert proc is not None
    try:
        with redis.Redis.from_url(url) as client:
            assert client.ping()
        with pytest.raises(redis.AuthenticationError), redis.Redis.from_url(f"redis://127.0.0.1:{port}/0") as client:
            client.ping()
    finally:
        stop_store(proc)


# --- refusals (no server is started) -------------------------------------------------------------


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No server binary anywhere the lookup goes."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(stores, "SEARCH_DIRS", ())


def test_without_mariadbd_ensure_mysql_says_how_to_install_it(nothing_installed: None, tmp_path: Path) -> None:
    settings = Settings(mysql_host="127.0.0.1", mysql_port=free_port())
    with pytest.raises(StoreUnavailable, match=r"mariadbd .*apt-get install -y mariadb-server") as missing:
        ensure_mysql(settings, tmp_path / "data", tmp_path / "log")
    assert "\n" not in str(missing.value)
    assert not (tmp_path / "data").exists()


def test_without_redis_server_ensure_redis_says_how_to_install_it(nothing_installed: None, tmp_path: Path) -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable, match=r"redis-server .*apt-get install -y redis-server") as missing:
        ensure_redis(settings, tmp_path / "data", tmp_path / "log")
    assert "\n" not in str(missing.value)


def test_no_private_server_for_a_remote_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(stores, "PROBE_TIMEOUT", 0.3)
    remote = "192.0.2.1"  # TEST-NET-1: never routed, so nothing answers
    with pytest.raises(StoreUnavailable, match="loopback") as mysql:
        ensure_mysql(Settings(mysql_host=remote, mysql_port=free_port()), tmp_path / "m", tmp_path / "log")
    with pytest.raises(StoreUnavailable, match="loopback") as redis_:
        ensure_redis(Settings(redis_url=f"redis://{remote}:{free_port()}/0"), tmp_path / "r", tmp_path / "log")
    assert "\n" not in str(mysql.value) + str(redis_.value)


def test_no_private_server_on_a_port_something_else_holds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A listener that never speaks: neither hangs on it nor tries to start a server on its port."""
    monkeypatch.setattr(stores, "PROBE_TIMEOUT", 0.3)
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        port = mute.getsockname()[1]
        with pytest.raises(StoreUnavailable, match="something"):
            ensure_mysql(Settings(mysql_host="127.0.0.1", mysql_port=port), tmp_path / "m", tmp_path / "log")
        with pytest.raises(StoreUnavailable, match="something"):
            ensure_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/0"), tmp_path / "r", tmp_path / "log")
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()


def fake_binary(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_a_server_that_exits_at_start_fails_at_once_with_its_log(nothing_installed: None, tmp_path: Path) -> None:
    """No waiting out the readiness timeout for a server that is already gone."""
    bin_dir = Path(os.environ["PATH"])
    fake_binary(bin_dir, "mariadb-install-db", 'for a; do case $a in --datadir=*) /bin/mkdir -p "${a#--datadir=}/mysql";; esac; done')
    fake_binary(bin_dir, "mariadbd", "echo 'cannot lock ibdata1'; exit 3")
    fake_binary(bin_dir, "redis-server", "echo 'bad config'; exit 4")
    with pytest.raises(StoreUnavailable, match=r"(?s)exited with code 3.*cannot lock ibdata1"):
        ensure_mysql(Settings(mysql_host="127.0.0.1", mysql_port=free_port()), tmp_path / "m", tmp_path / "m.log")
    assert (tmp_path / "m" / "mysql").is_dir()  # initialised, and kept for the next start
    with pytest.raises(StoreUnavailable, match=r"(?s)exited with code 4.*bad config"):
        ensure_redis(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"), tmp_path / "r", tmp_path / "r.log")


def test_a_failed_initialisation_leaves_no_data_dir(nothing_installed: None, tmp_path: Path) -> None:
    """Else the next start would take a half-made data dir for a finished one."""
    bin_dir = Path(os.environ["PATH"])
    fake_binary(bin_dir, "mariadb-install-db",
                'for a; do case $a in --datadir=*) /bin/mkdir -p "${a#--datadir=}/mysql";; esac; done; echo disk full; exit 1')
    fake_binary(bin_dir, "mariadbd", "exit 0")
    with pytest.raises(StoreUnavailable, match=r"(?s)mariadb-install-db failed \(exit 1\).*disk full"):
        ensure_mysql(Settings(mysql_host="127.0.0.1", mysql_port=free_port()), tmp_path / "m", tmp_path / "m.log")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-bin", "m.log"]
