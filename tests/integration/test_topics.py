"""The bootstrap's topics on the real broker: changelogs that Kafka can compact, configs kept true."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from config.kafka import admin_client, align_topic_configs
from config.settings import Settings
from dev.bootstrap import platform_topics
from tables.catalog import changelog_topics

pytestmark = pytest.mark.integration


async def topic_configs(settings: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    async with admin_client(settings) as admin:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    return {r[3]: {e[0]: e[1] for e in r[4]} for response in responses for r in response.resources}


async def test_every_changelog_rolls_its_segments_so_the_cleaner_can_compact_it(settings: Settings) -> None:
    names = changelog_topics(settings)
    configs = await topic_configs(settings, names)
    assert set(configs) == set(names)
    for name in names:
        assert configs[name]["cleanup.policy"] == "compact", name
        assert configs[name]["segment.ms"] == str(settings.changelog_segment_ms), name
        assert float(configs[name]["min.cleanable.dirty.ratio"]) == 0.1, name


async def test_a_topic_an_older_bootstrap_created_is_given_the_current_configs(settings: Settings) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}-orders-changelog"
    async with admin_client(settings) as admin:
        await admin.create_topics([NewTopic(name, 1, settings.topic_replication_factor,
                                            topic_configs={"cleanup.policy": "compact"})])
    try:
        wanted = {name: next(c for n, c in platform_topics(settings).items() if n in changelog_topics(settings))}
        before = (await topic_configs(settings, [name]))[name]
        assert before["segment.ms"] != str(settings.changelog_segment_ms)

        assert await align_topic_configs(settings, wanted) == [name]
        after = (await topic_configs(settings, [name]))[name]
        assert {k: after[k] for k in wanted[name]} == wanted[name]
        assert after["min.insync.replicas"] == str(settings.topic_min_insync_replicas)
        assert await align_topic_configs(settings, wanted) == []  # nothing left to change: nothing sent
    finally:
        async with admin_client(settings) as admin:
            await admin.delete_topics([name])
