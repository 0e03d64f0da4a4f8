"""The local broker's configuration, without starting it (the integration tests run on it)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from dev import broker
from dev.broker import BrokerUnavailable, KafkaNode, new_cluster_id


def test_cluster_ids_are_kafka_uuids_the_storage_tool_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    """One id in 64 starts with "-" by chance: the format step must never be handed such an id."""
    dashed = iter([b"\xf8" + bytes(15), b"\x01" * 16])  # urlsafe base64 of 0xf8... starts with "-"
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: type("U", (), {"bytes": next(dashed)})())
    cluster_id = new_cluster_id()
    assert not cluster_id.startswith("-") and len(cluster_id) == 22
    assert base64.urlsafe_b64decode(cluster_id + "==") == b"\x01" * 16


def test_one_node_is_broker_and_controller_with_single_replica_internal_topics(tmp_path: Path) -> None:
    props = dict(line.split("=", 1) for line in KafkaNode("127.0.0.1", 19092, tmp_path / "log", tmp_path)
                 .properties(19093).splitlines() if line)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(tmp_path / "log")
    assert props["auto.create.topics.enable"] == "false", "bootstrap creates every topic with its partitions"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert props[key] == "1", f"{key}: one broker cannot hold more replicas"


def test_missing_jars_say_how_to_get_them(tmp_path: Path) -> None:
    node = KafkaNode("127.0.0.1", 19092, tmp_path / "log", tmp_path / "no-libs")
    with pytest.raises(BrokerUnavailable, match="make kafka"):
        node.start(tmp_path / "broker.log")


def test_a_cluster_of_three_is_one_quorum_with_replicated_internal_topics_and_stable_voter_ports(
        tmp_path: Path) -> None:
    """``make chaos``'s cluster: every node a voter at ports kept across starts, two replicas in sync."""
    addresses = [("127.0.0.1", 19092), ("127.0.0.1", 19094), ("127.0.0.1", 19096)]
    cluster = broker.KafkaCluster.on(addresses, tmp_path / "kafka", tmp_path)
    assert broker.KafkaCluster.on(addresses, tmp_path / "kafka", tmp_path) == cluster, "voters where last seen"
    voters = {n.node_id: dict(n.voters)[n.node_id] for n in cluster.nodes}
    for node in cluster.nodes:
        props = dict(line.split("=", 1) for line in node.properties(voters[node.node_id]).splitlines() if line)
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == ",".join(f"{i}@127.0.0.1:{p}" for i, p in sorted(voters.items()))
        assert props["log.dirs"] == str(tmp_path / "kafka" / f"node-{node.node_id}")
        assert (props["offsets.topic.replication.factor"], props["min.insync.replicas"]) == ("3", "2")
        assert "metadata.max.idle.interval.ms" not in props, "voters need the controller's log to move"
        assert (props["broker.session.timeout.ms"], props["broker.heartbeat.interval.ms"]) == ("3000", "500"), \
            "a killed node is fenced, and its partitions led elsewhere, within 3 s"
    (tmp_path / "kafka" / "node-2").mkdir(parents=True)
    (tmp_path / "kafka" / "node-2" / "meta.properties").write_text("version=1\ncluster.id=abc\nnode.id=2\n")
    assert cluster.cluster_id() == "abc", "a node formatted again joins the cluster it belongs to"
