"""Start and stop the whole platform as real processes: ``make run`` and the tests use this one launcher.

Order: MariaDB and Redis (private instances from the installed servers, only where nothing
answers at the configured address), the Apache Kafka broker (unless told to use another),
bootstrap (topics, MySQL schema, seed), UPI simulator and mail sink, then one worker per
service; it waits for each to be ready instead of sleeping.

Everything is kept across restarts: the broker's log, the tables' RocksDB folders, the MySQL
mirror. A broker whose storage was just formatted is a new shop, so the tables and the mirror
of the old one are dropped with it; they could never agree with an empty log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from config.kafka import bootstrap_servers
from config.settings import SERVICES, Settings
from dev.broker import KafkaCluster, KafkaNode, free_port, wait_for_port
from dev.stores import ensure_mysql, ensure_redis, stop_store
from tables.schema import drop_databases

__all__ = ["Platform", "Proc", "ROOT", "isolated_env", "start_stores"]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: private MariaDB and Redis data, when this machine runs none (``make clean`` removes it with the rest of var/)
STORES = ROOT / "var"
INFRA = ("upi-gateway", "mail-sink")  # stopped after the workers, then the broker's nodes last


def is_broker(name: str) -> bool:
    """``broker``, or ``broker-<id>`` for a node of a local cluster."""
    return name == "broker" or name.startswith("broker-")


def isolated_env(tmp: Path, tag: str) -> dict[str, str]:
    """Settings of a platform nobody else uses: free ports, its own consumer groups, MySQL
    databases and Redis keys, and folders under ``tmp`` (tests and the bench start one)."""
    unique = f"{tag}{uuid.uuid4().hex[:8]}"
    env = {
        "KAFKA_BROKER": f"kafka://127.0.0.1:{free_port()}",
        "KAFKA_STORAGE": str(tmp / "kafka"),
        "APP_ID_PREFIX": f"{tag}-{unique}",
        "MYSQL_DB_PREFIX": f"{unique}_",
        "REDIS_KEY_PREFIX": f"{tag}-{unique}",
        "DATA_DIR": str(tmp / "data"),
        "LOG_DIR": str(tmp / "log"),
        "MAIL_DIR": str(tmp / "mail"),
        "SMTP_PORT": str(free_port()),
        "UPI_GATEWAY_URL": f"http://127.0.0.1:{free_port()}",
        # every shopper of a test or bench calls from 127.0.0.1: the per-address limits would count them
        # all as one client; a shopper keeps the per-second limit (tests poll an order for minutes, so
        # not the per-minute one); the sign-in limit per email stays as an operator gets it
        "RATE_LIMIT_ADDRESS": "1000000/second",
        "RATE_LIMIT_SHOPPER": "20/second",
        "RATE_LIMIT_SESSION": "1000000/second",
        "RATE_LIMIT_SIGNIN_ADDRESS": "1000000/second",
    }
    for service in SERVICES:
        env[f"{service.upper()}_URL"] = f"http://127.0.0.1:{free_port()}"
    return env


def start_stores(settings: Settings, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    """MariaDB and Redis where ``settings`` say; started here (data under var/) only where none answers.
    Returns the processes started, for :func:`dev.stores.stop_store`."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, ensure in (("mariadb", ensure_mysql), ("redis", ensure_redis)):
            proc = ensure(settings, STORES / name, log_dir / f"{name}.log")
            if proc is not None:
                started.append(proc)
    except BaseException:
        for proc in started:  # not left running in its own session
            stop_store(proc)
        raise
    return started


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    health: str | None = None

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Platform:
    """The processes of one running platform, configured by environment variables."""

    env: dict[str, str]
    start_broker: bool = True
    procs: dict[str, Proc] = field(default_factory=dict)
    own_stores: bool = True  # False: the caller provides MariaDB and Redis (the tests, behind their proxies)
    stores: list[subprocess.Popen[bytes]] = field(default_factory=list)  # private MariaDB/Redis started here
    fresh_broker: bool = False  # the broker's storage was formatted by this start

    @property
    def settings(self) -> Settings:
        return Settings(**{k.lower(): v for k, v in self.env.items() if k.lower() in Settings.model_fields})

    @property
    def log_dir(self) -> Path:
        return self.settings.log_dir

    def _spawn(self, name: str, argv: list[str], health: str | None = None,
               extra_env: dict[str, str] | None = None) -> Proc:
        log = self.log_dir / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **self.env, **(extra_env or {})},
                                 stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        proc = Proc(name, popen, log, health)
        self.procs[name] = proc
        return proc

    def broker_addresses(self) -> list[tuple[str, int]]:
        """The ``host:port`` of every node ``KAFKA_BROKER`` names."""
        return [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in bootstrap_servers(self.settings).split(",")]

    def cluster(self) -> KafkaCluster:
        """The local cluster of a ``KAFKA_BROKER`` naming several nodes (``make chaos`` runs three)."""
        s = self.settings
        return KafkaCluster.on(self.broker_addresses(), s.kafka_storage.absolute(), s.kafka_libs.expanduser())

    def start_kafka(self) -> None:
        """The local broker on ``KAFKA_BROKER``'s address, its log in ``KAFKA_STORAGE``; a cluster of one
        node per address where it names several (processes ``broker-1``, ``broker-2``, ...)."""
        s = self.settings
        addresses = self.broker_addresses()
        if len(addresses) > 1:
            procs, self.fresh_broker = self.cluster().start(self.log_dir)
            for i, popen in enumerate(procs, 1):
                self.procs[f"broker-{i}"] = Proc(f"broker-{i}", popen, self.log_dir / f"broker-{i}.log")
            return
        (host, port), = addresses
        node = KafkaNode(host, port, s.kafka_storage.absolute(), s.kafka_libs.expanduser())
        log = self.log_dir / "broker.log"
        popen, self.fresh_broker = node.start(log)
        self.procs["broker"] = Proc("broker", popen, log)

    def restart_broker(self, node_id: int) -> None:
        """A node of the local cluster, killed before, started again on its storage; back when it serves."""
        name = f"broker-{node_id}"
        popen = self.cluster().restart(node_id, self.log_dir)
        self.procs[name] = Proc(name, popen, self.log_dir / f"{name}.log")

    def start(self) -> None:
        s = self.settings
        if self.own_stores:
            self.stores += start_stores(s, self.log_dir)
        if self.start_broker:
            self.start_kafka()
            if self.fresh_broker:  # a new, empty log: the old tables and mirror belong to another shop
                shutil.rmtree(s.data_dir, ignore_errors=True)
                asyncio.run(drop_databases(s))
        s.data_dir.mkdir(parents=True, exist_ok=True)
        boot = self._spawn("bootstrap", [sys.executable, "-m", "dev.bootstrap"])
        if boot.popen.wait(timeout=120) != 0:
            raise RuntimeError(f"bootstrap failed:\n{boot.tail()}")
        del self.procs["bootstrap"]
        self.start_gateway_simulator()
        self._spawn("mail-sink", [sys.executable, "-m", "dev.mail_sink"])
        wait_for_port(s.smtp_host, s.smtp_port)
        self.wait_ready("upi-gateway")
        for service in SERVICES:
            self.start_service(service)
        for service in SERVICES:
            self.wait_ready(service)

    def start_gateway_simulator(self) -> Proc:
        """The UPI simulator; its ledger is a file in the data dir, so a restart keeps every payment."""
        return self._spawn("upi-gateway", [sys.executable, "-m", "dev.upi_gateway"],
                           f"{self.settings.upi_gateway_url}/health")

    def start_service(self, service: str, name: str | None = None, extra_env: dict[str, str] | None = None,
                      args: list[str] | None = None) -> Proc:
        """One worker of ``service``: ``faust -A agents.<service> worker``."""
        argv = [str(BIN / "faust"), "-A", f"agents.{service}", "worker", "-l", "info", *(args or [])]
        url = (extra_env or {}).get(f"{service.upper()}_URL") or self.settings.service_url(service)
        return self._spawn(name or service, argv, f"{url}/health", extra_env)

    def wait_ready(self, name: str, timeout: float = 120.0) -> None:
        """Until the process's ``/health`` answers 200; fails fast if the process dies."""
        proc = self.procs[name]
        assert proc.health is not None
        deadline = time.monotonic() + timeout
        while True:
            if not proc.alive:
                raise RuntimeError(f"{name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            try:
                with urllib.request.urlopen(proc.health, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {timeout:.0f}s:\n{proc.tail()}")
            time.sleep(0.1)

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        if proc.alive:
            os.killpg(proc.popen.pid, sig)

    def data_dir_of(self, service: str, url: str | None = None) -> Path:
        """The RocksDB folder of ``service``'s worker (one per worker: its web port tells them apart), the
        first one's or the one serving ``url``."""
        s = self.settings
        return s.data_dir / f"{s.app_id_prefix}-{service}-{(url or s.service_url(service)).rsplit(':', 1)[1]}"

    def kill_and_wipe(self, service: str) -> None:
        """SIGKILL the worker and delete its RocksDB, as a lost machine would: its restart rebuilds every
        table from the changelogs."""
        self.signal(service, signal.SIGKILL)
        self.procs.pop(service).popen.wait(10)
        datadir = self.data_dir_of(service)
        if not datadir.exists():
            raise FileNotFoundError(f"expected the worker's RocksDB under {datadir}")
        shutil.rmtree(datadir)

    def stop_proc(self, name: str, timeout: float = 20.0) -> int | None:
        """SIGTERM (a clean leave, no stalled rebalance), SIGKILL if it does not go in time."""
        proc = self.procs.pop(name)
        if proc.alive:
            os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        return proc.popen.returncode

    def stop(self) -> None:
        """Workers first, then simulators, the broker, and last the stores started here."""
        workers = [n for n in self.procs if n not in INFRA and not is_broker(n)]
        for name in workers:  # all at once: they leave their groups in parallel
            self.signal(name, signal.SIGTERM)
        brokers = [n for n in self.procs if is_broker(n)]
        for name in [*workers, *(n for n in INFRA if n in self.procs)]:
            self.stop_proc(name)
        for name in brokers:  # a cluster's nodes all at once: the last ones need no quorum to leave
            self.signal(name, signal.SIGTERM)
        for name in brokers:
            self.stop_proc(name, timeout=60)
        while self.stores:
            stop_store(self.stores.pop())
