"""The topic and table catalogs say what the agents really do.

``streams/topics.py`` (who writes and who reads each topic) and ``tables/catalog.py`` (each
service's tables) are data the bootstrap, ``topics-check``, ``mirror-rebuild`` and the README
rely on without importing the services. Here every ``agents.<service>`` module is imported
and its app compared with them: the topics its agents read (their channels), the tables it
declares (``app.tables`` and the module's :class:`~tables.model_table.ModelTable`s) and the
topics its code sends to (a catalog topic passed to a call in the code the module reaches).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections import defaultdict
from types import ModuleType
from typing import Any, Iterator

import pytest

import streams.topics
from config.settings import SERVICES, Settings
from dev.bootstrap import platform_topics
from streams.topics import BY_NAME, CATALOG, TopicSpec, all_topic_names
from tables.catalog import MIRRORED, TABLES, changelog_topics, tables_of
from tables.model_table import ModelTable

#: the packages whose code a service runs (followed from its agent module to find what it sends)
PROJECT = ("agents", "web", "tables", "adapters", "config", "domain")
#: calls that make a channel to read from (an agent's), not a send
CHANNEL_CALLS = {"catalog_topic", "topics_of"}


@pytest.fixture(scope="module")
def modules() -> dict[str, ModuleType]:
    return {service: importlib.import_module(f"agents.{service}") for service in SERVICES}


def read_topics(module: ModuleType) -> set[str]:
    """The topics the agents of the module's app consume."""
    return {name for agent in module.app.agents.values() for name in agent.channel.topics}


def _resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    """What a name or ``module.attr`` in code stands for, in the globals of the module the code is in."""
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = scope.get(node.value.id)
        return getattr(owner, node.attr, None) if isinstance(owner, ModuleType) else None
    return None


def _sent_in(tree: ast.AST, scope: dict[str, Any], seen: set[int]) -> Iterator[TopicSpec]:
    """Catalog topics passed to a call (``app.emit(SPEC, ...)``, ``index.sweep(app, SPEC, ...)``) in
    ``tree`` and in the project functions and classes it names, followed through their own modules."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if callee in CHANNEL_CALLS:
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if isinstance(spec := _resolve(arg, scope), TopicSpec):
                    yield spec
        elif isinstance(node, (ast.Name, ast.Attribute)):
            target = _resolve(node, scope)
            if (inspect.isfunction(target) or inspect.isclass(target)) and id(target) not in seen \
                    and target.__module__.split(".")[0] in PROJECT and target.__name__ != "<lambda>":
                seen.add(id(target))
                source = ast.parse(textwrap.dedent(inspect.getsource(target)))
                yield from _sent_in(source, vars(inspect.getmodule(target)), seen)


def sent_topics(module: ModuleType) -> set[str]:
    """The catalog topics the code of the agent module (and what it calls of the project) sends to."""
    return {spec.name for spec in _sent_in(ast.parse(inspect.getsource(module)), vars(module), set())}


def test_the_readers_of_every_topic_are_the_services_whose_agents_consume_it(modules: dict[str, ModuleType]) -> None:
    readers: dict[str, set[str]] = defaultdict(set)
    for service, module in modules.items():
        for topic in read_topics(module):
            readers[topic].add(service)
    assert set(readers) <= set(BY_NAME), f"agents read topics outside the catalog: {set(readers) - set(BY_NAME)}"
    assert {t.name: set(t.readers) for t in CATALOG} == {t.name: readers[t.name] for t in CATALOG}, \
        "streams/topics.py TopicSpec.readers must list exactly the services whose agents read the topic"


def test_the_writer_of_every_topic_is_the_one_service_that_sends_to_it(modules: dict[str, ModuleType]) -> None:
    writers: dict[str, set[str]] = defaultdict(set)
    for service, module in modules.items():
        for topic in sent_topics(module):
            writers[topic].add(service)
    assert {t.name: {t.writer} for t in CATALOG} == {t.name: writers[t.name] for t in CATALOG}, \
        "streams/topics.py TopicSpec.writer must be the one service whose code sends to the topic"


def test_the_writers_are_found_in_the_views_too(modules: dict[str, ModuleType]) -> None:
    """The finder sees through what an agent module calls: the order service's create view
    (``web/orders.py``) sends the PlaceOrder commands, the notification view the NotifyOrder ones."""
    assert "order-commands" in sent_topics(modules["orders"])
    assert "notification-commands" in sent_topics(modules["notification"])
    assert sent_topics(modules["gateway"]) == set() and sent_topics(modules["cart"]) == set()


def test_a_topic_handed_to_any_call_is_a_send_and_an_agent_channel_is_not() -> None:
    code = ast.parse(textwrap.dedent("""
        @app.agent(app.topics_of(topics.ORDER_EVENTS, PAYMENT_EVENTS))
        async def fold(stream): ...
        deadlines.sweep(app, ORDER_COMMANDS, ExpireOrder)
        async def notify(): await app.emit(topic=topics.NOTIFICATION_COMMANDS)
    """))
    scope = {**vars(streams.topics), "topics": streams.topics}
    assert {spec.name for spec in _sent_in(code, scope, set())} == {"order-commands", "notification-commands"}


def test_every_table_of_every_service_is_its_catalog_entry(modules: dict[str, ModuleType]) -> None:
    for service, module in modules.items():
        app = module.app
        declared = {table.name: table for table in app.tables.values()}
        specs = {spec.name: spec for spec in tables_of(service)}
        assert list(declared) == list(specs), f"{service}: tables/catalog.py must list the tables its app declares"
        wrappers = {v.name: v for v in vars(module).values() if isinstance(v, ModelTable) and v.primary}
        views = [v for v in vars(module).values() if isinstance(v, ModelTable) and not v.primary]
        assert all(v.table is declared[v.name] for v in views), f"{service}: a view is of a table its app declares"
        reads = {BY_NAME[topic].key for topic in read_topics(module)}
        for name, spec in specs.items():
            table = declared[name]
            assert table.help == spec.help
            assert table.changelog_topic.get_topic_name() == spec.changelog(app.settings), \
                "TableSpec.changelog must be the name Faust gives the changelog"
            assert wrappers[name].model is spec.model
            assert (wrappers[name].mirror[1] if wrappers[name].mirror else None) is spec.mirror
            assert spec.key.split("/")[0] in reads, \
                f"{service}.{name}: a table is keyed like a stream its service reads (keys {reads})"


def test_every_table_belongs_to_a_service_and_only_mirrored_ones_have_a_mirror() -> None:
    assert {t.service for t in TABLES} <= set(SERVICES)
    assert len({(t.service, t.name) for t in TABLES}) == len(TABLES)
    assert [t.name for t in MIRRORED] == ["orders", "stock", "payments"]
    assert {t.mirror.database for t in MIRRORED if t.mirror} == {"orders_db", "inventory_db", "payment_db"}


def test_the_bootstrap_creates_the_topics_it_learned_from_the_apps_before(modules: dict[str, ModuleType]) -> None:
    """The same topics, configs and order as when the bootstrap imported every app to ask its tables."""
    settings = next(iter(modules.values())).app.settings
    from_apps = {name: {"retention.ms": "-1"} for name in all_topic_names()}
    for service in SERVICES:
        for table in modules[service].app.tables.values():
            from_apps[table.changelog_topic.get_topic_name()] = {
                "cleanup.policy": "compact", "segment.ms": str(settings.changelog_segment_ms),
                "min.cleanable.dirty.ratio": "0.1"}
    assert list(platform_topics(settings).items()) == list(from_apps.items())


def test_changelog_names_follow_the_app_id_prefix() -> None:
    assert changelog_topics(Settings(app_id_prefix="t42"))[:2] == ["t42-orders-orders-changelog",
                                                                   "t42-inventory-stock-changelog"]
