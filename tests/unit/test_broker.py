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
