"""The local Apache Kafka broker of ``make run``, the tests and the bench: one KRaft node, or three.

The jars are a Maven dependency (``dev/kafka/pom.xml``): ``make kafka`` (run by ``make run``,
``make test`` and ``make bench``) copies them once into ``KAFKA_LIBS``, a cache outside the
repo. The node is broker and controller at once, on the machine's Java 17, its log in the
process's stdout. Its storage is formatted with a new cluster id the first time only, so a
broker started again on the same folder keeps every topic, offset and changelog.

``make chaos`` runs a :class:`KafkaCluster` instead: three such nodes, each broker and controller,
one quorum of three voters, the broker's own topics on three replicas with two in sync, so one
node can be killed and brought back under load while nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["KafkaNode", "KafkaCluster", "BrokerUnavailable", "wait_for_port", "free_port", "KAFKA_DIR"]

#: the pom and the broker's log4j2 configuration
KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
#: the JVM's heap: Kafka's own scripts default to 1 GiB fixed; a shop's test broker needs less
DEFAULT_HEAP = "-Xms256m -Xmx1g"


class BrokerUnavailable(RuntimeError):
    """The local broker cannot start here; the message says what is missing and how to get it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0, alive: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts TCP connections on ``host:port`` (fails fast if ``alive`` exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if alive is not None and alive.poll() is not None:
                raise BrokerUnavailable(f"the process for {host}:{port} exited with {alive.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.05)


def java() -> str:
    """The ``java`` of ``JAVA_HOME``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not Path(found).exists():
        raise BrokerUnavailable("no Java for the local Kafka broker: install Java 17 "
                                "(apt-get install -y openjdk-17-jre-headless) or set KAFKA_BROKER to a running one")
    return found


@dataclass(frozen=True)
class KafkaNode:
    """One KRaft node: where it listens, where it keeps its log, which jars run it, and its quorum.

    Alone (no ``voters``) it is a single-node cluster; in a :class:`KafkaCluster` it is one of its voters."""

    host: str
    port: int
    storage: Path  # the broker's log (``log.dirs``): topics, offsets, the cluster's metadata
    libs: Path  # the jars Maven fetched (``KAFKA_LIBS``)
    node_id: int = 1
    voters: tuple[tuple[int, int], ...] = ()  # (node id, controller port) of every voter; () = this node alone

    @property
    def formatted(self) -> bool:
        return (self.storage / "meta.properties").exists()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def cluster_id(self) -> str | None:
        """The cluster id its storage was formatted with (None if it is new)."""
        if not self.formatted:
            return None
        for line in (self.storage / "meta.properties").read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
        return None

    def properties(self, controller_port: int) -> str:
        """``server.properties``: broker and controller at once, no auto-creation (bootstrap creates every
        topic with the partition count the apps use); the broker's own topics on as many replicas as the
        cluster has nodes, up to three, two of them in sync where there are three."""
        h = self.host
        voters = self.voters or ((self.node_id, controller_port),)
        replicas, min_isr = min(len(voters), 3), min(len(voters), 2)
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={self.node_id}",
            "controller.quorum.voters=" + ",".join(f"{n}@{h}:{p}" for n, p in voters),
            f"listeners=PLAINTEXT://{h}:{self.port},CONTROLLER://{h}:{controller_port}",
            f"advertised.listeners=PLAINTEXT://{h}:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.storage}",
            f"offsets.topic.replication.factor={replicas}",
            "offsets.topic.num.partitions=10",  # the default 50 only slows the first group join here
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={min_isr}",
            "transaction.state.log.num.partitions=10",
            f"share.coordinator.state.topic.replication.factor={replicas}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            f"min.insync.replicas={min_isr}",
            "group.initial.rebalance.delay.ms=0",  # a worker joins at once; tests start many groups
            # the controller's no-op metadata record when idle: every 500 ms by default, which was half
            # of an idle node's CPU here (4.0% and 3.4% of a core -> 1.9% and 2.4%); a lone node has no
            # other voter or broker that needs its log to move (voters of a cluster keep the default)
            *(["metadata.max.idle.interval.ms=10000"] if len(voters) == 1 else []),
            # a node killed in a cluster leads partitions nobody can write (acks=all) or read until the
            # controller fences it, after broker.session.timeout.ms (9 s by default): chaos saw every
            # broker kill stall the platform that long. Nodes on one host heartbeat within milliseconds
            *(["broker.session.timeout.ms=3000", "broker.heartbeat.interval.ms=500"] if len(voters) > 1 else []),
            "auto.create.topics.enable=false",
            "log.retention.ms=-1",  # catalog topics are the analysts' record; changelogs are compacted
            "",
        ])

    def _jvm(self, main: str, *args: str) -> list[str]:
        if not any(self.libs.glob("kafka_2.13-*.jar")):
            raise BrokerUnavailable(f"no Kafka jars in {self.libs}: `make kafka` has Maven fetch them "
                                    "(needs mvn: apt-get install -y maven)")
        heap = os.environ.get("KAFKA_HEAP_OPTS", DEFAULT_HEAP).split()
        return [java(), *heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
                "-cp", f"{self.libs}/*", main, *args]

    def spawn(self, log: Path, cluster_id: str | None = None) -> tuple[subprocess.Popen[bytes], bool]:
        """Start the node's process, formatting its storage first if it is new (with ``cluster_id``, or a
        new one); does not wait. Returns the process and whether the storage was formatted now."""
        log.parent.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.storage.parent / f"{self.storage.name}.properties"
        own_port = dict(self.voters).get(self.node_id) if self.voters else None
        config.write_text(self.properties(own_port or free_port()))
        fresh = not self.formatted
        with log.open("ab") as out:
            if fresh:
                done = subprocess.run(self._jvm("kafka.tools.StorageTool", "format", "--cluster-id",
                                                cluster_id or new_cluster_id(), "--config", str(config)),
                                      stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    raise BrokerUnavailable(f"formatting the Kafka storage {self.storage} failed; see {log}")
            proc = subprocess.Popen(self._jvm("kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        return proc, fresh

    def wait(self, proc: subprocess.Popen[bytes]) -> None:
        """Until the node serves metadata (an open port is not a running broker); kills it if it never does."""
        try:
            wait_for_port(self.host, self.port, timeout=120, alive=proc)
            asyncio.run(wait_for_metadata(self.bootstrap))
        except BaseException:
            proc.kill()
            proc.wait()
            raise

    def start(self, log: Path) -> tuple[subprocess.Popen[bytes], bool]:
        """Start the node and wait until it serves metadata. Returns the process and whether the storage
        was formatted now (a new, empty cluster)."""
        proc, fresh = self.spawn(log)
        self.wait(proc)
        return proc, fresh


@dataclass(frozen=True)
class KafkaCluster:
    """Several KRaft nodes on one machine, all voters, their logs in ``storage/node-<id>``."""

    nodes: tuple[KafkaNode, ...]

    @classmethod
    def on(cls, addresses: list[tuple[str, int]], storage: Path, libs: Path) -> "KafkaCluster":
        """A cluster listening on ``addresses`` (one node each, ids from 1). The controller ports are chosen
        once and kept in ``storage/voters``: a voter must be found where the others last saw it."""
        storage.mkdir(parents=True, exist_ok=True)
        kept = storage / "voters"
        ports = [int(p) for p in kept.read_text().split()] if kept.exists() else []
        if len(ports) != len(addresses):
            ports = [free_port() for _ in addresses]
            kept.write_text(" ".join(map(str, ports)))
        voters = tuple((i + 1, p) for i, p in enumerate(ports))
        return cls(tuple(KafkaNode(h, port, storage / f"node-{i + 1}", libs, i + 1, voters)
                         for i, (h, port) in enumerate(addresses)))

    def cluster_id(self) -> str:
        """The id the formatted nodes share, or a new one for a new cluster."""
        ids = sorted({i for i in (n.cluster_id() for n in self.nodes) if i is not None})
        if len(ids) > 1:
            raise BrokerUnavailable(f"the nodes' storages belong to different clusters {ids}")
        return ids[0] if ids else new_cluster_id()

    def start(self, log_dir: Path) -> tuple[list[subprocess.Popen[bytes]], bool]:
        """Every node at once (a quorum needs a majority before any serves), then wait for each.
        Returns the processes (in node order) and whether the cluster is new."""
        cluster_id = self.cluster_id()
        started = [n.spawn(log_dir / f"broker-{n.node_id}.log", cluster_id) for n in self.nodes]
        procs = [p for p, _ in started]
        try:
            for node, proc in zip(self.nodes, procs):
                node.wait(proc)
        except BaseException:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            raise
        return procs, all(fresh for _, fresh in started)

    def restart(self, node_id: int, log_dir: Path) -> subprocess.Popen[bytes]:
        """One node again, on its kept storage, until it serves metadata (the others form the quorum)."""
        node = self.nodes[node_id - 1]
        proc, _ = node.spawn(log_dir / f"broker-{node_id}.log", self.cluster_id())
        node.wait(proc)
        return proc


def new_cluster_id() -> str:
    """A cluster id as Kafka makes one (``Uuid.randomUuid``): 16 random bytes, URL-safe base64, never
    starting with "-" (the storage tool would take it for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


async def _poll_admin(bootstrap: str, timeout: float, interval: float,
                      unready: Callable[[Any], Awaitable[str | None]]) -> None:
    """Ask the cluster through a fresh admin client until `unready` has nothing left to report.

    A fresh client per attempt, because a node that is still starting (or a leader that is moving)
    leaves a client with stale connections; `unready` returns None when done, else what is missing."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout
    missing = "no answer"
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            found = await unready(admin)
            if found is None:
                return
            missing = found
        except Exception as exc:  # a node still starting, or a leader moving: ask again
            missing = f"{type(exc).__name__}: {exc}"
        finally:
            await admin.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{bootstrap} after {timeout:.0f}s: {missing}")
        await asyncio.sleep(interval)


async def wait_for_metadata(bootstrap: str, timeout: float = 60.0) -> None:
    """Until the broker answers a metadata request naming itself (an open port is not a running broker)."""
    async def unready(admin: Any) -> str | None:
        return None if (await admin.describe_cluster()).get("brokers") else "serves no metadata"

    await _poll_admin(bootstrap, timeout, 0.1, unready)


async def wait_for_in_sync(bootstrap: str, timeout: float = 180.0) -> None:
    """Until every partition of every topic has its whole replica set in sync.

    A node that serves metadata again after a crash is not yet a replica: it catches up first. Until
    it is back in every ISR, a second node down leaves partitions with one replica in sync, below
    min.insync.replicas, and writes with acks=all stop. "One node down at a time" means this wait."""
    async def unready(admin: Any) -> str | None:
        behind = [f"{t['topic']}[{p['partition']}]" for t in await admin.describe_topics()
                  for p in t["partitions"] if set(p["isr"]) != set(p["replicas"])]
        return f"replicas out of sync: {', '.join(behind[:10])}" if behind else None

    await _poll_admin(bootstrap, timeout, 0.2, unready)
