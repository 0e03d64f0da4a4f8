"""The local Apache Kafka broker of ``make run``, the tests and the bench: one KRaft node.

The jars are a Maven dependency (``dev/kafka/pom.xml``): ``make kafka`` (run by ``make run``,
``make test`` and ``make bench``) copies them once into ``KAFKA_LIBS``, a cache outside the
repo. The node is broker and controller at once, on the machine's Java 17, its log in the
process's stdout. Its storage is formatted with a new cluster id the first time only, so a
broker started again on the same folder keeps every topic, offset and changelog.
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
from pathlib import Path

__all__ = ["KafkaNode", "BrokerUnavailable", "wait_for_port", "free_port", "KAFKA_DIR"]

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
    """One single-node KRaft cluster: where it listens, where it keeps its log, which jars run it."""

    host: str
    port: int
    storage: Path  # the broker's log (``log.dirs``): topics, offsets, the cluster's metadata
    libs: Path  # the jars Maven fetched (``KAFKA_LIBS``)

    @property
    def formatted(self) -> bool:
        return (self.storage / "meta.properties").exists()

    def properties(self, controller_port: int) -> str:
        """``server.properties``: one node, replication 1 for the broker's own topics, no auto-creation
        (bootstrap creates every topic with the partition count the apps use)."""
        h = self.host
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{h}:{controller_port}",
            f"listeners=PLAINTEXT://{h}:{self.port},CONTROLLER://{h}:{controller_port}",
            f"advertised.listeners=PLAINTEXT://{h}:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.storage}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",  # the default 50 only slows the first group join here
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=10",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",  # a worker joins at once; tests start many groups
            # the controller's no-op metadata record when idle: every 500 ms by default, which was half
            # of an idle node's CPU here (4.0% and 3.4% of a core -> 1.9% and 2.4%); a lone node has no
            # other voter or broker that needs its log to move
            "metadata.max.idle.interval.ms=10000",
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

    def start(self, log: Path) -> tuple[subprocess.Popen[bytes], bool]:
        """Start the node, formatting its storage first if it is new; wait until it serves metadata.

        Returns the process and whether the storage was formatted now (a new, empty cluster).
        """
        log.parent.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.storage.parent / f"{self.storage.name}.properties"
        config.write_text(self.properties(free_port()))
        fresh = not self.formatted
        with log.open("ab") as out:
            if fresh:
                cluster_id = new_cluster_id()
                done = subprocess.run(self._jvm("kafka.tools.StorageTool", "format", "--cluster-id", cluster_id,
                                                "--config", str(config)), stdout=out, stderr=subprocess.STDOUT)
                if done.returncode != 0:
                    raise BrokerUnavailable(f"formatting the Kafka storage {self.storage} failed; see {log}")
            proc = subprocess.Popen(self._jvm("kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            wait_for_port(self.host, self.port, timeout=120, alive=proc)
            asyncio.run(wait_for_metadata(f"{self.host}:{self.port}"))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return proc, fresh


def new_cluster_id() -> str:
    """A cluster id as Kafka makes one (``Uuid.randomUuid``): 16 random bytes, URL-safe base64, never
    starting with "-" (the storage tool would take it for an option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


async def wait_for_metadata(bootstrap: str, timeout: float = 60.0) -> None:
    """Until the broker answers a metadata request naming itself (an open port is not a running broker)."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            if (await admin.describe_cluster()).get("brokers"):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        finally:
            await admin.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker at {bootstrap} serves no metadata after {timeout:.0f}s")
        await asyncio.sleep(0.1)
