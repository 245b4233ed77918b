# rethink-runtimed: the two commands a newcomer needs are `make demo` and `make test`.
SWIFT ?= swift
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local
BIN := $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

.PHONY: all build deps test test-swift test-stubkit test-interworking demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Everything: the stub kit's tests (real stub processes) and the Swift suites (real sandboxed children,
# real sockets, a real daemon). Swift Testing runs the suites in parallel.
test: deps
	$(SWIFT) build --build-tests
	$(MAKE) test-stubkit
	$(MAKE) test-interworking
	$(MAKE) test-swift

test-swift:
	$(SWIFT) test --skip-build

test-stubkit:
	cd Tests/Fixtures/stubs && RETHINK_ECHO_STUB_BIN="$(BIN)/rethink-echo-stub" $(PYTHON) -m unittest -q test_stubkit

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

# A message to a never-seen domain: its stub deployed on the fly, sandboxed, and the answer back.
demo: build
	@bash scripts/demo.sh "$(BIN)"

# Throughput and latency against a no-JSON relay baseline, in release mode (not part of `make test`).
bench: deps
	@bash scripts/bench.sh

clean:
	$(SWIFT) package clean
