# The two commands of the README: `make run` starts the platform, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The local Apache Kafka broker's jars: fetched once by Maven from dev/kafka/pom.xml into this cache
# (outside the repo), again only when the pom changes. The Python side reads the same variable.
KAFKA_LIBS ?= $(HOME)/.cache/megatron/kafka/libs
export KAFKA_LIBS
KAFKA_STAMP := $(KAFKA_LIBS)/.fetched
# `make run` with KAFKA_BROKER set uses that broker and needs neither Java nor Maven
RUN_BROKER := $(if $(KAFKA_BROKER),,$(KAFKA_STAMP))

.PHONY: run test unit install kafka clean bench chaos

$(STAMP): setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(KAFKA_STAMP): dev/kafka/pom.xml
	@java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || { echo "make: the local Kafka broker needs Java 17 or newer: apt-get install -y openjdk-17-jre-headless (or set KAFKA_BROKER to a running broker)" >&2; exit 1; }
	@command -v mvn >/dev/null || { echo "make: Maven fetches the local Kafka broker: apt-get install -y maven (or set KAFKA_BROKER to a running broker)" >&2; exit 1; }
	@echo "fetching Apache Kafka (dev/kafka/pom.xml) with Maven into $(KAFKA_LIBS) ..."
	rm -rf $(KAFKA_LIBS)
	mvn -q -B -f dev/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(KAFKA_LIBS)
	touch $@

install: $(STAMP)

kafka: $(KAFKA_STAMP)

run: $(STAMP) $(RUN_BROKER)
	$(PY) -m dev.run

test: $(STAMP) $(KAFKA_STAMP)
	$(PY) -m pytest -ra $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest -ra -m 'not integration' $(PYTEST_ARGS)

bench: $(STAMP) $(KAFKA_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# A fault schedule under load on a three-node Kafka cluster (README: "Chaos"); CHAOS_ARGS="--seed 2 --duration 120"
chaos: $(STAMP) $(KAFKA_STAMP)
	$(PY) -m chaos $(CHAOS_ARGS)

# Start from nothing: the mirror databases and carts of `make run` (where MySQL and Redis
# answer), then var/ (the broker's log, the tables, private MariaDB and Redis data, logs).
clean:
	test ! -x $(PY) || $(PY) -m dev.clean
	rm -rf var build *.egg-info
