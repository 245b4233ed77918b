# rethink-runtimed: the two commands a newcomer needs are `make demo` and `make test`.
SWIFT ?= swift
PYTHON ?= /usr/bin/python3
NODE ?= /usr/bin/node
BIN := $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

# make install: where things go (DESTDIR stages them for a package). CONFIGURATION=debug reuses the
# test build; the default is an optimised build with the Swift runtime linked in, so that the installed
# binaries need no toolchain.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/rethink-runtimed
DOCDIR ?= $(PREFIX)/share/doc/rethink-runtimed
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
CONFIGURATION ?= release
TEST_INSTALL_CONFIGURATION ?= debug
# The release flags are the ones every bench script builds with (scripts/lib/release-flags.sh).
RELEASE_FLAGS := $(shell bash -c '. scripts/lib/release-flags.sh && echo "$${release_flags[*]}"')
INSTALL_BUILD_FLAGS = -c $(CONFIGURATION) $(if $(filter release,$(CONFIGURATION)),$(RELEASE_FLAGS))
# The release build the measuring targets (bench-federation, soak) run: the one `make install` ships.
RELEASE_BUILD = $(SWIFT) build -c release $(RELEASE_FLAGS)

.PHONY: all build deps test test-swift test-stubkit test-interworking test-units test-systemd demo demo-federation bench bench-federation bench-network soak clean install uninstall

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Everything: the stub kit's tests (real stub processes) and the Swift suites (real sandboxed children,
# real sockets, a real daemon). Swift Testing runs the suites in parallel.
test: deps
	$(SWIFT) build --build-tests
	$(MAKE) test-units
	$(MAKE) test-stubkit
	$(MAKE) test-interworking
	$(MAKE) test-swift
	$(MAKE) test-systemd

# Bounded (40 min): a hung test fails the run naming the tests still under way (scripts/run-swift-tests.sh).
test-swift:
	@SWIFT="$(SWIFT)" bash scripts/run-swift-tests.sh 2400

test-stubkit:
	cd Tests/Fixtures/stubs && RETHINK_ECHO_STUB_BIN="$(BIN)/rethink-echo-stub" $(PYTHON) -m unittest -q test_stubkit test_hostile_probe
	$(NODE) --test Tests/Fixtures/js/test_stub_host.js

# The message-node and interworking stubs against real servers (nats-server, mosquitto, ngircd, prosody,
# sipp) started on 127.0.0.1, driven through real daemons' client sockets. Test modules run in parallel.
test-interworking:
	@cd Tests/Interworking && status=0; pids=""; \
	for module in test_*.py; do \
		RETHINK_RUNTIMED_BIN="$(BIN)/rethink-runtimed" $(PYTHON) -m unittest -q "$${module%.py}" \
			> "$${TMPDIR:-/tmp}/rethink-iw-$${module%.py}.$$$$.log" 2>&1 & pids="$$pids $$!:$${module%.py}"; \
	done; \
	for entry in $$pids; do \
		log="$${TMPDIR:-/tmp}/rethink-iw-$${entry#*:}.$$$$.log"; \
		if wait "$${entry%%:*}"; then echo "ok   $${entry#*:}: $$(grep -E "^(Ran|OK)" "$$log" | tr "\n" " ")"; \
		else status=1; echo "FAIL $${entry#*:}:"; cat "$$log"; fi; rm -f "$$log"; \
	done; exit $$status

# The unit files as systemd reads them (installed into a scratch root, pointing at the built binary).
test-units:
	@bash scripts/verify-units.sh "$(BIN)"

# Under a real systemd as PID 1 in a throwaway container: socket activation, STATUS, journal fields,
# hardening score, stop and crash recovery (Tests/systemd/service-test.sh).
# It installs the debug build the tests already made (TEST_INSTALL_CONFIGURATION=release: the optimised static one).
test-systemd:
	@CONFIGURATION=$(TEST_INSTALL_CONFIGURATION) bash Tests/systemd/service-test.sh "$(BIN)"

install:
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethink-runtimed
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethinkctl
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethink-echo-stub
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethink-spawn-helper
	$(SWIFT) build $(INSTALL_BUILD_FLAGS) --product rethink-fetch
	@PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" DATADIR="$(DATADIR)" DOCDIR="$(DOCDIR)" SYSCONFDIR="$(SYSCONFDIR)" \
		UNITDIR="$(UNITDIR)" DESTDIR="$(DESTDIR)" \
		bash scripts/install.sh install "$$($(SWIFT) build $(INSTALL_BUILD_FLAGS) --show-bin-path)"

uninstall:
	@PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" DATADIR="$(DATADIR)" DOCDIR="$(DOCDIR)" SYSCONFDIR="$(SYSCONFDIR)" \
		UNITDIR="$(UNITDIR)" DESTDIR="$(DESTDIR)" bash scripts/install.sh uninstall

# A message to a never-seen domain: its stub deployed on the fly, sandboxed, and the answer back.
demo: build
	@bash scripts/demo.sh "$(BIN)"

# Two domains on two hosts (network namespaces joined by a veth pair; both on 127.0.0.1 without root):
# alice@acme and bob@beta talk through each other's own NATS stubs, fetched on the fly from each other's
# site and verified, then beta's NATS node dies mid-stream (Tests/Interworking/test_federation.py).
demo-federation: build
	cd Tests/Interworking && RETHINK_DEMO=1 RETHINK_RUNTIMED_BIN="$(BIN)/rethink-runtimed" $(PYTHON) -m unittest -q test_federation

# Latency between two domains on two hosts and first contact with a stub fetched over HTTPS from the other
# host, against a bare NATS request and reply between the same hosts (docs/BENCHMARK.md, "Federation").
bench-federation: deps
	$(RELEASE_BUILD) --product rethink-runtimed
	$(RELEASE_BUILD) --product rethink-spawn-helper
	$(RELEASE_BUILD) --product rethink-fetch
	$(RELEASE_BUILD) --product rethinkctl
	cd Tests/Interworking && RETHINK_RUNTIMED_BIN="$$($(SWIFT) build -c release --show-bin-path)/rethink-runtimed" \
		$(PYTHON) -m unittest -q bench_federation

# Throughput and latency against a no-JSON relay baseline, in release mode (not part of `make test`).
bench: deps
	@bash scripts/bench.sh

# First contact with stubs fetched over HTTPS from a real nginx, and the cached redeploy (docs/BENCHMARK.md).
bench-network: deps
	@bash scripts/bench-network.sh

# SOAK_SECONDS (600) of mixed load on one release daemon: well-behaved clients whose every answer is booked,
# echo stubs killed at random, hostile peers; RSS every 10 s and a verdict (docs/BENCHMARK.md, Soak).
# Not part of `make test`. SOAK_SCRATCH_PATH: where the release build goes (.build).
SOAK_SECONDS ?= 600
SOAK_SCRATCH_PATH ?= .build
SOAK_BUILD = $(RELEASE_BUILD) --scratch-path "$(SOAK_SCRATCH_PATH)"

soak: deps
	$(SOAK_BUILD) --product rethink-runtimed
	$(SOAK_BUILD) --product rethink-echo-stub
	$(SOAK_BUILD) --product rethink-spawn-helper
	$(PYTHON) scripts/soak.py --seconds "$(SOAK_SECONDS)" --bin "$$($(SOAK_BUILD) --show-bin-path)"

clean:
	$(SWIFT) package clean
