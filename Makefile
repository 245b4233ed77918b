# rethink-runtimed: the two commands a newcomer needs are `make demo` and `make test`.
SWIFT ?= swift
PYTHON ?= /usr/bin/python3
PREFIX ?= /usr/local
BIN := $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

.PHONY: all build deps test test-swift test-stubkit demo bench bench-network clean

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
	$(MAKE) test-swift

test-swift:
	$(SWIFT) test --skip-build

test-stubkit:
	cd Tests/Fixtures/stubs && RETHINK_ECHO_STUB_BIN="$(BIN)/rethink-echo-stub" $(PYTHON) -m unittest -q test_stubkit

# A message to a never-seen domain: its stub deployed on the fly, sandboxed, and the answer back.
demo: build
	@bash scripts/demo.sh "$(BIN)"

# Throughput and latency against a no-JSON relay baseline, in release mode (not part of `make test`).
bench: deps
	@bash scripts/bench.sh

# First contact with stubs fetched over HTTPS from a real nginx, and the cached redeploy (docs/BENCHMARK.md).
bench-network: deps
	@bash scripts/bench-network.sh

clean:
	$(SWIFT) package clean
