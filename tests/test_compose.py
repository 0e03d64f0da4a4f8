"""docker-compose.yml wires every service to the right broker, command and port.

No Docker needed: the file is parsed with PyYAML (anchors and ``<<`` merge keys
resolve as Compose resolves them) and checked against the service list the
code itself uses (``config.settings.SERVICES``).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from config.settings import SERVICES

COMPOSE_FILE = Path(__file__).resolve().parent.parent / "docker-compose.yml"

#: Processes that are not Faust services but must be deployed too.
SUPPORT_SERVICES = ("kafka", "mysql", "redis", "bootstrap", "upi-simulator", "mailsink")


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


@pytest.mark.parametrize("name", SERVICES)
def test_service_talks_to_the_kafka_service(services: dict, name: str) -> None:
    env = environment_of(services[name])
    broker = urlsplit(env.get("KAFKA_BROKER", ""))
    assert broker.scheme == "kafka", f"KAFKA_BROKER of {name} is {env.get('KAFKA_BROKER')!r}"
    assert broker.hostname == "kafka" and "kafka" in services
    assert broker.port == 9092
    assert env.get("BROKER_KIND") == "kafka", "Apache Kafka must not get the Tansu workarounds"


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
    for dependency in ("kafka", "mysql"):
        assert depends_on.get(dependency, {}).get("condition") == "service_healthy", dependency
        assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


def test_kafka_never_auto_creates_topics(services: dict) -> None:
    env = environment_of(services["kafka"])
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"
    assert env.get("KAFKA_PROCESS_ROLES") == "broker,controller", "single-node KRaft"


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
