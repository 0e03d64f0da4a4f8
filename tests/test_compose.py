"""docker-compose.yml wires every service to the right broker, command and port.

No Docker needed: the file is parsed with PyYAML (anchors and ``<<`` merge keys
resolve as Compose resolves them) and checked against the service list the
code itself uses (``config.settings.SERVICES``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from config.settings import SERVICES, Settings

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "docker-compose.yml"

#: The Kafka cluster: three KRaft nodes, each both broker and controller.
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")

#: Processes that are not Faust services but must be deployed too.
SUPPORT_SERVICES = KAFKA_NODES + ("mysql", "redis", "bootstrap", "upi-simulator", "mailsink")

#: Settings that no longer exist (Tansu is gone; Faust's own fetch handling is used).
REMOVED_SETTINGS = ("BROKER_KIND", "KAFKA_FETCH_MAX_WAIT_MS")


@pytest.fixture(scope="module")
def services() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        compose = yaml.safe_load(fh)
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), (
        "docker-compose.yml has no `services:` mapping"
    )
    return compose["services"]


def command_of(service: dict) -> list[str]:
    """The service's command as argv, whichever form (string or list) it is written in."""
    command = service.get("command")
    assert command, "service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: dict) -> dict[str, str]:
    """The service's environment as a mapping, whichever form (mapping or list) it is written in."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def bootstrap_hosts(url: str) -> list[str]:
    """``host:port`` entries of a ``kafka://a:9092;b:9092`` (or ``,``-separated) bootstrap URL."""
    scheme, sep, hosts = url.partition("://")
    assert sep and scheme == "kafka", f"KAFKA_BROKER is {url!r}, not a kafka:// URL"
    return [h.strip().rstrip("/") for h in re.split(r"[;,]", hosts) if h.strip()]


def option(argv: list[str], name: str) -> str:
    """Value of ``--name value`` or ``--name=value`` in argv."""
    for i, arg in enumerate(argv):
        if arg == name:
            assert i + 1 < len(argv), f"{name} has no value"
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from command {shlex.join(argv)!r}")


def test_the_six_services_are_the_expected_ones() -> None:
    # Guards the parametrization below: if SERVICES changes, this file must be revisited.
    assert SERVICES == ("gateway", "cart", "orders", "inventory", "payment", "notification")


@pytest.mark.parametrize("name", SERVICES + SUPPORT_SERVICES)
def test_service_is_defined(services: dict, name: str) -> None:
    assert name in services, f"docker-compose.yml defines no `{name}` service"


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_its_faust_worker(services: dict, name: str) -> None:
    argv = command_of(services[name])
    assert argv[:4] == ["faust", "-A", f"agents.{name}", "worker"], shlex.join(argv)


@pytest.mark.parametrize("name", SERVICES + ("bootstrap",))
def test_service_talks_to_every_kafka_node(services: dict, name: str) -> None:
    env = environment_of(services[name])
    hosts = bootstrap_hosts(env.get("KAFKA_BROKER", ""))
    assert hosts == [f"{node}:9092" for node in KAFKA_NODES], f"KAFKA_BROKER of {name} lists {hosts}"
    for node in KAFKA_NODES:
        # the bootstrap list names what each node advertises, so clients reach the same address
        advertised = environment_of(services[node]).get("KAFKA_ADVERTISED_LISTENERS", "")
        assert f"PLAINTEXT://{node}:9092" in advertised.split(","), f"{node} advertises {advertised!r}"


@pytest.mark.parametrize("name", SERVICES + ("bootstrap",))
def test_platform_replicates_every_topic_and_table(services: dict, name: str) -> None:
    env = environment_of(services[name])
    # three replicas, two in sync for acks=all: one broker can be down
    assert env.get("TOPIC_REPLICATION_FACTOR") == "3"
    assert env.get("TOPIC_MIN_INSYNC_REPLICAS") == "2"
    # a standby of every table: a failed worker's partitions resume without a changelog replay
    assert env.get("TABLE_STANDBY_REPLICAS") == "1"
    assert int(env["TOPIC_MIN_INSYNC_REPLICAS"]) < int(env["TOPIC_REPLICATION_FACTOR"]) <= len(KAFKA_NODES)


def test_project_processes_set_only_settings_the_project_reads(services: dict) -> None:
    # Settings ignores unknown variables, so a misspelt or stale one would silently keep a default.
    known = {field.upper() for field in Settings.model_fields}
    project = {name: s for name, s in services.items() if s.get("image") == services["gateway"].get("image")}
    assert set(SERVICES) | {"bootstrap"} <= set(project), sorted(project)
    for name, service in project.items():
        unknown = sorted(set(environment_of(service)) - known)
        assert not unknown, f"{name} sets {unknown}, which config/settings.py does not read"


def test_no_service_sets_a_removed_setting(services: dict) -> None:
    for name, service in services.items():
        env = environment_of(service)
        stale = [key for key in REMOVED_SETTINGS if key in env]
        assert not stale, f"{name} still sets {stale}: there is no Tansu any more"


@pytest.mark.parametrize("name", SERVICES)
def test_web_port_matches_the_service_url(services: dict, name: str) -> None:
    argv = command_of(services[name])
    web_port = int(option(argv, "--web-port"))
    # --web-host is the name other workers reach it by (table_route); WEB_BIND opens the port
    assert option(argv, "--web-host") == name, "table_route needs the worker's reachable name"
    assert services[name]["environment"].get("WEB_BIND") == "0.0.0.0", "other containers could not reach it"

    url_var = f"{name.upper()}_URL"
    # Every process reads every URL, so each must see the same value.
    for other, service in services.items():
        if other in SERVICES:
            url = urlsplit(environment_of(service).get(url_var, ""))
            assert url.hostname == name, f"{url_var} seen by {other} points at {url.hostname!r}"
            assert url.port == web_port, f"{url_var} seen by {other} has port {url.port}, worker listens on {web_port}"


@pytest.mark.parametrize("name", SERVICES)
def test_service_starts_after_bootstrap_with_its_own_data_volume(services: dict, name: str) -> None:
    service = services[name]
    depends_on = service.get("depends_on") or {}
    assert isinstance(depends_on, dict) and "bootstrap" in depends_on, f"{name} does not wait for bootstrap"
    assert depends_on["bootstrap"].get("condition") == "service_completed_successfully"

    assert environment_of(service).get("DATA_DIR") == "/data"
    mounts = [str(v).split(":") for v in service.get("volumes") or []]
    data_volumes = [m[0] for m in mounts if len(m) >= 2 and m[1] == "/data"]
    assert len(data_volumes) == 1, f"{name} has no volume on /data"
    others = {
        str(v).split(":")[0]
        for other, s in services.items()
        if other != name
        for v in s.get("volumes") or []
    }
    assert data_volumes[0] not in others, f"{name} shares its data volume with another service"


def test_only_the_gateway_is_published_to_the_host(services: dict) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"gateway"}
    assert [str(p) for p in services["gateway"]["ports"]] == ["8080:8080"]


def test_bootstrap_waits_for_healthy_kafka_and_mysql(services: dict) -> None:
    bootstrap = services["bootstrap"]
    assert command_of(bootstrap) == ["python", "-m", "dev.bootstrap"]
    depends_on = bootstrap.get("depends_on") or {}
    for dependency in KAFKA_NODES + ("mysql",):
        assert depends_on.get(dependency, {}).get("condition") == "service_healthy", dependency
        assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


@pytest.mark.parametrize("name", SERVICES)
def test_service_waits_for_every_healthy_kafka_node(services: dict, name: str) -> None:
    depends_on = services[name].get("depends_on") or {}
    for node in KAFKA_NODES:
        assert depends_on.get(node, {}).get("condition") == "service_healthy", f"{name} does not wait for {node}"


def test_kafka_is_a_three_node_kraft_cluster_of_the_4x_line(services: dict) -> None:
    nodes = sorted(name for name in services if name.startswith("kafka"))
    assert nodes == list(KAFKA_NODES), f"Kafka services are {nodes}"
    envs = {node: environment_of(services[node]) for node in KAFKA_NODES}
    for node, env in envs.items():
        assert str(services[node].get("image", "")).startswith("apache/kafka:4."), services[node].get("image")
        assert env.get("KAFKA_PROCESS_ROLES") == "broker,controller", f"{node}: combined KRaft roles"
        assert "healthcheck" in services[node], f"{node} has no healthcheck"
        assert "CONTROLLER" in env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "").split(","), node

    cluster_ids = {env.get("CLUSTER_ID") for env in envs.values()}
    assert len(cluster_ids) == 1 and None not in cluster_ids, f"cluster ids {cluster_ids}"
    node_ids = {node: env.get("KAFKA_NODE_ID") for node, env in envs.items()}
    assert len(set(node_ids.values())) == 3 and None not in node_ids.values(), f"node ids {node_ids}"

    expected_voters = {f"{node_ids[node]}@{node}:9093" for node in KAFKA_NODES}
    for node, env in envs.items():
        voters = set(env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").split(","))
        assert voters == expected_voters, f"{node}'s controller quorum is {sorted(voters)}"
        assert "CONTROLLER://:9093" in env.get("KAFKA_LISTENERS", "").split(","), node


@pytest.mark.parametrize("node", KAFKA_NODES)
def test_kafka_node_keeps_its_own_data(services: dict, node: str) -> None:
    env = environment_of(services[node])
    log_dir = env.get("KAFKA_LOG_DIRS")
    assert log_dir, f"{node} sets no KAFKA_LOG_DIRS"
    mounts = [str(v).split(":") for v in services[node].get("volumes") or []]
    data_volumes = [m[0] for m in mounts if len(m) >= 2 and m[1] == log_dir]
    assert len(data_volumes) == 1, f"{node} has no volume on {log_dir}"
    others = {
        str(v).split(":")[0]
        for other, s in services.items()
        if other != node
        for v in s.get("volumes") or []
    }
    assert data_volumes[0] not in others, f"{node} shares its data volume with another service"


@pytest.mark.parametrize("node", KAFKA_NODES)
def test_kafka_replicates_every_write_three_ways(services: dict, node: str) -> None:
    env = environment_of(services[node])
    assert env.get("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR") == "3"
    assert env.get("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR") == "3"
    assert env.get("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR") == "2"
    assert env.get("KAFKA_DEFAULT_REPLICATION_FACTOR") == "3"
    assert env.get("KAFKA_MIN_INSYNC_REPLICAS") == "2"


@pytest.mark.parametrize("node", KAFKA_NODES)
def test_kafka_never_auto_creates_topics(services: dict, node: str) -> None:
    env = environment_of(services[node])
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"


@pytest.mark.parametrize("node", KAFKA_NODES)
def test_kafka_keeps_the_catalog_forever(services: dict, node: str) -> None:
    # analysts replay the catalog topics from the start: no age-based deletion
    assert environment_of(services[node]).get("KAFKA_LOG_RETENTION_MS") == "-1"


def test_dockerfile_copies_every_package_the_project_installs() -> None:
    """The image installs with `pip install .`: a package folder not copied is a broken image."""
    root = Path(__file__).resolve().parent.parent
    setup = (root / "setup.cfg").read_text()
    include = setup.split("[options.packages.find]")[1].split("[")[0]
    packages = [line.strip().rstrip("*") for line in include.splitlines() if line.strip().endswith("*")]
    dockerfile = (root / "Dockerfile").read_text()
    assert packages, "setup.cfg lists the packages"
    for package in packages:
        assert f"COPY {package}/ {package}/" in dockerfile, f"Dockerfile does not copy {package}/"
