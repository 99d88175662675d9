# Two commands matter: `make run` and `make test`. Both set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BUILD := build
ARCHIVE := $(BUILD)/orders-archive
RUN_OUT := $(BUILD)/orders-per-minute

# Parts outside PyPI's Python packages, fetched with the ordinary clients into a folder this Makefile owns:
# the Beam Flink job server's classpath, the Kafka broker's and Kafka Streams' from Maven Central
# (deps/*/pom.xml), and the Flink distribution from the apache-flink wheels. FLINK_VERSION must equal flink.version in
# deps/flink-job-server/pom.xml and FLINK_VERSION in runners/versions.py (what `kappa --version` reports,
# beside the Kafka version of deps/kafka-broker/pom.xml); tests/test_deps.py checks them.
DEPS := $(BUILD)/deps
FLINK_VERSION := 1.19.0
JOB_SERVER := $(DEPS)/flink-job-server/job-server.jar
KAFKA_LIB := $(DEPS)/kafka-broker/.copied
# Kafka Connect standalone (the broker's Kafka version) with Debezium's PostgreSQL connector.
CONNECT_LIB := $(DEPS)/kafka-connect/.copied
# A single-node OpenSearch: Maven Central's jars and the project's launcher (services/opensearch/).
OPENSEARCH_JAR := $(DEPS)/opensearch/launcher.jar
OPENSEARCH_SRC := $(wildcard services/opensearch/*.java)
# The seed's Kafka Streams topology, `make bench`'s streaming peer, compiled against its copied classpath.
KSTREAMS_JAR := $(DEPS)/kafka-streams/orders-per-minute.jar
KSTREAMS_SRC := $(wildcard benchmarks/kstreams/*.java)
FLINK_DIST := $(DEPS)/flink/.installed
MVN := mvn -q -B

.PHONY: setup deps run run-flink test bench clean kafka-up kafka-down flink-up flink-down pg-deps pg-up pg-down redis-deps redis-up redis-down cdc-up cdc-down opensearch-up opensearch-down

setup: $(INSTALLED)

deps: $(JOB_SERVER) $(KAFKA_LIB) $(CONNECT_LIB) $(OPENSEARCH_JAR) $(KSTREAMS_JAR) $(FLINK_DIST)

# Beam's gRPC servers listen on every interface: a patched class ahead of Beam's keeps them on loopback.
$(JOB_SERVER): deps/flink-job-server/pom.xml services/jvm.py services/grpc_loopback.py $(INSTALLED)
	rm -rf $(@D)/lib
	$(MVN) -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(@D))/lib
	$(BIN)/python -m kappa.services.grpc_loopback --lib $(@D)/lib --out $(@D)/grpc-loopback.jar
	$(BIN)/python -m kappa.services.jvm --lib $(@D)/lib --before $(@D)/grpc-loopback.jar \
		--main-class org.apache.beam.runners.flink.FlinkJobServerDriver --out $@

# A runtime classpath copied as it is: the Kafka broker's, Kafka Connect's, OpenSearch's, Kafka Streams'.
$(DEPS)/%/.copied: deps/%/pom.xml
	rm -rf $(@D)/lib
	$(MVN) -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(@D))/lib
	touch $@

$(KSTREAMS_JAR): $(DEPS)/kafka-streams/.copied $(KSTREAMS_SRC) benchmarks/kstreams/log4j2.properties
	rm -rf $(@D)/classes
	javac --release 17 -Xlint:all -Werror -cp '$(@D)/lib/*' -d $(@D)/classes $(KSTREAMS_SRC)
	cp benchmarks/kstreams/log4j2.properties $(@D)/classes/
	jar --create --file $@ -C $(@D)/classes .

$(OPENSEARCH_JAR): $(DEPS)/opensearch/.copied $(OPENSEARCH_SRC)
	rm -rf $(@D)/classes
	javac --release 17 -Xlint:all -Werror -cp '$(@D)/lib/*' -d $(@D)/classes $(OPENSEARCH_SRC)
	jar --create --file $@ -C $(@D)/classes .

# apache-flink pins an old apache-beam, so only the distribution is installed, apart from the venv.
$(FLINK_DIST): Makefile
	rm -rf $(@D)
	$(PYTHON) -m pip install --quiet --no-deps --target $(@D) \
		apache-flink==$(FLINK_VERSION) apache-flink-libraries==$(FLINK_VERSION)
	chmod +x $(@D)/pyflink/bin/*
	touch $@

kafka-up: $(INSTALLED) $(KAFKA_LIB)
	$(BIN)/python -m kappa.services.kafka_broker up --dir $(BUILD)/kafka

kafka-down: $(INSTALLED)
	$(BIN)/python -m kappa.services.kafka_broker down --dir $(BUILD)/kafka

# PostgreSQL 15's server from Debian's packages (its package also makes the `postgres` user the server
# runs as); kappa starts a cluster of its own (kappa.services.postgres), never the package's.
APT_INSTALL := apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
PG_SERVER := /usr/lib/postgresql/15/bin/postgres
$(PG_SERVER):
	$(APT_INSTALL) postgresql-15

pg-deps: $(PG_SERVER)

pg-up: $(INSTALLED) $(PG_SERVER)
	$(BIN)/python -m kappa.services.postgres up --dir $(BUILD)/postgres

pg-down: $(INSTALLED)
	$(BIN)/python -m kappa.services.postgres down --dir $(BUILD)/postgres

# Redis 7 from Debian's packages (it does not start by itself on install); kappa starts its own.
REDIS_SERVER := /usr/bin/redis-server
$(REDIS_SERVER):
	$(APT_INSTALL) redis-server

redis-deps: $(REDIS_SERVER)

redis-up: $(INSTALLED) $(REDIS_SERVER)
	$(BIN)/python -m kappa.services.redis_server up --dir $(BUILD)/redis

redis-down: $(INSTALLED)
	$(BIN)/python -m kappa.services.redis_server down --dir $(BUILD)/redis

# Debezium under Kafka Connect, capturing public.orders of `make pg-up`'s cluster into `make kafka-up`'s
# broker (topic shop.public.orders): run those two first.
cdc-up: $(INSTALLED) $(CONNECT_LIB)
	$(BIN)/python -m kappa.services.kafka_connect up --dir $(BUILD)/connect --postgres-dir $(BUILD)/postgres

cdc-down: $(INSTALLED)
	$(BIN)/python -m kappa.services.kafka_connect down --dir $(BUILD)/connect

opensearch-up: $(INSTALLED) $(OPENSEARCH_JAR)
	$(BIN)/python -m kappa.services.opensearch_node up --dir $(BUILD)/opensearch

opensearch-down: $(INSTALLED)
	$(BIN)/python -m kappa.services.opensearch_node down --dir $(BUILD)/opensearch

flink-up: $(INSTALLED) $(FLINK_DIST)
	$(BIN)/python -m kappa.services.flink_cluster up --dir $(BUILD)/flink

flink-down: $(INSTALLED)
	$(BIN)/python -m kappa.services.flink_cluster down --dir $(BUILD)/flink

$(INSTALLED): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# A day of order traffic as an Avro archive, backfilled by the reference pipeline on the DirectRunner family.
run: $(INSTALLED)
	$(BIN)/kappa generate orders --output $(ARCHIVE) --format avro --seed 7
	$(BIN)/kappa run orders-per-minute --input '$(ARCHIVE)/*.avro' --input-format avro \
		--output $(RUN_OUT) --mode batch --runner direct

# The streaming path end to end: Kafka and a Flink session cluster on free ports, stopped at the end.
run-flink: $(INSTALLED) deps
	$(BIN)/python -m kappa.runners.demo --workdir $(BUILD)/demo

test: $(INSTALLED) deps $(PG_SERVER) $(REDIS_SERVER)
	$(BIN)/pytest -q tests

# Every contender on the same seeded 1M-event archive, checked against each other, then fraud-scoring's,
# concurrent-viewers' and surge-pricing's at 1M and 4M (FRAUD_BENCH_FLAGS, e.g. "--payments 200000
# --repeat 1"; VIEWERS_BENCH_FLAGS, e.g. "--heartbeats 200000"; SURGE_BENCH_FLAGS, e.g. "--events
# 200000"); docs/benchmarks.md. The PyFlink peer runs in an environment of its own: apache-flink pins
# an apache-beam older than kappa's.
BENCH_FLAGS ?=
FRAUD_BENCH_FLAGS ?=
VIEWERS_BENCH_FLAGS ?=
SURGE_BENCH_FLAGS ?=
PYFLINK_VENV := $(BUILD)/bench/pyflink-venv
bench: $(INSTALLED) deps $(PYFLINK_VENV)/.installed
	PYTHONWARNINGS=ignore::FutureWarning $(BIN)/python -m kappa.benchmarks.run --workdir $(BUILD)/bench \
		--pyflink-python $(PYFLINK_VENV)/bin/python $(BENCH_FLAGS)
	PYTHONWARNINGS=ignore::FutureWarning $(BIN)/python -m kappa.benchmarks.fraud --workdir $(BUILD)/bench \
		$(FRAUD_BENCH_FLAGS)
	PYTHONWARNINGS=ignore::FutureWarning $(BIN)/python -m kappa.benchmarks.viewers --workdir $(BUILD)/bench \
		$(VIEWERS_BENCH_FLAGS)
	PYTHONWARNINGS=ignore::FutureWarning $(BIN)/python -m kappa.benchmarks.surge --workdir $(BUILD)/bench \
		$(SURGE_BENCH_FLAGS)

$(PYFLINK_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(PYFLINK_VENV)
	$(PYFLINK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYFLINK_VENV)/bin/python -m pip install --quiet apache-flink==$(FLINK_VERSION)
	touch $@

clean:
	rm -rf $(BUILD) $(VENV) *.egg-info
